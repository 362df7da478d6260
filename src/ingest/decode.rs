//! Payload decoders: bytes from a subscription into a typed event, or the
//! reason it cannot be one. Pure: no I/O, `received_at` is an argument.

use serde_json::Value;

use crate::config::{EventKind, FieldMapping, PayloadFormat, Subscription};
use crate::domain::{time, EventBody, Millis, ScanAction};

/// A payload that decoded into an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub body: EventBody,
    /// The source's own message id, when the mapping names one.
    pub source_id: Option<String>,
}

/// Why a payload was rejected; stored with the raw bytes as a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("payload is {len} bytes, over store.max_payload_bytes = {max}")]
    Oversized { len: usize, max: usize },
    #[error("payload is not valid UTF-8 (at byte {0})")]
    NotUtf8(usize),
    #[error("payload is not valid JSON: {0}")]
    BadJson(String),
    #[error("payload is JSON but not an object")]
    NotObject,
    #[error("field `{field}` (at {pointer}) is missing")]
    Missing {
        field: &'static str,
        pointer: String,
    },
    #[error("field `{field}` (at {pointer}) {problem}")]
    Mistyped {
        field: &'static str,
        pointer: String,
        problem: String,
    },
    #[error("barcode is empty")]
    EmptyBarcode,
    #[error("barcode contains control characters")]
    ControlChars,
    #[error("no subscription matches topic `{0}`")]
    NoSubscription(String),
    #[error("payload is not a planner decision: {0}")]
    NotADecision(String),
}

/// Decode one message of `sub` received on `topic`.
pub fn decode(
    sub: &Subscription,
    topic: &str,
    payload: &[u8],
    received_at: Millis,
    max_payload: usize,
) -> Result<Decoded, Rejected> {
    if payload.len() > max_payload {
        return Err(Rejected::Oversized {
            len: payload.len(),
            max: max_payload,
        });
    }
    let text = std::str::from_utf8(payload).map_err(|e| Rejected::NotUtf8(e.valid_up_to()))?;
    match sub.format {
        PayloadFormat::Text => decode_text(sub, topic, text, received_at),
        PayloadFormat::Json => decode_json(sub, text, received_at),
    }
}

fn decode_text(
    sub: &Subscription,
    topic: &str,
    text: &str,
    received_at: Millis,
) -> Result<Decoded, Rejected> {
    let code = text.trim();
    if code.is_empty() {
        return Err(Rejected::EmptyBarcode);
    }
    if code.chars().any(char::is_control) {
        return Err(Rejected::ControlChars);
    }
    Ok(Decoded {
        body: EventBody::Scan {
            scanner: scanner_from_topic(&sub.topic, topic),
            code: code.to_owned(),
            action: sub
                .action
                .expect("validated config: text subscriptions have an action"),
            order: None,
            wave: None,
            line: None,
            qty: None,
            at: received_at,
        },
        source_id: None,
    })
}

/// A text scanner's id: the topic level matched by the filter's single `+`
/// (`scanners/+/scan` on `scanners/S12/scan` gives `S12`), else the topic.
fn scanner_from_topic(filter: &str, topic: &str) -> String {
    let levels: Vec<&str> = filter.split('/').collect();
    if levels.iter().filter(|l| **l == "+").count() == 1 {
        let pos = levels.iter().position(|l| *l == "+").expect("counted one");
        if let Some(level) = topic.split('/').nth(pos) {
            if !level.is_empty() {
                return level.to_owned();
            }
        }
    }
    topic.to_owned()
}

struct Fields<'a> {
    root: &'a Value,
    mapping: &'a FieldMapping,
}

impl Fields<'_> {
    fn get(&self, field: &'static str) -> Option<(&Value, &str)> {
        let pointer = self.mapping.pointer(field)?;
        match self.root.pointer(pointer) {
            None | Some(Value::Null) => None,
            Some(v) => Some((v, pointer)),
        }
    }

    fn missing(&self, field: &'static str) -> Rejected {
        let pointer = self.mapping.pointer(field);
        Rejected::Missing {
            field,
            pointer: pointer.unwrap_or_default().to_owned(),
        }
    }

    /// An identifier: a non-empty string, or an integer (written in decimal).
    fn ident(&self, field: &'static str) -> Result<Option<String>, Rejected> {
        let Some((v, pointer)) = self.get(field) else {
            return Ok(None);
        };
        let s = match v {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            other => {
                return Err(mistyped(
                    field,
                    pointer,
                    format!(
                        "should be a string or an integer, found {}",
                        type_name(other)
                    ),
                ))
            }
        };
        if s.is_empty() {
            return Err(mistyped(field, pointer, "is an empty string".into()));
        }
        if s.chars().any(char::is_control) {
            return Err(mistyped(
                field,
                pointer,
                "contains control characters".into(),
            ));
        }
        Ok(Some(s))
    }

    fn required(&self, field: &'static str) -> Result<String, Rejected> {
        self.ident(field)?.ok_or_else(|| self.missing(field))
    }

    fn qty(&self) -> Result<Option<i64>, Rejected> {
        let Some((v, pointer)) = self.get("qty") else {
            return Ok(None);
        };
        match v.as_i64() {
            Some(q) if q >= 0 => Ok(Some(q)),
            _ => Err(mistyped(
                "qty",
                pointer,
                format!("should be a non-negative integer, found {}", short(v)),
            )),
        }
    }

    /// A required quantity that may be negative (a stock change).
    fn signed_qty(&self) -> Result<i64, Rejected> {
        let (v, pointer) = self.get("qty").ok_or_else(|| self.missing("qty"))?;
        v.as_i64().ok_or_else(|| {
            mistyped(
                "qty",
                pointer,
                format!("should be an integer, found {}", short(v)),
            )
        })
    }

    /// Milliseconds since the epoch as an integer, or an RFC 3339 string.
    fn timestamp(&self, received_at: Millis) -> Result<Millis, Rejected> {
        let Some((v, pointer)) = self.get("timestamp") else {
            return Ok(received_at);
        };
        let at = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => time::parse_rfc3339(s),
            _ => None,
        };
        at.ok_or_else(|| {
            mistyped(
                "timestamp",
                pointer,
                format!(
                    "should be integer milliseconds since 1970 or an RFC 3339 time, found {}",
                    short(v)
                ),
            )
        })
    }
}

fn mistyped(field: &'static str, pointer: &str, problem: String) -> Rejected {
    Rejected::Mistyped {
        field,
        pointer: pointer.to_owned(),
        problem,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value for an error message, cut to a readable length.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        let cut = (0..=40).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s
    }
}

fn decode_json(sub: &Subscription, text: &str, received_at: Millis) -> Result<Decoded, Rejected> {
    let root: Value = serde_json::from_str(text).map_err(|e| Rejected::BadJson(e.to_string()))?;
    if !root.is_object() {
        return Err(Rejected::NotObject);
    }
    let Some(mapping) = sub.mapping.as_ref() else {
        // Validated config: only decisions come without a mapping.
        return decode_decision(root);
    };
    let f = Fields {
        root: &root,
        mapping,
    };
    let source_id = f.ident("id")?;
    let at = f.timestamp(received_at)?;
    let body = match sub.kind {
        EventKind::Scan => {
            let action = match sub.action {
                Some(a) => a,
                None => {
                    let (v, pointer) = f.get("action").ok_or_else(|| f.missing("action"))?;
                    v.as_str().and_then(ScanAction::parse).ok_or_else(|| {
                        mistyped(
                            "action",
                            pointer,
                            format!(
                                "should be one of pick, pack, stage, load, receive, found {}",
                                short(v)
                            ),
                        )
                    })?
                }
            };
            EventBody::Scan {
                scanner: f.required("scanner")?,
                code: f.required("code")?,
                action,
                order: f.ident("order")?,
                wave: f.ident("wave")?,
                line: f.ident("line")?,
                qty: f.qty()?,
                at,
            }
        }
        EventKind::PickComplete => EventBody::PickComplete {
            order: f.required("order")?,
            line: f.ident("line")?,
            wave: f.ident("wave")?,
            qty: f.qty()?,
            scanner: f.ident("scanner")?,
            at,
        },
        EventKind::WaveReleased => EventBody::WaveReleased {
            wave: f.required("wave")?,
            at,
        },
        EventKind::OrderStatus => EventBody::OrderStatus {
            order: f.required("order")?,
            status: f.required("status")?,
            at,
        },
        EventKind::InventorySnapshot => EventBody::InventorySnapshot {
            sku: f.required("sku")?,
            qty: f.qty()?.ok_or_else(|| f.missing("qty"))?,
            zone: f.ident("zone")?,
            at,
        },
        EventKind::InventoryDelta => EventBody::InventoryDelta {
            sku: f.required("sku")?,
            qty: f.signed_qty()?,
            at,
        },
        EventKind::VehicleArrived => EventBody::VehicleArrived {
            departure: f.required("departure")?,
            at,
        },
        EventKind::Decision => {
            let decision = serde_json::from_value(root.clone())
                .map_err(|e| Rejected::NotADecision(e.to_string()))?;
            EventBody::Decision(decision)
        }
    };
    Ok(Decoded { body, source_id })
}

/// A planner decision without a mapping: the whole payload, as the planner
/// publishes it on `{prefix}/{site}/decisions/{kind}`.
fn decode_decision(root: Value) -> Result<Decoded, Rejected> {
    let decision =
        serde_json::from_value(root).map_err(|e| Rejected::NotADecision(e.to_string()))?;
    Ok(Decoded {
        body: EventBody::Decision(decision),
        source_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json_sub(kind: EventKind) -> Subscription {
        Subscription {
            topic: "wms/+/events".into(),
            qos: 1,
            format: PayloadFormat::Json,
            kind,
            action: None,
            mapping: Some(FieldMapping {
                id: Some("/id".into()),
                scanner: Some("/dev".into()),
                code: Some("/code".into()),
                action: Some("/act".into()),
                order: Some("/o/id".into()),
                wave: Some("/wave".into()),
                line: Some("/line".into()),
                qty: Some("/qty".into()),
                status: Some("/status".into()),
                sku: Some("/sku".into()),
                zone: Some("/zone".into()),
                departure: Some("/dep".into()),
                timestamp: Some("/ts".into()),
            }),
        }
    }

    fn text_sub() -> Subscription {
        Subscription {
            topic: "scanners/+/scan".into(),
            qos: 1,
            format: PayloadFormat::Text,
            kind: EventKind::Scan,
            action: Some(ScanAction::Pack),
            mapping: None,
        }
    }

    #[test]
    fn json_scan_with_all_fields() {
        let p = br#"{"id":"m-1","dev":"S1","code":"0123","act":"pick","o":{"id":42},"wave":"W1","line":"3","qty":2,"ts":"2026-11-25T08:00:00Z"}"#;
        let d = decode(&json_sub(EventKind::Scan), "wms/a/events", p, 5, 1024).expect("decodes");
        assert_eq!(d.source_id.as_deref(), Some("m-1"));
        assert_eq!(
            d.body,
            EventBody::Scan {
                scanner: "S1".into(),
                code: "0123".into(),
                action: ScanAction::Pick,
                order: Some("42".into()),
                wave: Some("W1".into()),
                line: Some("3".into()),
                qty: Some(2),
                at: time::parse_rfc3339("2026-11-25T08:00:00Z").expect("valid"),
            }
        );
    }

    #[test]
    fn text_scan_takes_scanner_from_the_wildcard_level() {
        let d = decode(
            &text_sub(),
            "scanners/S7/scan",
            b" 5012345678900\n",
            99,
            1024,
        )
        .expect("decodes");
        assert_eq!(
            d.body,
            EventBody::Scan {
                scanner: "S7".into(),
                code: "5012345678900".into(),
                action: ScanAction::Pack,
                order: None,
                wave: None,
                line: None,
                qty: None,
                at: 99,
            }
        );
    }

    #[test]
    fn rejections_name_the_problem() {
        let sub = json_sub(EventKind::Scan);
        let reason = |p: &[u8]| {
            decode(&sub, "t", p, 0, 64)
                .expect_err("rejected")
                .to_string()
        };
        assert!(reason(b"{").contains("not valid JSON"));
        assert!(reason(b"[1]").contains("not an object"));
        assert!(reason(br#"{"dev":"S","act":"pick"}"#).contains("`code` (at /code) is missing"));
        assert!(reason(br#"{"dev":"S","code":"c","act":"fly"}"#).contains("should be one of pick"));
        assert!(reason(br#"{"dev":"S","code":"c","act":"pick","qty":-1}"#).contains("non-negative"));
        assert!(reason(br#"{"dev":"S","code":"c","act":"pick","ts":true}"#).contains("RFC 3339"));
        assert!(reason(br#"{"dev":{},"code":"c","act":"pick"}"#).contains("found an object"));
        assert!(reason(&[0xff, 0xfe]).contains("UTF-8"));
        assert!(reason(&[b' '; 65]).contains("over store.max_payload_bytes = 64"));
        let t = text_sub();
        assert_eq!(
            decode(&t, "scanners/a/scan", b"  ", 0, 64),
            Err(Rejected::EmptyBarcode)
        );
        assert_eq!(
            decode(&t, "scanners/a/scan", b"a\x07b", 0, 64),
            Err(Rejected::ControlChars)
        );
    }

    #[test]
    fn other_kinds_decode() {
        let d = decode(
            &json_sub(EventKind::OrderStatus),
            "t",
            br#"{"o":{"id":"A"},"status":"shipped","ts":7}"#,
            0,
            1024,
        )
        .expect("decodes");
        assert_eq!(
            d.body,
            EventBody::OrderStatus {
                order: "A".into(),
                status: "shipped".into(),
                at: 7
            }
        );
        let d = decode(
            &json_sub(EventKind::WaveReleased),
            "t",
            br#"{"wave":"W9"}"#,
            3,
            1024,
        )
        .expect("decodes");
        assert_eq!(
            d.body,
            EventBody::WaveReleased {
                wave: "W9".into(),
                at: 3
            }
        );
    }

    const ALL_KINDS: [EventKind; 8] = [
        EventKind::Scan,
        EventKind::PickComplete,
        EventKind::WaveReleased,
        EventKind::OrderStatus,
        EventKind::InventorySnapshot,
        EventKind::InventoryDelta,
        EventKind::VehicleArrived,
        EventKind::Decision,
    ];

    #[test]
    fn a_vehicle_arrival_names_its_departure() {
        let sub = json_sub(EventKind::VehicleArrived);
        let d = decode(&sub, "t", br#"{"dep":"DEP-0900","ts":11}"#, 0, 1024).expect("decodes");
        assert_eq!(
            d.body,
            EventBody::VehicleArrived {
                departure: "DEP-0900".into(),
                at: 11
            }
        );
        let err = decode(&sub, "t", br#"{"ts":11}"#, 0, 1024).expect_err("no departure");
        assert!(
            err.to_string().contains("`departure` (at /dep) is missing"),
            "{err}"
        );
    }

    #[test]
    fn inventory_events_decode_and_a_snapshot_is_never_negative() {
        let snap = json_sub(EventKind::InventorySnapshot);
        let d = decode(
            &snap,
            "t",
            br#"{"sku":"SKU-9","qty":120,"zone":"chill","ts":4}"#,
            0,
            1024,
        )
        .expect("decodes");
        assert_eq!(
            d.body,
            EventBody::InventorySnapshot {
                sku: "SKU-9".into(),
                qty: 120,
                zone: Some("chill".into()),
                at: 4
            }
        );
        let err =
            decode(&snap, "t", br#"{"sku":"SKU-9","qty":-1}"#, 0, 1024).expect_err("negative");
        assert!(err.to_string().contains("non-negative"), "{err}");
        let err = decode(&snap, "t", br#"{"sku":"SKU-9"}"#, 0, 1024).expect_err("no qty");
        assert!(
            err.to_string().contains("`qty` (at /qty) is missing"),
            "{err}"
        );
        let d = decode(
            &json_sub(EventKind::InventoryDelta),
            "t",
            br#"{"sku":"SKU-9","qty":-4}"#,
            7,
            1024,
        )
        .expect("decodes");
        assert_eq!(
            d.body,
            EventBody::InventoryDelta {
                sku: "SKU-9".into(),
                qty: -4,
                at: 7
            }
        );
    }

    #[test]
    fn a_decision_is_the_whole_payload() {
        let sub = Subscription {
            mapping: None,
            ..json_sub(EventKind::Decision)
        };
        let payload = br#"{"kind":"departure_at_risk","departure":"D1","status":"raised","probability":0.9,"slack_ms":-600000,"predicted_ready":20,"cutoff":10,"reason":{"cause":"loading","lines":4},"at":5,"inputs":{"plan_version":3,"rates":[]}}"#;
        let d = decode(&sub, "t", payload, 0, 4096).expect("decodes");
        assert_eq!(d.body.kind(), "departure_at_risk");
        assert_eq!(d.body.at(), 5);
        let err = decode(&sub, "t", br#"{"kind":"lunch"}"#, 0, 4096).expect_err("not a decision");
        assert!(err.to_string().contains("not a planner decision"), "{err}");
    }

    proptest! {
        #[test]
        fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for kind in ALL_KINDS {
                let _ = decode(&json_sub(kind), "wms/x/events", &bytes, 0, 256);
            }
            let _ = decode(&text_sub(), "scanners/x/scan", &bytes, 0, 256);
        }

        #[test]
        fn decoders_never_panic_on_arbitrary_json_objects(
            keys in proptest::collection::vec("(id|dev|code|act|o|wave|line|qty|status|ts)", 0..10),
            vals in proptest::collection::vec(prop_oneof![
                Just("null".to_string()), Just("true".to_string()), any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|f| if f.is_finite() { f.to_string() } else { "0".into() }),
                "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).expect("string")),
                Just("{\"id\":1}".to_string()), Just("[]".to_string()),
            ], 0..10),
        ) {
            let body: Vec<String> = keys.iter().zip(vals.iter()).map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let payload = format!("{{{}}}", body.join(","));
            for kind in ALL_KINDS {
                let _ = decode(&json_sub(kind), "wms/x/events", payload.as_bytes(), 0, 4096);
            }
        }
    }
}
