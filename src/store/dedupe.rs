//! Recognising a message we already hold.
//!
//! A payload id (where the mapping names one) identifies a message for
//! `id_retention_h`. Without one, a message is recognised by a hash of its
//! topic, payload and MQTT packet id, and only when the broker marks it as a
//! redelivery (DUP): a broker re-sends an unacknowledged message with the same
//! packet id, while a legitimately repeated barcode arrives as a new message.
//!
//! Keys keep the order messages come in where there is one, so a commit's new
//! keys land on a few index pages: an id key is the id itself after its
//! scope's hash (counters, ULIDs and time-ordered ids append), and a content
//! key starts with the packet id, which the broker hands out in turn. A
//! random key per message (the hashes kept in `seen` before schema 5)
//! dirtied an index page per message once the index outgrew the page cache.

use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

/// Longer ids are hashed, to keep keys small.
const MAX_ID_IN_KEY: usize = 64;

/// How the writer recognises a repeat of this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The source's message id, scoped by the subscription's topic filter.
    SourceId { scope: String, id: String },
    /// Content hash, with the packet id it was made with; `redelivery` is
    /// the broker's DUP flag.
    Content {
        hash: u128,
        packet_id: u16,
        redelivery: bool,
    },
    /// Made by dockside itself (a Modbus poll): never redelivered, so there
    /// is nothing to recognise and no key is kept.
    Local,
}

impl Identity {
    /// The key stored in `dedupe_keys`, and whether it is an id key; None
    /// for records that need no dedupe.
    pub(crate) fn key(&self) -> Option<(Vec<u8>, bool)> {
        Some(match self {
            Identity::SourceId { scope, id } => {
                // 'i' then the id itself, or 'h' then a hash of a long one.
                let long = id.len() > MAX_ID_IN_KEY;
                let mut key = Vec::with_capacity(9 + id.len().min(16));
                key.push(if long { b'h' } else { b'i' });
                key.extend_from_slice(&xxh3_64(scope.as_bytes()).to_be_bytes());
                if long {
                    key.extend_from_slice(&xxh3_128(id.as_bytes()).to_be_bytes());
                } else {
                    key.extend_from_slice(id.as_bytes());
                }
                (key, true)
            }
            Identity::Content {
                hash, packet_id, ..
            } => {
                let mut key = Vec::with_capacity(19);
                key.push(b'c');
                key.extend_from_slice(&packet_id.to_be_bytes());
                key.extend_from_slice(&hash.to_be_bytes());
                (key, false)
            }
            Identity::Local => return None,
        })
    }

    /// The key this message had in `seen`, the table before schema 5, which
    /// is still looked in until its keys expire.
    pub(crate) fn legacy_key(&self) -> Option<[u8; 16]> {
        Some(match self {
            Identity::SourceId { scope, id } => {
                let mut buf = Vec::with_capacity(scope.len() + id.len() + 4);
                buf.extend_from_slice(b"id\0");
                buf.extend_from_slice(scope.as_bytes());
                buf.push(0);
                buf.extend_from_slice(id.as_bytes());
                xxh3_128(&buf).to_be_bytes()
            }
            Identity::Content { hash, .. } => hash.to_be_bytes(),
            Identity::Local => return None,
        })
    }

    /// Whether a stored key means this message is a repeat.
    pub(crate) fn checks_seen(&self) -> bool {
        match self {
            Identity::SourceId { .. } => true,
            Identity::Content { redelivery, .. } => *redelivery,
            Identity::Local => false,
        }
    }
}

/// Hash of a message as the broker delivered it.
pub fn content_hash(topic: &str, payload: &[u8], packet_id: u16) -> u128 {
    let mut buf = Vec::with_capacity(topic.len() + payload.len() + 8);
    buf.extend_from_slice(b"ct\0");
    buf.extend_from_slice(topic.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&packet_id.to_be_bytes());
    buf.extend_from_slice(payload);
    xxh3_128(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_key(id: &str) -> Vec<u8> {
        let identity = Identity::SourceId {
            scope: "wms/#".into(),
            id: id.into(),
        };
        identity.key().expect("an id key").0
    }

    #[test]
    fn keys_follow_the_order_of_ids_and_packet_ids() {
        assert!(id_key("000123") < id_key("000124"));
        let content = |packet_id| Identity::Content {
            hash: u128::MAX - packet_id as u128, // against the packet id order
            packet_id,
            redelivery: false,
        };
        let (a, b) = (content(7).key().unwrap().0, content(8).key().unwrap().0);
        assert!(a < b);
    }

    #[test]
    fn long_ids_are_hashed_apart_from_short_ones() {
        let long = "x".repeat(MAX_ID_IN_KEY + 1);
        let k = id_key(&long);
        assert_eq!((k[0], k.len()), (b'h', 9 + 16));
        assert_eq!(id_key(&long[..MAX_ID_IN_KEY])[0], b'i');
        assert_eq!(k, id_key(&long), "stable");
        assert_ne!(k, id_key(&"y".repeat(MAX_ID_IN_KEY + 1)));
    }
}
