//! `[planning.docks]`: the doors the sequencer may use and its tuning.

use serde::{Deserialize, Serialize};

use crate::domain::Millis;

const MIN: f64 = 60_000.0;

/// `[planning.docks]`: the doors and the sequencer's tuning.
/// Unknown keys are reported by the config parser (`serde_ignored`), with
/// their path, like every other section's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveConfig {
    /// The doors the sequencer may use, in the order displays list them.
    pub doors: Vec<DoorSpec>,
    /// Local-search passes and perturbation rounds per replan. The agent
    /// stops on this count, never on the clock, so replays match.
    pub max_rounds: u32,
    /// Seed of the search's perturbations.
    pub seed: u64,
    /// A replan slower than this is logged as a warning (lower `max_rounds`);
    /// it does not stop the search, which would make replays differ.
    pub budget_ms: u64,
    /// Vehicles docked or starting within this horizon keep their door.
    pub frozen_horizon_min: f64,
    /// Dwell charged per vehicle moved to another door (stability).
    pub change_penalty_min: f64,
    /// A departure's staging forecast moving by this much triggers a replan.
    pub ready_shift_min: f64,
    /// A planned start moving by this much re-issues the assignment.
    pub start_shift_min: f64,
    /// Call a vehicle from the yard this long before its planned start.
    pub call_lead_min: f64,
    /// Vehicles expected on site within this horizon are planned.
    pub lookahead_h: f64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            doors: Vec::new(),
            max_rounds: 200,
            seed: 1,
            budget_ms: 100,
            frozen_horizon_min: 15.0,
            change_penalty_min: 10.0,
            ready_shift_min: 10.0,
            start_shift_min: 10.0,
            call_lead_min: 15.0,
            lookahead_h: 4.0,
        }
    }
}

/// One dock door of the site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoorSpec {
    /// As the Modbus config and `door_changed` events name it.
    pub id: String,
    /// Loading time here relative to the plan's load model (distance to
    /// the staging lanes): 1.2 takes 20% longer.
    #[serde(default = "one")]
    pub load_factor: f64,
    /// Carriers whose trailers this door takes; empty: any.
    #[serde(default)]
    pub carriers: Vec<String>,
}

fn one() -> f64 {
    1.0
}

pub(super) fn ms(min: f64) -> Millis {
    (min * MIN) as Millis
}
