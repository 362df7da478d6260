//! The site planner's decisions. They are events: logged, published as JSON on
//! `dockside/{site}/decisions/{kind}` and synced like any other. Each carries
//! the inputs behind it (plan version, zone rates) so it can be explained later.
//!
//! Numbers are rounded (probability to 0.001, rates to 0.1 line/h) so a
//! replayed decision serializes to the same text as the stored one.

use serde::{Deserialize, Serialize};

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
}

impl Decision {
    /// The `kind` tag; also the last topic level of `dockside/{site}/decisions/{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::WaveRelease { .. } => "wave_release",
            Decision::DepartureAtRisk { .. } => "departure_at_risk",
            Decision::OrderDeferralProposed { .. } => "order_deferral_proposed",
            Decision::DepartureRetimed { .. } => "departure_retimed",
        }
    }

    pub fn at(&self) -> Millis {
        match self {
            Decision::WaveRelease { at, .. }
            | Decision::DepartureAtRisk { at, .. }
            | Decision::OrderDeferralProposed { at, .. }
            | Decision::DepartureRetimed { at, .. } => *at,
        }
    }

    pub fn inputs(&self) -> &DecisionInputs {
        match self {
            Decision::WaveRelease { inputs, .. }
            | Decision::DepartureAtRisk { inputs, .. }
            | Decision::OrderDeferralProposed { inputs, .. }
            | Decision::DepartureRetimed { inputs, .. } => inputs,
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
}
