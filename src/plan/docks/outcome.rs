//! What `dockside plan docks` prints: the schedule, its figures and those
//! of the plain rules it is measured against.

use serde::Serialize;

use super::timing::{vehicle_cost, Figures, Schedule};
use super::{construct, search, Budget, DockError, DockProblem, Rule};
use crate::domain::plan::when;
use crate::domain::Millis;

/// One vehicle's door and times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    pub vehicle: String,
    pub door: String,
    #[serde(with = "when")]
    pub start: Millis,
    #[serde(with = "when")]
    pub end: Millis,
    #[serde(with = "when")]
    pub due: Millis,
    pub late: bool,
    pub tardiness_ms: Millis,
    /// Moved off its door in the current plan.
    pub door_changed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baselines {
    pub edd: Figures,
    pub atc: Figures,
    pub fcfs: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The rule the search started from (the better of EDD and ATC).
    pub start_rule: Rule,
    pub figures: Figures,
    pub baselines: Baselines,
    /// By door, in loading order.
    pub assignments: Vec<Assignment>,
}

/// Sequence `p` and explain the result.
pub fn plan(p: &DockProblem, seed: u64, budget: &mut dyn Budget) -> Result<Outcome, DockError> {
    p.validate()?;
    let (start_rule, start) = construct::best_rule(p);
    let best = search::iterate(p, start, seed, budget);
    Ok(Outcome {
        start_rule,
        figures: Figures::of(p, &best),
        baselines: Baselines {
            edd: Figures::of(p, &construct::edd(p)),
            atc: Figures::of(p, &construct::atc(p)),
            fcfs: Figures::of(p, &construct::fcfs(p)),
        },
        assignments: assignments(p, &best),
    })
}

pub fn assignments(p: &DockProblem, s: &Schedule) -> Vec<Assignment> {
    let slots = s.slots(p);
    s.doors
        .iter()
        .flatten()
        .map(|&v| {
            let (k, slot) = slots[v];
            let veh = &p.vehicles[v];
            let c = vehicle_cost(p, v, k, slot.start).1;
            Assignment {
                vehicle: veh.id.clone(),
                door: p.doors[k].id.clone(),
                start: slot.start,
                end: slot.end,
                due: veh.due,
                late: c.late > 0,
                tardiness_ms: (slot.end - veh.due).max(0),
                door_changed: c.changes > 0,
            }
        })
        .collect()
}
