//! Properties over arbitrary messages and arbitrary bytes.

use proptest::prelude::*;

use super::*;
use crate::domain::{EventBody, ScanAction};

/// Strings that repeat (so batches share table entries) or anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["HS-07", "SO-100234", "W-12", "3", "wms/scans", ""])
            .prop_map(String::from),
        any::<String>(),
    ]
}

fn time() -> impl Strategy<Value = i64> {
    prop_oneof![
        1_764_054_000_000i64..1_764_060_000_000,
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
    ]
}

fn epoch() -> impl Strategy<Value = String> {
    any::<[u8; 16]>().prop_map(|b| b.iter().map(|b| format!("{b:02x}")).collect())
}

fn action() -> impl Strategy<Value = ScanAction> {
    prop::sample::select(ScanAction::ALL.to_vec())
}

fn body() -> impl Strategy<Value = EventBody> {
    let opt = || prop::option::of(text());
    prop_oneof![
        (
            (text(), text(), action()),
            (opt(), opt(), opt()),
            prop::option::of(any::<i64>()),
            time()
        )
            .prop_map(|((scanner, code, action), (order, wave, line), qty, at)| {
                EventBody::Scan {
                    scanner,
                    code,
                    action,
                    order,
                    wave,
                    line,
                    qty,
                    at,
                }
            }),
        (
            text(),
            (opt(), opt(), opt()),
            prop::option::of(any::<i64>()),
            time()
        )
            .prop_map(|(order, (line, wave, scanner), qty, at)| {
                EventBody::PickComplete {
                    order,
                    line,
                    wave,
                    qty,
                    scanner,
                    at,
                }
            }),
        (text(), time()).prop_map(|(wave, at)| EventBody::WaveReleased { wave, at }),
        (text(), text(), time()).prop_map(|(order, status, at)| EventBody::OrderStatus {
            order,
            status,
            at
        }),
        (text(), any::<i64>(), opt(), time()).prop_map(|(sku, qty, zone, at)| {
            EventBody::InventorySnapshot { sku, qty, zone, at }
        }),
        (text(), any::<i64>(), time()).prop_map(|(sku, qty, at)| EventBody::InventoryDelta {
            sku,
            qty,
            at
        }),
    ]
}

fn batch_event() -> impl Strategy<Value = BatchEvent> {
    (text(), prop::option::of(text()), time(), body()).prop_map(
        |(source_topic, source_id, received_at, body)| BatchEvent {
            source_topic,
            source_id,
            received_at,
            body,
        },
    )
}

pub(super) fn message() -> impl Strategy<Value = Message> {
    let seq = || prop_oneof![1i64..1_000_000, 1i64..=i64::MAX - 16];
    prop_oneof![
        (
            text(),
            epoch(),
            seq(),
            prop::collection::vec(batch_event(), 1..12)
        )
            .prop_map(|(site, epoch, first_seq, events)| Message::Batch(Batch {
                site,
                epoch,
                first_seq,
                events,
            })),
        (text(), epoch(), any::<i64>()).prop_map(|(site, epoch, upto_seq)| Message::Ack(Ack {
            site,
            epoch,
            upto_seq,
        })),
        (text(), any::<u64>(), time(), any::<String>()).prop_map(
            |(site, version, issued_at, body)| Message::Plan(Plan {
                site,
                version,
                issued_at,
                body,
            })
        ),
        (
            text(),
            any::<bool>(),
            time(),
            epoch(),
            any::<i64>(),
            any::<u64>()
        )
            .prop_map(|(site, online, at, epoch, last_seq, backlog)| {
                Message::Status(Status {
                    site,
                    online,
                    at,
                    epoch,
                    last_seq,
                    backlog,
                })
            }),
    ]
}

/// Whatever `decode` accepts is a message `encode` accepts and gives back.
fn accepted_messages_round_trip(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(msg) = decode(bytes) {
        let again = encode(&msg).map_err(|e| TestCaseError::fail(format!("{e}: {msg:?}")))?;
        prop_assert_eq!(decode(&again), Ok(msg));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips(msg in message()) {
        let bytes = encode(&msg).expect("a valid message encodes");
        prop_assert_eq!(bytes[0], VERSION);
        prop_assert_eq!(decode(&bytes), Ok(msg));
    }

    #[test]
    fn every_truncation_is_an_error(msg in message()) {
        let bytes = encode(&msg).expect("encodes");
        for len in 0..bytes.len() {
            let result = decode(&bytes[..len]);
            prop_assert!(
                matches!(result, Err(WireError::Truncated { .. })),
                "{len} of {} bytes gave {result:?}", bytes.len()
            );
        }
    }

    #[test]
    fn bytes_after_the_message_are_an_error(
        msg in message(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let mut bytes = encode(&msg).expect("encodes");
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(
            decode(&bytes),
            Err(WireError::TrailingBytes { count: extra.len() })
        );
    }

    #[test]
    fn another_version_is_refused_before_reading_further(
        msg in message(),
        version in any::<u8>().prop_filter("not ours", |v| *v != VERSION),
    ) {
        let mut bytes = encode(&msg).expect("encodes");
        bytes[0] = version;
        prop_assert_eq!(
            decode(&bytes),
            Err(WireError::UnsupportedVersion { found: version, supported: VERSION })
        );
        prop_assert_eq!(
            decode(&[version]),
            Err(WireError::UnsupportedVersion { found: version, supported: VERSION })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        kind in 0u8..6,
        tail in prop::collection::vec(any::<u8>(), 0..256),
        raw in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        // Mostly past the version and kind, where there is most to get wrong.
        let mut bytes = vec![VERSION, kind];
        bytes.extend_from_slice(&tail);
        accepted_messages_round_trip(&bytes)?;
        accepted_messages_round_trip(&raw)?;
    }

    #[test]
    fn damaged_messages_never_panic(
        msg in message(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode(&msg).expect("encodes");
        for (at, value) in damage {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        accepted_messages_round_trip(&bytes)?;
    }
}
