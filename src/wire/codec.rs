//! Between the public messages and their wire mirrors. The matches over
//! domain enums have no `_` arm on purpose: a new `EventBody` or `ScanAction`
//! variant does not compile until it has its wire variant in `format`.

use std::collections::HashMap;

use crate::domain::{EventBody, Millis, ScanAction};

use super::format::{
    StrRef, WireAck, WireBatch, WireBody, WireEvent, WireMessage, WirePlan, WireScanAction,
    WireStatus,
};
use super::message::{check_seq_range, Ack, Batch, BatchEvent, Message, Plan, Status};
use super::{epoch, WireError, VERSION};

/// The bytes of `msg`: the version byte, then the message. Refuses what
/// `decode` would not give back: an epoch that is not 32 lowercase hex
/// characters, an empty batch, seqs out of range.
pub fn encode(msg: &Message) -> Result<Vec<u8>, WireError> {
    let wire = to_wire(msg)?;
    postcard::to_extend(&wire, vec![VERSION]).map_err(WireError::Encode)
}

/// The message in `bytes`, which must hold exactly one. Never panics.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    let (&version, rest) = bytes.split_first().ok_or(WireError::Truncated { len: 0 })?;
    if version != VERSION {
        return Err(WireError::UnsupportedVersion {
            found: version,
            supported: VERSION,
        });
    }
    let (wire, trailing) = postcard::take_from_bytes::<WireMessage>(rest).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => WireError::Truncated { len: bytes.len() },
        other => WireError::Malformed(other),
    })?;
    if !trailing.is_empty() {
        return Err(WireError::TrailingBytes {
            count: trailing.len(),
        });
    }
    from_wire(wire)
}

fn to_wire(msg: &Message) -> Result<WireMessage<'_>, WireError> {
    Ok(match msg {
        Message::Batch(b) => {
            check_seq_range(b.first_seq, b.events.len())?;
            let mut strings = Interner::default();
            let mut previous: Millis = 0;
            let mut events = Vec::with_capacity(b.events.len());
            for e in &b.events {
                events.push(WireEvent {
                    source_topic: strings.add(&e.source_topic)?,
                    source_id: e.source_id.as_deref(),
                    received_delta: e.received_at.wrapping_sub(previous),
                    body: body_to_wire(&e.body, e.received_at, &mut strings)?,
                });
                previous = e.received_at;
            }
            WireMessage::Batch(WireBatch {
                site: &b.site,
                epoch: epoch::to_bytes(&b.epoch)?,
                first_seq: b.first_seq,
                strings: strings.table,
                events,
            })
        }
        Message::Ack(a) => WireMessage::Ack(WireAck {
            site: &a.site,
            epoch: epoch::to_bytes(&a.epoch)?,
            upto_seq: a.upto_seq,
        }),
        Message::Plan(p) => WireMessage::Plan(WirePlan {
            site: &p.site,
            version: p.version,
            issued_at: p.issued_at,
            body: &p.body,
        }),
        Message::Status(s) => WireMessage::Status(WireStatus {
            site: &s.site,
            online: s.online,
            at: s.at,
            epoch: epoch::to_bytes(&s.epoch)?,
            last_seq: s.last_seq,
            backlog: s.backlog,
        }),
    })
}

fn from_wire(wire: WireMessage<'_>) -> Result<Message, WireError> {
    Ok(match wire {
        WireMessage::Batch(b) => {
            check_seq_range(b.first_seq, b.events.len())?;
            let mut previous: Millis = 0;
            let mut events = Vec::with_capacity(b.events.len());
            for (index, e) in b.events.into_iter().enumerate() {
                let table = Table {
                    strings: &b.strings,
                    event: index,
                };
                let received_at = previous.wrapping_add(e.received_delta);
                events.push(BatchEvent {
                    source_topic: table.get(e.source_topic)?,
                    source_id: e.source_id.map(str::to_owned),
                    received_at,
                    body: body_from_wire(e.body, received_at, &table, index)?,
                });
                previous = received_at;
            }
            Message::Batch(Batch {
                site: b.site.to_owned(),
                epoch: epoch::to_hex(&b.epoch),
                first_seq: b.first_seq,
                events,
            })
        }
        WireMessage::Ack(a) => Message::Ack(Ack {
            site: a.site.to_owned(),
            epoch: epoch::to_hex(&a.epoch),
            upto_seq: a.upto_seq,
        }),
        WireMessage::Plan(p) => Message::Plan(Plan {
            site: p.site.to_owned(),
            version: p.version,
            issued_at: p.issued_at,
            body: p.body.to_owned(),
        }),
        WireMessage::Status(s) => Message::Status(Status {
            site: s.site.to_owned(),
            online: s.online,
            at: s.at,
            epoch: epoch::to_hex(&s.epoch),
            last_seq: s.last_seq,
            backlog: s.backlog,
        }),
    })
}

fn body_to_wire<'a>(
    body: &'a EventBody,
    received_at: Millis,
    strings: &mut Interner<'a>,
) -> Result<WireBody, WireError> {
    let at = |at: &Millis| at.wrapping_sub(received_at);
    Ok(match body {
        EventBody::Scan {
            scanner,
            code,
            action,
            order,
            wave,
            line,
            qty,
            at: when,
        } => WireBody::Scan {
            scanner: strings.add(scanner)?,
            code: strings.add(code)?,
            action: action_to_wire(*action),
            order: strings.add_opt(order)?,
            wave: strings.add_opt(wave)?,
            line: strings.add_opt(line)?,
            qty: *qty,
            at: at(when),
        },
        EventBody::PickComplete {
            order,
            line,
            wave,
            qty,
            scanner,
            at: when,
        } => WireBody::PickComplete {
            order: strings.add(order)?,
            line: strings.add_opt(line)?,
            wave: strings.add_opt(wave)?,
            qty: *qty,
            scanner: strings.add_opt(scanner)?,
            at: at(when),
        },
        EventBody::WaveReleased { wave, at: when } => WireBody::WaveReleased {
            wave: strings.add(wave)?,
            at: at(when),
        },
        EventBody::OrderStatus {
            order,
            status,
            at: when,
        } => WireBody::OrderStatus {
            order: strings.add(order)?,
            status: strings.add(status)?,
            at: at(when),
        },
        EventBody::DoorChanged { .. }
        | EventBody::DeviceOnline { .. }
        | EventBody::DeviceOffline { .. }
        | EventBody::InventorySnapshot { .. }
        | EventBody::InventoryDelta { .. }
        | EventBody::VehicleArrived { .. }
        | EventBody::Decision(_) => {
            WireBody::Json(serde_json::to_string(body).expect("event bodies always serialize"))
        }
    })
}

fn body_from_wire(
    body: WireBody,
    received_at: Millis,
    table: &Table<'_>,
    index: usize,
) -> Result<EventBody, WireError> {
    let at = |delta: i64| received_at.wrapping_add(delta);
    Ok(match body {
        WireBody::Scan {
            scanner,
            code,
            action,
            order,
            wave,
            line,
            qty,
            at: delta,
        } => EventBody::Scan {
            scanner: table.get(scanner)?,
            code: table.get(code)?,
            action: action_from_wire(action),
            order: table.get_opt(order)?,
            wave: table.get_opt(wave)?,
            line: table.get_opt(line)?,
            qty,
            at: at(delta),
        },
        WireBody::PickComplete {
            order,
            line,
            wave,
            qty,
            scanner,
            at: delta,
        } => EventBody::PickComplete {
            order: table.get(order)?,
            line: table.get_opt(line)?,
            wave: table.get_opt(wave)?,
            qty,
            scanner: table.get_opt(scanner)?,
            at: at(delta),
        },
        WireBody::WaveReleased { wave, at: delta } => EventBody::WaveReleased {
            wave: table.get(wave)?,
            at: at(delta),
        },
        WireBody::OrderStatus {
            order,
            status,
            at: delta,
        } => EventBody::OrderStatus {
            order: table.get(order)?,
            status: table.get(status)?,
            at: at(delta),
        },
        WireBody::Json(json) => {
            serde_json::from_str(&json).map_err(|e| WireError::BadJsonBody {
                event: index,
                why: e.to_string(),
            })?
        }
    })
}

fn action_to_wire(action: ScanAction) -> WireScanAction {
    match action {
        ScanAction::Pick => WireScanAction::Pick,
        ScanAction::Pack => WireScanAction::Pack,
        ScanAction::Stage => WireScanAction::Stage,
        ScanAction::Load => WireScanAction::Load,
        ScanAction::Receive => WireScanAction::Receive,
    }
}

fn action_from_wire(action: WireScanAction) -> ScanAction {
    match action {
        WireScanAction::Pick => ScanAction::Pick,
        WireScanAction::Pack => ScanAction::Pack,
        WireScanAction::Stage => ScanAction::Stage,
        WireScanAction::Load => ScanAction::Load,
        WireScanAction::Receive => ScanAction::Receive,
    }
}

/// Builds a batch's string table: each distinct string once, in order of first use.
#[derive(Default)]
struct Interner<'a> {
    index: HashMap<&'a str, StrRef>,
    table: Vec<&'a str>,
}

impl<'a> Interner<'a> {
    fn add(&mut self, s: &'a str) -> Result<StrRef, WireError> {
        if let Some(&r) = self.index.get(s) {
            return Ok(r);
        }
        let r = StrRef::try_from(self.table.len())
            .map_err(|_| WireError::TooManyStrings(self.table.len()))?;
        self.index.insert(s, r);
        self.table.push(s);
        Ok(r)
    }

    fn add_opt(&mut self, s: &'a Option<String>) -> Result<Option<StrRef>, WireError> {
        s.as_deref().map(|s| self.add(s)).transpose()
    }
}

/// A decoded batch's string table, as seen from one of its events.
struct Table<'t> {
    strings: &'t [&'t str],
    event: usize,
}

impl Table<'_> {
    fn get(&self, r: StrRef) -> Result<String, WireError> {
        usize::try_from(r)
            .ok()
            .and_then(|i| self.strings.get(i))
            .map(|s| (*s).to_owned())
            .ok_or(WireError::BadStringRef {
                event: self.event,
                reference: r,
                table_len: self.strings.len(),
            })
    }

    fn get_opt(&self, r: Option<StrRef>) -> Result<Option<String>, WireError> {
        r.map(|r| self.get(r)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH_HEX: &str = "00112233445566778899aabbccddeeff";

    fn bytes(hex: &str) -> Vec<u8> {
        let hex: String = hex.split_whitespace().collect();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// A batch of one `wave_released` event: string table `["a"]`, the
    /// event's wave refers to string `wave_ref`, first seq zigzag `seq_zz`.
    fn one_event_batch(seq_zz: &str, wave_ref: &str) -> Vec<u8> {
        bytes(&format!(
            "01 00 03444331 {EPOCH_HEX} {seq_zz} 01 0161 01 00 00 00 02 {wave_ref} 00"
        ))
    }

    #[test]
    fn decode_checks_what_postcard_cannot() {
        let ok = decode(&one_event_batch("52", "00")).expect("valid");
        let Message::Batch(batch) = ok else {
            panic!("a batch: {ok:?}")
        };
        assert_eq!((batch.first_seq, batch.last_seq()), (41, 41));
        assert_eq!(
            batch.events[0].body,
            EventBody::WaveReleased {
                wave: "a".into(),
                at: 0
            }
        );

        assert_eq!(
            decode(&one_event_batch("52", "01")),
            Err(WireError::BadStringRef {
                event: 0,
                reference: 1,
                table_len: 1
            })
        );
        assert_eq!(
            decode(&one_event_batch("00", "00")),
            Err(WireError::SeqRange {
                first_seq: 0,
                events: 1
            })
        );
        let empty = bytes(&format!("01 00 03444331 {EPOCH_HEX} 52 00 00"));
        assert_eq!(decode(&empty), Err(WireError::EmptyBatch));
        // The last seq would pass i64::MAX.
        let mut two = bytes(&format!(
            "01 00 03444331 {EPOCH_HEX} feffffffffffffffff01 01 0161 02"
        ));
        two.extend(bytes("00 00 00 02 00 00 00 00 00 02 00 00"));
        assert_eq!(
            decode(&two),
            Err(WireError::SeqRange {
                first_seq: i64::MAX,
                events: 2
            })
        );
    }

    #[test]
    fn door_device_inventory_and_decision_events_round_trip_as_json_bodies() {
        use crate::domain::door::DeviceError;
        use crate::domain::{DoorState, StoredEvent};
        let bodies = vec![
            EventBody::DoorChanged {
                door: "D01".into(),
                device: "plc-1".into(),
                from: Some(DoorState::Free),
                to: DoorState::Loading,
                signals: [("door_open".to_string(), true)].into_iter().collect(),
                at: 1_795_000_000_000,
            },
            EventBody::DeviceOffline {
                device: "plc-1".into(),
                error: DeviceError::exception(3, 2),
                last_good_read: Some(1_795_000_000_000),
                at: 1_795_000_000_100,
            },
            EventBody::DeviceOnline {
                device: "plc-1".into(),
                at: 1_795_000_000_200,
            },
            EventBody::InventorySnapshot {
                sku: "SKU-1".into(),
                qty: 12,
                zone: None,
                at: 1_795_000_000_210,
            },
            EventBody::InventoryDelta {
                sku: "SKU-1".into(),
                qty: -3,
                at: 1_795_000_000_220,
            },
            EventBody::Decision(crate::domain::Decision::OrderDeferralProposed {
                order: "SO-1".into(),
                from_departure: "D1".into(),
                to_departure: "D2".into(),
                stop: "north".into(),
                remaining_lines: 4,
                predicted_ready: 1_795_000_900_000,
                cutoff: 1_795_000_800_000,
                at: 1_795_000_000_230,
                inputs: crate::domain::decision::DecisionInputs {
                    plan_version: 3,
                    rates: vec![],
                },
            }),
            EventBody::Decision(crate::domain::Decision::CallVehicle {
                departure: "D1".into(),
                door: "D03".into(),
                planned_start: 1_795_000_900_000,
                reason: crate::domain::decision::CallReason::StartDue {
                    call_lead_ms: 900_000,
                },
                at: 1_795_000_000_240,
                plan_version: 3,
            }),
        ];
        let events: Vec<StoredEvent> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| StoredEvent {
                seq: 7 + i as i64,
                epoch: EPOCH_HEX.into(),
                source_topic: "modbus/plc-1".into(),
                source_id: None,
                received_at: 1_795_000_000_300 + i as i64,
                body,
            })
            .collect();
        let batch = Batch::from_stored("dc1", &events).expect("batch");
        let back = decode(&encode(&Message::Batch(batch)).expect("encodes")).expect("decodes");
        let Message::Batch(back) = back else {
            panic!("not a batch")
        };
        assert_eq!(back.into_stored(), events);
    }

    #[test]
    fn decode_refuses_unknown_kinds_and_bad_values() {
        // Message kind 4 does not exist (yet).
        assert!(matches!(
            decode(&bytes("01 04 00")),
            Err(WireError::Malformed(_))
        ));
        // Event kind 5 does not exist (yet).
        let unknown_event = bytes(&format!(
            "01 00 03444331 {EPOCH_HEX} 52 01 0161 01 00 00 00 05 00 00"
        ));
        assert!(matches!(
            decode(&unknown_event),
            Err(WireError::Malformed(_))
        ));
        // Kind 4 carries an event as JSON: `{}` is none.
        let bad_json = bytes(&format!(
            "01 00 03444331 {EPOCH_HEX} 52 01 0161 01 00 00 00 04 02 7b7d"
        ));
        assert!(matches!(
            decode(&bad_json),
            Err(WireError::BadJsonBody { event: 0, .. })
        ));
        // `online` is a bool: 2 is neither.
        let status = bytes(&format!("01 03 03444331 02 00 {EPOCH_HEX} 00 00"));
        assert!(matches!(decode(&status), Err(WireError::Malformed(_))));
        // Site is not UTF-8.
        assert!(matches!(
            decode(&bytes(&format!("01 01 01ff {EPOCH_HEX} 00"))),
            Err(WireError::Malformed(_))
        ));
        assert_eq!(decode(&[]), Err(WireError::Truncated { len: 0 }));
    }

    #[test]
    fn encode_refuses_what_decode_would_not_give_back() {
        let ack = |epoch: &str| {
            Message::Ack(Ack {
                site: "DC1".into(),
                epoch: epoch.into(),
                upto_seq: 1,
            })
        };
        assert!(encode(&ack(EPOCH_HEX)).is_ok());
        assert_eq!(encode(&ack("E1")), Err(WireError::BadEpoch("E1".into())));
        let status = Message::Status(Status {
            site: "DC1".into(),
            online: false,
            at: 0,
            epoch: EPOCH_HEX.to_uppercase(),
            last_seq: 0,
            backlog: 0,
        });
        assert_eq!(
            encode(&status),
            Err(WireError::BadEpoch(EPOCH_HEX.to_uppercase()))
        );
        let batch = |first_seq, events| {
            Message::Batch(Batch {
                site: "DC1".into(),
                epoch: EPOCH_HEX.into(),
                first_seq,
                events,
            })
        };
        assert_eq!(encode(&batch(1, vec![])), Err(WireError::EmptyBatch));
        let event = BatchEvent {
            source_topic: "wms/waves/released".into(),
            source_id: None,
            received_at: 0,
            body: EventBody::WaveReleased {
                wave: "W-1".into(),
                at: 0,
            },
        };
        assert_eq!(
            encode(&batch(-5, vec![event.clone()])),
            Err(WireError::SeqRange {
                first_seq: -5,
                events: 1
            })
        );
        assert_eq!(
            encode(&batch(i64::MAX, vec![event.clone(), event])),
            Err(WireError::SeqRange {
                first_seq: i64::MAX,
                events: 2
            })
        );
    }
}
