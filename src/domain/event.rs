//! Site events: what scanners, the WMS, door controllers and the site's planner tell us.

use serde::{Deserialize, Serialize};

use super::decision::Decision;
use super::door::{DeviceError, DoorState, Signals};
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
    /// A door's debounced signals changed (its state may or may not have).
    DoorChanged {
        door: String,
        /// The Modbus device (config name) the door is read from.
        device: String,
        /// None the first time the door is ever seen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<DoorState>,
        to: DoorState,
        /// The signals behind `to`; empty when the door is out of service
        /// because its device cannot be read.
        signals: Signals,
        /// When the new values were first read.
        at: Millis,
    },
    /// A device answers again (or for the first time).
    DeviceOnline {
        device: String,
        at: Millis,
    },
    /// A device could not be read `offline_after_failures` times in a row;
    /// its doors are out of service until it answers again.
    DeviceOffline {
        device: String,
        error: DeviceError,
        /// The last successful read, if any since the agent started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_good_read: Option<Millis>,
        at: Millis,
    },
    /// The WMS's count of one SKU on hand (physical stock, before central's
    /// reservations); replaces what central knew of it.
    InventorySnapshot {
        sku: String,
        qty: i64,
        /// The pick zone the SKU is picked from, when the WMS says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
        at: Millis,
    },
    /// A change to one SKU on hand: receipts positive, picks and write-offs negative.
    InventoryDelta {
        sku: String,
        qty: i64,
        at: Millis,
    },
    /// A departure's vehicle is on site (gate-in at the yard, from the TMS
    /// or the gatehouse): the dock sequencer may call it to a door.
    VehicleArrived {
        departure: String,
        at: Millis,
    },
    /// A decision of the site planner, logged like any event. It carries
    /// its own `kind` tag (`wave_release`, `departure_at_risk`, ...).
    #[serde(untagged)]
    Decision(Decision),
}

impl EventBody {
    /// The `kind` tag as stored in the log's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Scan { .. } => "scan",
            EventBody::PickComplete { .. } => "pick_complete",
            EventBody::WaveReleased { .. } => "wave_released",
            EventBody::OrderStatus { .. } => "order_status",
            EventBody::DoorChanged { .. } => "door_changed",
            EventBody::DeviceOnline { .. } => "device_online",
            EventBody::DeviceOffline { .. } => "device_offline",
            EventBody::InventorySnapshot { .. } => "inventory_snapshot",
            EventBody::InventoryDelta { .. } => "inventory_delta",
            EventBody::VehicleArrived { .. } => "vehicle_arrived",
            EventBody::Decision(d) => d.kind(),
        }
    }

    /// When the event happened according to its source.
    pub fn at(&self) -> Millis {
        match self {
            EventBody::Scan { at, .. }
            | EventBody::PickComplete { at, .. }
            | EventBody::WaveReleased { at, .. }
            | EventBody::OrderStatus { at, .. }
            | EventBody::DoorChanged { at, .. }
            | EventBody::DeviceOnline { at, .. }
            | EventBody::DeviceOffline { at, .. }
            | EventBody::InventorySnapshot { at, .. }
            | EventBody::InventoryDelta { at, .. }
            | EventBody::VehicleArrived { at, .. } => *at,
            EventBody::Decision(d) => d.at(),
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

    #[test]
    fn door_events_round_trip_as_flat_json() {
        let body = EventBody::DoorChanged {
            door: "D01".into(),
            device: "plc-1".into(),
            from: Some(DoorState::Free),
            to: DoorState::VehicleDocked,
            signals: [
                ("door_open".to_string(), false),
                ("vehicle_present".to_string(), true),
            ]
            .into_iter()
            .collect(),
            at: 5,
        };
        let json = serde_json::to_string(&body).expect("serializes");
        assert_eq!(
            json,
            r#"{"kind":"door_changed","door":"D01","device":"plc-1","from":"free","to":"vehicle_docked","signals":{"door_open":false,"vehicle_present":true},"at":5}"#
        );
        assert_eq!(
            serde_json::from_str::<EventBody>(&json).expect("parses"),
            body
        );
        let off = EventBody::DeviceOffline {
            device: "plc-1".into(),
            error: DeviceError::ConnectionRefused,
            last_good_read: None,
            at: 9,
        };
        let json = serde_json::to_string(&off).expect("serializes");
        assert_eq!(
            json,
            r#"{"kind":"device_offline","device":"plc-1","error":{"type":"connection_refused"},"at":9}"#
        );
        assert_eq!(
            serde_json::from_str::<EventBody>(&json).expect("parses"),
            off
        );
    }

    #[test]
    fn inventory_events_are_tagged_by_kind_and_decisions_by_theirs() {
        let snap = EventBody::InventorySnapshot {
            sku: "SKU-1".into(),
            qty: 40,
            zone: Some("ambient".into()),
            at: 5,
        };
        let json = serde_json::to_string(&snap).expect("serializes");
        assert_eq!(
            json,
            r#"{"kind":"inventory_snapshot","sku":"SKU-1","qty":40,"zone":"ambient","at":5}"#
        );
        assert_eq!(snap.kind(), "inventory_snapshot");
        let risk = EventBody::Decision(Decision::DepartureAtRisk {
            departure: "D1".into(),
            status: crate::domain::decision::RiskStatus::Raised,
            probability: 0.8,
            slack_ms: -60_000,
            predicted_ready: 10,
            cutoff: 9,
            reason: crate::domain::decision::RiskReason::Loading { lines: 3 },
            at: 8,
            inputs: crate::domain::decision::DecisionInputs {
                plan_version: 2,
                rates: vec![],
            },
        });
        let value = serde_json::to_value(&risk).expect("serializes");
        assert_eq!(value["kind"], "departure_at_risk");
        assert_eq!(risk.at(), 8);
        let back: EventBody = serde_json::from_value(value).expect("parses");
        assert_eq!(back, risk);
    }

    #[test]
    fn decisions_are_events_with_their_own_kind() {
        let body = EventBody::Decision(Decision::DepartureRetimed {
            departure: "DEP-1".into(),
            scheduled_at: 1000,
            retimed_to: 2000,
            cutoff: 3000,
            predicted_ready: 1500,
            at: 900,
            inputs: crate::domain::decision::DecisionInputs {
                plan_version: 4,
                rates: vec![],
            },
        });
        assert_eq!(body.kind(), "departure_retimed");
        assert_eq!(body.at(), 900);
        let json = serde_json::to_string(&body).expect("serializes");
        assert!(
            json.starts_with(r#"{"kind":"departure_retimed","departure":"DEP-1""#),
            "{json}"
        );
        let back: EventBody = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, body);
        // A tagged kind still parses as itself, not as a decision.
        let wave: EventBody =
            serde_json::from_str(r#"{"kind":"wave_released","wave":"W1","at":5}"#).expect("parses");
        assert_eq!(wave.kind(), "wave_released");
    }
}
