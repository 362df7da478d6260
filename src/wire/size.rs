//! Bytes on the wire against the JSON that came in, for WMS scans like the
//! example config's `wms/scans` subscription receives. Sizes are exact, so
//! this is a test rather than a bench.

use super::*;
use crate::domain::{EventBody, ScanAction};

const EPOCH: &str = "00112233445566778899aabbccddeeff";

/// `n` WMS scan messages as JSON, and the batch of events they became: four
/// lines per order, eight handhelds, two waves, a scan every ~0.35 s,
/// distinct barcodes.
fn wms_scans(n: usize) -> (Vec<String>, Batch) {
    let mut jsons = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    for i in 0..n as i64 {
        let msg_id = format!("m-{:06}", 123 + i);
        let device = format!("HS-{:02}", 1 + (6 + i * 3) % 8);
        let barcode = (5_012_345_678_900 + i * 37).to_string();
        let order = format!("SO-{}", 100_234 + i / 4);
        let wave = if i % 100 < 60 { "W-12" } else { "W-13" };
        let line = (1 + (2 + i) % 4).to_string();
        let qty = 1 + (1 + i) % 3;
        let ts = 1_764_054_000_123 + i * 350 + (i * 13) % 97;
        jsons.push(format!(
            r#"{{"msg_id":"{msg_id}","device":"{device}","barcode":"{barcode}","action":"pick","order":"{order}","wave":"{wave}","line":"{line}","qty":{qty},"ts":{ts}}}"#
        ));
        events.push(BatchEvent {
            source_topic: "wms/scans".into(),
            source_id: Some(msg_id),
            received_at: ts + 20 + (i * 7) % 30,
            body: EventBody::Scan {
                scanner: device,
                code: barcode,
                action: ScanAction::Pick,
                order: Some(order),
                wave: Some(wave.into()),
                line: Some(line),
                qty: Some(qty),
                at: ts,
            },
        });
    }
    let batch = Batch {
        site: "DC1".into(),
        epoch: EPOCH.into(),
        first_seq: 1_000_001,
        events,
    };
    (jsons, batch)
}

/// (wire bytes of the whole batch, JSON bytes of its messages).
fn sizes(n: usize) -> (usize, usize) {
    let (jsons, batch) = wms_scans(n);
    let wire = encode(&Message::Batch(batch.clone())).expect("encodes");
    assert_eq!(decode(&wire), Ok(Message::Batch(batch)));
    (wire.len(), jsons.iter().map(String::len).sum())
}

#[test]
fn the_sample_is_the_typical_wms_scan() {
    let (jsons, _) = wms_scans(1);
    assert_eq!(
        jsons[0],
        r#"{"msg_id":"m-000123","device":"HS-07","barcode":"5012345678900","action":"pick","order":"SO-100234","wave":"W-12","line":"3","qty":2,"ts":1764054000123}"#
    );
}

#[test]
fn a_batch_of_wms_scans_is_under_40_percent_of_their_json() {
    for n in [10, 100, 1_000] {
        let (wire, json) = sizes(n);
        let ratio = wire as f64 / json as f64;
        assert!(
            ratio < 0.4,
            "{n} scans: {wire} wire bytes for {json} JSON bytes ({ratio:.3})"
        );
    }
}
