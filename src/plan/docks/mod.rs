//! Dock-door sequencing, pure: which vehicle goes to which door, in what order.
//!
//! Doors are unrelated parallel machines (a vehicle's load time depends on the
//! door, and some doors cannot take it); vehicles are jobs with a release time
//! (on the yard and its load ready) and a due time (the departure's cutoff).
//! Constructive rules ([`construct`]) give a first schedule, local search
//! ([`search`]) improves it within a [`Budget`], and [`exact`] solves small
//! instances to optimality as a reference. Nothing here reads a clock: a
//! time budget is the caller's [`Budget`].

pub mod construct;
pub mod exact;
pub mod live;
pub mod outcome;
pub mod search;
pub mod tadumadze;
pub mod timing;

use serde::{Deserialize, Serialize};

use crate::domain::plan::{when, when_opt};
use crate::domain::Millis;
pub use timing::{Cost, Schedule};

/// A dock door as the sequencer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockDoor {
    pub id: String,
    /// When the door can take its next vehicle: now, the end of the loading
    /// under way, or the end of an outage.
    #[serde(with = "when")]
    pub open_from: Millis,
    /// When the door stops being available (a shift or window end); none: open.
    #[serde(default, with = "when_opt", skip_serializing_if = "Option::is_none")]
    pub open_until: Option<Millis>,
}

/// A vehicle to load: one departure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockVehicle {
    pub id: String,
    /// Weight of being late (late departures and tardiness count times this).
    #[serde(default = "one")]
    pub weight: i64,
    /// Gate-in (or expected arrival on the yard); dwell runs from here.
    #[serde(with = "when")]
    pub arrival: Millis,
    /// Earliest start at a door: on the yard and its load staged.
    #[serde(with = "when")]
    pub release: Millis,
    /// Loading must end by this (the departure's cutoff).
    #[serde(with = "when")]
    pub due: Millis,
    /// Loading time at each door, in `doors` order; none: the door cannot take it
    /// (trailer type, temperature).
    pub load_ms: Vec<Option<Millis>>,
    /// Its door in the current plan, as an index into `doors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_door: Option<usize>,
    /// Docked, or starting within the frozen horizon: keeps `current_door`,
    /// ahead of anything not frozen.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frozen: bool,
}

fn one() -> i64 {
    1
}

/// One sequencing instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockProblem {
    pub doors: Vec<DockDoor>,
    pub vehicles: Vec<DockVehicle>,
    /// Dwell charged for each vehicle moved off its current door (stability).
    #[serde(default = "default_change_penalty")]
    pub change_penalty_ms: Millis,
}

fn default_change_penalty() -> Millis {
    10 * 60_000
}

/// An instance that cannot be sequenced, with what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DockError {
    #[error("vehicle `{vehicle}` has {got} load times for {doors} doors\n    fix: give one load time (or null) per door, in door order")]
    LoadTimes {
        vehicle: String,
        got: usize,
        doors: usize,
    },
    #[error("vehicle `{vehicle}` can use no door (every load time is null)\n    fix: make at least one door eligible for it")]
    NoDoor { vehicle: String },
    #[error("vehicle `{vehicle}`: a load time is negative")]
    NegativeLoad { vehicle: String },
    #[error("vehicle `{vehicle}` is frozen at door {door}, which it cannot use or which does not exist\n    fix: give a frozen vehicle an eligible current_door")]
    FrozenDoor { vehicle: String, door: usize },
    #[error("vehicle `{vehicle}` is frozen but has no current_door\n    fix: a frozen vehicle keeps its door: name it")]
    FrozenWithoutDoor { vehicle: String },
    #[error("duplicate {what} id `{id}`")]
    Duplicate { what: &'static str, id: String },
}

impl DockProblem {
    /// Check the shape the sequencer relies on.
    pub fn validate(&self) -> Result<(), DockError> {
        let mut seen = std::collections::HashSet::new();
        for d in &self.doors {
            if !seen.insert(d.id.as_str()) {
                return Err(DockError::Duplicate {
                    what: "door",
                    id: d.id.clone(),
                });
            }
        }
        seen.clear();
        let m = self.doors.len();
        for v in &self.vehicles {
            if !seen.insert(v.id.as_str()) {
                return Err(DockError::Duplicate {
                    what: "vehicle",
                    id: v.id.clone(),
                });
            }
            if v.load_ms.len() != m {
                return Err(DockError::LoadTimes {
                    vehicle: v.id.clone(),
                    got: v.load_ms.len(),
                    doors: m,
                });
            }
            if v.load_ms.iter().flatten().any(|p| *p < 0) {
                return Err(DockError::NegativeLoad {
                    vehicle: v.id.clone(),
                });
            }
            if v.load_ms.iter().all(Option::is_none) {
                return Err(DockError::NoDoor {
                    vehicle: v.id.clone(),
                });
            }
            if v.frozen {
                match v.current_door {
                    None => {
                        return Err(DockError::FrozenWithoutDoor {
                            vehicle: v.id.clone(),
                        })
                    }
                    Some(k) if k >= m || v.load_ms[k].is_none() => {
                        return Err(DockError::FrozenDoor {
                            vehicle: v.id.clone(),
                            door: k,
                        })
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    pub fn load(&self, vehicle: usize, door: usize) -> Option<Millis> {
        self.vehicles[vehicle].load_ms[door]
    }
}

/// When the search must stop. Counting evaluations keeps a run
/// reproducible; a caller with a clock adds a deadline.
pub trait Budget {
    /// Called once per neighbourhood pass and perturbation round.
    fn exhausted(&mut self) -> bool;
}

/// Stop after a number of calls: deterministic on every machine.
#[derive(Debug, Clone, Copy)]
pub struct Rounds(pub u32);

impl Budget for Rounds {
    fn exhausted(&mut self) -> bool {
        if self.0 == 0 {
            return true;
        }
        self.0 -= 1;
        false
    }
}

impl<F: FnMut() -> bool> Budget for F {
    fn exhausted(&mut self) -> bool {
        self()
    }
}

/// Tuning of the sequencer. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockConfig {
    /// Wall-clock budget of one replan (the caller enforces it).
    pub budget_ms: u64,
    /// Most local-search passes and perturbation rounds in one replan; with
    /// the time budget not reached, the same seed gives the same schedule.
    pub max_rounds: u32,
    /// Seed of the perturbations.
    pub seed: u64,
    /// Vehicles docked or starting within this horizon keep their door.
    pub frozen_horizon_min: f64,
    /// Dwell charged per vehicle moved to another door.
    pub change_penalty_min: f64,
    /// A departure's ready time moving by this much triggers a replan.
    pub ready_shift_min: f64,
}

impl Default for DockConfig {
    fn default() -> Self {
        DockConfig {
            budget_ms: 100,
            max_rounds: 400,
            seed: 1,
            frozen_horizon_min: 15.0,
            change_penalty_min: 10.0,
            ready_shift_min: 10.0,
        }
    }
}

/// Which constructive rule a schedule started from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Earliest due date, each to the door where it finishes first.
    Edd,
    /// Apparent tardiness cost.
    Atc,
    /// First come, first served: by arrival, to the first door free.
    Fcfs,
}

#[cfg(test)]
mod tests;
