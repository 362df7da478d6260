//! Golden bytes: the encoding of every message kind, pinned. If one of these
//! fails, the wire format changed: old agents or centrals would misread it.
//! Add a new golden test for a new variant; never edit an existing one.

use super::*;
use crate::domain::{EventBody, ScanAction};

const EPOCH: &str = "00112233445566778899aabbccddeeff";
const T: i64 = 1_764_054_000_000; // 2025-11-25T07:00:00Z

fn bytes(pieces: &[&str]) -> Vec<u8> {
    let hex: String = pieces.concat();
    assert!(hex.len() % 2 == 0, "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `msg` encodes to exactly `pieces`, and those bytes decode to `msg`.
fn pinned(msg: Message, pieces: &[&str]) {
    let golden = bytes(pieces);
    let encoded = encode(&msg).expect("encodes");
    assert_eq!(
        encoded
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        pieces.concat()
    );
    assert_eq!(decode(&golden).expect("decodes"), msg);
}

#[test]
fn ack() {
    pinned(
        Message::Ack(Ack {
            site: "DC1".into(),
            epoch: EPOCH.into(),
            upto_seq: 1234,
        }),
        &[
            "01",                               // version
            "01",                               // Ack
            "03444331",                         // site "DC1"
            "00112233445566778899aabbccddeeff", // epoch, 16 bytes
            "a413",                             // upto_seq 1234
        ],
    );
}

#[test]
fn plan() {
    pinned(
        Message::Plan(Plan {
            site: "DC1".into(),
            version: 7,
            issued_at: T,
            body: r#"{"waves":[]}"#.into(),
        }),
        &[
            "01",                         // version
            "02",                         // Plan
            "03444331",                   // site
            "07",                         // version 7
            "8086ff9cd766",               // issued_at
            "0c7b227761766573223a5b5d7d", // body
        ],
    );
}

#[test]
fn status() {
    pinned(
        Message::Status(Status {
            site: "DC1".into(),
            online: true,
            at: T,
            epoch: EPOCH.into(),
            last_seq: 1234,
            backlog: 56,
        }),
        &[
            "01",                               // version
            "03",                               // Status
            "03444331",                         // site
            "01",                               // online
            "8086ff9cd766",                     // at
            "00112233445566778899aabbccddeeff", // epoch
            "a413",                             // last_seq 1234
            "38",                               // backlog 56
        ],
    );
}

/// One event of every kind; strings shared between events are sent once.
pub(super) fn batch_of_every_kind() -> Batch {
    let event = |topic: &str, id: Option<&str>, received_at: i64, body| BatchEvent {
        source_topic: topic.into(),
        source_id: id.map(Into::into),
        received_at,
        body,
    };
    Batch {
        site: "DC1".into(),
        epoch: EPOCH.into(),
        first_seq: 41,
        events: vec![
            event(
                "wms/scans",
                Some("m-000123"),
                T + 150,
                EventBody::Scan {
                    scanner: "HS-07".into(),
                    code: "5012345678900".into(),
                    action: ScanAction::Pick,
                    order: Some("SO-100234".into()),
                    wave: Some("W-12".into()),
                    line: Some("3".into()),
                    qty: Some(2),
                    at: T + 123,
                },
            ),
            event(
                "scanners/S12/pick",
                None,
                T + 400,
                EventBody::Scan {
                    scanner: "S12".into(),
                    code: "5012345678900".into(),
                    action: ScanAction::Pack,
                    order: None,
                    wave: None,
                    line: None,
                    qty: None,
                    at: T + 400,
                },
            ),
            event(
                "wms/picks/complete",
                Some("m-000124"),
                T + 1_000,
                EventBody::PickComplete {
                    order: "SO-100234".into(),
                    line: Some("3".into()),
                    wave: None,
                    qty: Some(2),
                    scanner: Some("HS-07".into()),
                    at: T + 990,
                },
            ),
            event(
                "wms/waves/released",
                Some("m-000125"),
                T + 2_000,
                EventBody::WaveReleased {
                    wave: "W-12".into(),
                    at: T + 1_990,
                },
            ),
            event(
                "wms/orders/status",
                Some("m-000126"),
                T + 2_500,
                EventBody::OrderStatus {
                    order: "SO-100234".into(),
                    status: "picked".into(),
                    at: T + 2_500,
                },
            ),
        ],
    }
}

pub(super) const BATCH_OF_EVERY_KIND: &[&str] = &[
    "01",                                     // version
    "00",                                     // Batch
    "03444331",                               // site
    "00112233445566778899aabbccddeeff",       // epoch
    "52",                                     // first_seq 41
    "0c",                                     // 12 strings
    "09776d732f7363616e73",                   // 0: "wms/scans"
    "0548532d3037",                           // 1: "HS-07"
    "0d35303132333435363738393030",           // 2: "5012345678900"
    "09534f2d313030323334",                   // 3: "SO-100234"
    "04572d3132",                             // 4: "W-12"
    "0133",                                   // 5: "3"
    "117363616e6e6572732f5331322f7069636b",   // 6: "scanners/S12/pick"
    "03533132",                               // 7: "S12"
    "12776d732f7069636b732f636f6d706c657465", // 8: "wms/picks/complete"
    "12776d732f77617665732f72656c6561736564", // 9: "wms/waves/released"
    "11776d732f6f72646572732f737461747573",   // 10: "wms/orders/status"
    "067069636b6564",                         // 11: "picked"
    "05",                                     // 5 events
    "0001086d2d303030313233ac88ff9cd766", // topic 0, source_id "m-000123", received_at T+150 (from 0)
    "00010200010301040105010435", // Scan: scanner 1, code 2, Pick, order 3, wave 4, line 5, qty 2, at -27
    "0600f403",                   // topic 6, no source_id, +250 ms
    "000702010000000000",         // Scan: scanner 7, code 2, Pack, no order/wave/line/qty, at +0
    "0801086d2d303030313234b009", // topic 8, "m-000124", +600 ms
    "01030105000104010113", // PickComplete: order 3, line 5, no wave, qty 2, scanner 1, at -10
    "0901086d2d303030313235d00f", // topic 9, "m-000125", +1000 ms
    "020413",               // WaveReleased: wave 4, at -10
    "0a01086d2d303030313236e807", // topic 10, "m-000126", +500 ms
    "03030b00",             // OrderStatus: order 3, status 11, at +0
];

#[test]
fn batch_with_every_event_kind() {
    pinned(Message::Batch(batch_of_every_kind()), BATCH_OF_EVERY_KIND);
}
