//! The site planner's decisions. They are events: logged, published as JSON on
//! `dockside/{site}/decisions/{kind}` and synced like any other. Each carries
//! the inputs behind it (plan version, zone rates) so it can be explained later.
//!
//! Numbers are rounded (probability to 0.001, rates to 0.1 line/h) so a
//! replayed decision serializes to the same text as the stored one.

use serde::{Deserialize, Serialize};

use super::door::DoorState;
use super::Millis;

/// One planner decision, tagged by `kind`. Variants are only ever added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// Hand a wave to the pickers now.
    WaveRelease {
        wave: String,
        /// Departures its orders are for.
        departures: Vec<String>,
        /// Order lines in the wave.
        lines: u64,
        reason: ReleaseReason,
        /// Slack to cutoff of its tightest departure, predicted with the wave released now.
        slack_ms: i64,
        at: Millis,
        inputs: DecisionInputs,
    },
    /// A departure is predicted to miss its cutoff (`raised`) or no longer is (`cleared`).
    DepartureAtRisk {
        departure: String,
        status: RiskStatus,
        /// Probability of missing the cutoff.
        probability: f64,
        /// Cutoff minus predicted ready time (negative: predicted late).
        slack_ms: i64,
        predicted_ready: Millis,
        cutoff: Millis,
        reason: RiskReason,
        at: Millis,
        inputs: DecisionInputs,
    },
    /// Move an order that cannot make its departure to a later one, so the
    /// orders that can make theirs do.
    OrderDeferralProposed {
        order: String,
        from_departure: String,
        to_departure: String,
        stop: String,
        /// Lines still to pick.
        remaining_lines: u64,
        /// When the order would be ready if kept, and the cutoff it would miss.
        predicted_ready: Millis,
        cutoff: Millis,
        at: Millis,
        inputs: DecisionInputs,
    },
    /// A departure is predicted to leave later than scheduled but within its cutoff.
    DepartureRetimed {
        departure: String,
        scheduled_at: Millis,
        /// Predicted leave time (the scheduled time again when it recovers).
        retimed_to: Millis,
        cutoff: Millis,
        predicted_ready: Millis,
        at: Millis,
        inputs: DecisionInputs,
    },
    /// A departure's vehicle goes to `door` from `planned_start` (dock
    /// sequencer). Issued when the assignment is new, moves to another door,
    /// or its start moves by the configured threshold; not on every replan.
    DockAssignment {
        departure: String,
        door: String,
        /// The door it had before, when this moves it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous_door: Option<String>,
        planned_start: Millis,
        planned_end: Millis,
        cutoff: Millis,
        reason: DockReason,
        at: Millis,
        inputs: DockInputs,
    },
    /// Send the vehicle from the yard to its door now.
    CallVehicle {
        departure: String,
        door: String,
        planned_start: Millis,
        reason: CallReason,
        at: Millis,
        plan_version: u64,
    },
    /// What goes into the vehicle in which order, for the WMS and the dock
    /// displays: stops in reverse delivery order (the last stop loads first).
    LoadingList {
        departure: String,
        /// Its door when known (the sequencer's, else the plan's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        door: Option<String>,
        /// In load order.
        stops: Vec<LoadStop>,
        reason: ListReason,
        at: Millis,
        plan_version: u64,
    },
}

impl Decision {
    /// The `kind` tag; also the last topic level of `dockside/{site}/decisions/{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::WaveRelease { .. } => "wave_release",
            Decision::DepartureAtRisk { .. } => "departure_at_risk",
            Decision::OrderDeferralProposed { .. } => "order_deferral_proposed",
            Decision::DepartureRetimed { .. } => "departure_retimed",
            Decision::DockAssignment { .. } => "dock_assignment",
            Decision::CallVehicle { .. } => "call_vehicle",
            Decision::LoadingList { .. } => "loading_list",
        }
    }

    pub fn at(&self) -> Millis {
        match self {
            Decision::WaveRelease { at, .. }
            | Decision::DepartureAtRisk { at, .. }
            | Decision::OrderDeferralProposed { at, .. }
            | Decision::DepartureRetimed { at, .. }
            | Decision::DockAssignment { at, .. }
            | Decision::CallVehicle { at, .. }
            | Decision::LoadingList { at, .. } => *at,
        }
    }

    /// The wave planner's inputs (zone rates); none for dock decisions.
    pub fn inputs(&self) -> Option<&DecisionInputs> {
        match self {
            Decision::WaveRelease { inputs, .. }
            | Decision::DepartureAtRisk { inputs, .. }
            | Decision::OrderDeferralProposed { inputs, .. }
            | Decision::DepartureRetimed { inputs, .. } => Some(inputs),
            Decision::DockAssignment { .. }
            | Decision::CallVehicle { .. }
            | Decision::LoadingList { .. } => None,
        }
    }

    /// The topic a decision is published on.
    pub fn topic(&self, prefix: &str, site: &str) -> String {
        format!("{prefix}/{site}/decisions/{}", self.kind())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// Next by least slack, within the zones' work-in-progress caps.
    LeastSlack,
    /// Pulled forward: a zone it needs would otherwise run out of work.
    KeepPickersBusy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskStatus {
    Raised,
    Cleared,
}

/// What holds a departure's predicted ready time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum RiskReason {
    /// Picking in `zone` finishes last: its lines and the work queued ahead of them.
    Picking {
        zone: String,
        remaining_lines: u64,
        lines_ahead: u64,
    },
    /// The vehicle is expected at the door only at `eta`.
    VehicleLate { eta: Millis },
    /// The planned door cannot load until `until`.
    DoorOutage { door: String, until: Millis },
    /// Staging and loading alone take the time left.
    Loading { lines: u64 },
}

/// What made the dock sequencer replan, as it concerns one vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum DockReason {
    /// A plan (version) arrived: departures, doors or stops changed.
    NewPlan { version: u64 },
    /// `door` became unusable (`fault` or `out_of_service`).
    DoorDown { door: String, state: DoorState },
    /// `door` is free again (after an outage or a loading).
    DoorFreed { door: String },
    /// A vehicle the sequencer did not send docked at `door`.
    DoorOccupied { door: String },
    /// The departure's vehicle is on the yard.
    Arrival { departure: String },
    /// The departure's load-ready time moved by at least the threshold.
    ReadyShift {
        departure: String,
        from: Millis,
        to: Millis,
    },
}

impl DockReason {
    /// For people: `door D03 fault`, `arrival of DEP-1`, ...
    pub fn describe(&self) -> String {
        match self {
            DockReason::NewPlan { version } => format!("new plan v{version}"),
            DockReason::DoorDown { door, state } => format!("door {door} {}", state.as_str()),
            DockReason::DoorFreed { door } => format!("door {door} freed"),
            DockReason::DoorOccupied { door } => format!("door {door} taken by another vehicle"),
            DockReason::Arrival { departure } => format!("arrival of {departure}"),
            DockReason::ReadyShift {
                departure,
                from,
                to,
            } => format!(
                "ready time of {departure} moved {:+.0} min",
                (to - from) as f64 / 60_000.0
            ),
        }
    }
}

/// Why a vehicle is called now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum CallReason {
    /// Its planned start is within the call lead time and it is on the yard.
    StartDue { call_lead_ms: i64 },
    /// Called before to another door, which it has not reached; go here.
    DoorChanged { from_door: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListReason {
    /// First list for the departure (its plan arrived).
    NewPlan,
    /// A newer plan changed its stops or their orders.
    StopsChanged,
}

/// One stop's orders in a loading list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadStop {
    pub stop: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Position in the delivery route (1 = delivered first, loaded last).
    pub delivery_seq: u32,
    pub orders: Vec<String>,
}

/// What a dock assignment was based on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockInputs {
    pub plan_version: u64,
    /// Gate-in, if the vehicle is on the yard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<Millis>,
    /// When its goods are predicted staged (the wave planner's forecast).
    pub ready_at: Millis,
    /// Loading time at this door.
    pub load_ms: i64,
    /// Doors that could take vehicles at the replan.
    pub doors_available: Vec<String>,
}

/// What a decision was based on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionInputs {
    pub plan_version: u64,
    pub rates: Vec<ZoneRate>,
}

/// A zone's pick rate as the planner used it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneRate {
    pub zone: String,
    /// Lines per hour per active picker (observed blended with the standard).
    pub lines_per_hour: f64,
    /// Its standard deviation.
    pub sd_lines_per_hour: f64,
    /// Pickers counted for the zone.
    pub pickers: u32,
    pub pickers_from: PickersFrom,
    /// Weight of observed picks in the rate (decayed line count); 0 = standard only.
    pub observed_lines: f64,
    /// Released lines not yet picked.
    pub backlog_lines: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickersFrom {
    /// Distinct scanners picking in the zone recently.
    Scans,
    /// The plan's (or a supervisor's) headcount.
    Headcount,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_tagged_by_kind_in_snake_case() {
        let d = Decision::DepartureRetimed {
            departure: "D1".into(),
            scheduled_at: 1,
            retimed_to: 2,
            cutoff: 3,
            predicted_ready: 2,
            at: 0,
            inputs: DecisionInputs {
                plan_version: 4,
                rates: vec![],
            },
        };
        let json = serde_json::to_value(&d).expect("serializes");
        assert_eq!(json["kind"], "departure_retimed");
        assert_eq!(d.kind(), "departure_retimed");
        assert_eq!(
            d.topic("dockside", "dc1"),
            "dockside/dc1/decisions/departure_retimed"
        );
        let back: Decision = serde_json::from_value(json).expect("parses");
        assert_eq!(back, d);
    }
    #[test]
    fn dock_decisions_round_trip_as_events_with_their_kinds() {
        let dock = [
            Decision::DockAssignment {
                departure: "DEP-1".into(),
                door: "D02".into(),
                previous_door: Some("D03".into()),
                planned_start: 10,
                planned_end: 20,
                cutoff: 30,
                reason: DockReason::DoorDown {
                    door: "D03".into(),
                    state: DoorState::Fault,
                },
                at: 5,
                inputs: DockInputs {
                    plan_version: 2,
                    arrived_at: Some(1),
                    ready_at: 8,
                    load_ms: 10,
                    doors_available: vec!["D01".into(), "D02".into()],
                },
            },
            Decision::CallVehicle {
                departure: "DEP-1".into(),
                door: "D02".into(),
                planned_start: 10,
                reason: CallReason::StartDue {
                    call_lead_ms: 900_000,
                },
                at: 6,
                plan_version: 2,
            },
            Decision::LoadingList {
                departure: "DEP-1".into(),
                door: None,
                stops: vec![LoadStop {
                    stop: "s2".into(),
                    name: None,
                    delivery_seq: 2,
                    orders: vec!["O1".into()],
                }],
                reason: ListReason::NewPlan,
                at: 7,
                plan_version: 2,
            },
        ];
        for (d, kind) in dock
            .into_iter()
            .zip(["dock_assignment", "call_vehicle", "loading_list"])
        {
            let body = crate::domain::EventBody::Decision(d);
            let json = serde_json::to_value(&body).expect("serializes");
            assert_eq!(json["kind"], kind);
            assert_eq!(body.kind(), kind);
            let back: crate::domain::EventBody = serde_json::from_value(json).expect("parses");
            assert_eq!(back, body);
        }
    }
}
