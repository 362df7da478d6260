//! Recognising a message we already hold.
//!
//! A payload id (where the mapping names one) identifies a message for
//! `id_retention_h`. Without one, a message is recognised by a hash of its
//! topic, payload and MQTT packet id, and only when the broker marks it as a
//! redelivery (DUP): a broker re-sends an unacknowledged message with the same
//! packet id, while a legitimately repeated barcode arrives as a new message.

use xxhash_rust::xxh3::xxh3_128;

/// How the writer recognises a repeat of this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The source's message id, scoped by the subscription's topic filter.
    SourceId { scope: String, id: String },
    /// Content hash; `redelivery` is the broker's DUP flag.
    Content { hash: u128, redelivery: bool },
    /// Made by dockside itself (a Modbus poll): never redelivered, so there
    /// is nothing to recognise and no key is kept.
    Local,
}

impl Identity {
    /// The key stored in `seen`, and whether it is an id key; None for
    /// records that need no dedupe.
    pub(crate) fn key(&self) -> Option<([u8; 16], bool)> {
        Some(match self {
            Identity::SourceId { scope, id } => {
                let mut buf = Vec::with_capacity(scope.len() + id.len() + 4);
                buf.extend_from_slice(b"id\0");
                buf.extend_from_slice(scope.as_bytes());
                buf.push(0);
                buf.extend_from_slice(id.as_bytes());
                (xxh3_128(&buf).to_be_bytes(), true)
            }
            Identity::Content { hash, .. } => (hash.to_be_bytes(), false),
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
