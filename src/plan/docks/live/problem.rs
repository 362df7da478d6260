//! The sequencing instance the live state stands for at `now`.

use std::collections::{BTreeMap, HashMap};

use super::config::ms;
use super::{Dep, DockPlanner, Occupant};
use crate::domain::{DoorState, Millis};
use crate::plan::docks::{DockDoor, DockProblem, DockVehicle};

/// A replan's instance: usable doors only (`open[i]` is the config index
/// of the instance's door `i`), and per vehicle what the decisions report.
pub(super) struct Snapshot {
    pub problem: DockProblem,
    pub open: Vec<usize>,
    /// In `problem.vehicles` order.
    pub vehicles: Vec<Planned>,
}

pub(super) struct Planned {
    pub departure: String,
    /// Goods staged (the wave planner's forecast; now when it has none).
    pub ready: Millis,
    pub arrived: Option<Millis>,
}

impl DockPlanner {
    pub(super) fn snapshot(&self, now: Millis, staged: &HashMap<String, Millis>) -> Snapshot {
        let open: Vec<usize> = (0..self.doors.len())
            .filter(|&k| !matches!(self.doors[k], DoorState::Fault | DoorState::OutOfService))
            .collect();
        let doors = open
            .iter()
            .map(|&k| DockDoor {
                id: self.config.doors[k].id.clone(),
                open_from: match self.occupants.get(&k) {
                    // Its vehicle is planned on it, from when it docked.
                    Some(Occupant {
                        departure: Some(_),
                        since,
                    }) => (*since).min(now),
                    // A vehicle we did not send: busy for a while.
                    Some(Occupant {
                        departure: None, ..
                    }) => now + ms(self.config.frozen_horizon_min),
                    None => now,
                },
                open_until: None,
            })
            .collect();
        let at_door: BTreeMap<&str, (usize, Millis)> = self
            .occupants
            .iter()
            .filter_map(|(&k, o)| Some((o.departure.as_deref()?, (k, o.since))))
            .collect();
        let (vehicles, planned) = self
            .deps
            .iter()
            .filter(|d| !self.done.contains(&d.plan.id))
            .filter_map(|d| self.vehicle(d, &open, &at_door, now, staged))
            .unzip();
        Snapshot {
            problem: DockProblem {
                doors,
                vehicles,
                change_penalty_ms: ms(self.config.change_penalty_min),
            },
            open,
            vehicles: planned,
        }
    }

    /// Departure `d` as a vehicle to plan, if it is on the yard or expected
    /// within the lookahead and some usable door takes it.
    fn vehicle(
        &self,
        d: &Dep,
        open: &[usize],
        at_door: &BTreeMap<&str, (usize, Millis)>,
        now: Millis,
        staged: &HashMap<String, Millis>,
    ) -> Option<(DockVehicle, Planned)> {
        let id = d.plan.id.as_str();
        let arrived = self.arrived.get(id).copied();
        let expected = arrived
            .or(d.plan.vehicle_due)
            .unwrap_or(d.plan.scheduled_at - d.load_ms);
        let lookahead = ms(self.config.lookahead_h * 60.0);
        if arrived.is_none() && (expected > now + lookahead || d.plan.cutoff <= now) {
            return None;
        }
        let load_ms: Vec<Option<Millis>> = open
            .iter()
            .map(|&k| {
                let spec = &self.config.doors[k];
                (spec.carriers.is_empty() || spec.carriers.contains(&d.plan.carrier))
                    .then(|| (d.load_ms as f64 * spec.load_factor).round() as Millis)
            })
            .collect();
        if load_ms.iter().all(Option::is_none) {
            return None; // no usable door takes it now
        }
        let ready = staged.get(id).copied().unwrap_or(now);
        // A config door index as an index of the instance, if it takes `d`.
        let eligible = |k: usize| {
            open.iter()
                .position(|&o| o == k)
                .filter(|&i| load_ms[i].is_some())
        };
        let (release, current_door, frozen) = match at_door.get(id) {
            Some(&(k, since)) => (since.max(ready), eligible(k), eligible(k).is_some()),
            None => {
                let planned = self.schedule.get(id);
                let given = planned.and_then(|s| eligible(s.door));
                let from_plan = d.plan.door.as_deref().and_then(|door| self.door_ix(door));
                let soon =
                    planned.is_some_and(|s| s.start <= now + ms(self.config.frozen_horizon_min));
                (
                    now.max(expected).max(ready),
                    given.or_else(|| from_plan.and_then(eligible)),
                    soon && given.is_some(),
                )
            }
        };
        let vehicle = DockVehicle {
            id: id.to_owned(),
            weight: 1,
            arrival: expected.min(release),
            release,
            due: d.plan.cutoff,
            load_ms,
            current_door,
            frozen,
        };
        let planned = Planned {
            departure: id.to_owned(),
            ready,
            arrived,
        };
        Some((vehicle, planned))
    }
}
