//! Site events: what scanners, the WMS and (later) door controllers tell us.

use serde::{Deserialize, Serialize};

use super::Millis;

/// What a scan confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanAction {
    Pick,
    Pack,
    Stage,
    Load,
    Receive,
}

impl ScanAction {
    pub const ALL: [ScanAction; 5] = [
        ScanAction::Pick,
        ScanAction::Pack,
        ScanAction::Stage,
        ScanAction::Load,
        ScanAction::Receive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScanAction::Pick => "pick",
            ScanAction::Pack => "pack",
            ScanAction::Stage => "stage",
            ScanAction::Load => "load",
            ScanAction::Receive => "receive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The typed content of an event. Serialized with a `kind` tag; variants are
/// only ever added, never renamed, so stored logs stay readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    Scan {
        scanner: String,
        code: String,
        action: ScanAction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wave: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qty: Option<i64>,
        /// When the scan happened, per the source (else when we received it).
        at: Millis,
    },
    PickComplete {
        order: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wave: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qty: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scanner: Option<String>,
        at: Millis,
    },
    WaveReleased {
        wave: String,
        at: Millis,
    },
    OrderStatus {
        order: String,
        status: String,
        at: Millis,
    },
}

impl EventBody {
    /// The `kind` tag as stored in the log's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Scan { .. } => "scan",
            EventBody::PickComplete { .. } => "pick_complete",
            EventBody::WaveReleased { .. } => "wave_released",
            EventBody::OrderStatus { .. } => "order_status",
        }
    }

    /// When the event happened according to its source.
    pub fn at(&self) -> Millis {
        match self {
            EventBody::Scan { at, .. }
            | EventBody::PickComplete { at, .. }
            | EventBody::WaveReleased { at, .. }
            | EventBody::OrderStatus { at, .. } => *at,
        }
    }
}

/// An event as the log holds it: numbered, with where and when it came in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub epoch: String,
    pub source_topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    pub received_at: Millis,
    #[serde(flatten)]
    pub body: EventBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_event_json_is_flat_with_kind() {
        let e = StoredEvent {
            seq: 7,
            epoch: "e1".into(),
            source_topic: "wms/scan".into(),
            source_id: Some("m1".into()),
            received_at: 1000,
            body: EventBody::WaveReleased {
                wave: "W1".into(),
                at: 900,
            },
        };
        let json = serde_json::to_string(&e).expect("serializes");
        assert_eq!(
            json,
            r#"{"seq":7,"epoch":"e1","source_topic":"wms/scan","source_id":"m1","received_at":1000,"kind":"wave_released","wave":"W1","at":900}"#
        );
        let back: StoredEvent = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, e);
    }
}
