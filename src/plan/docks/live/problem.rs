//! The sequencing instance the live state stands for at `now`.

use std::collections::{BTreeMap, HashMap};

use super::config::ms;
use super::{Dep, DockPlanner};
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
    fn usable(&self, k: usize) -> bool {
        !matches!(self.doors[k], DoorState::Fault | DoorState::OutOfService)
    }

    /// Vehicles loading now, with their door and since when: docked ones
    /// (their door says so), and, at doors that have never reported a
    /// vehicle, those called there whose planned start has come (nothing
    /// will say so: they are taken to load as planned, not re-planned to
    /// start now, round after round).
    fn under_way(&self, now: Millis) -> BTreeMap<&str, (usize, Millis)> {
        let docked = self
            .occupants
            .iter()
            .filter_map(|(&k, o)| Some((o.departure.as_deref()?, (k, o.since))));
        let assumed = self.schedule.iter().filter_map(|(d, s)| {
            let started = s.start <= now
                && !self.senses_vehicles[s.door]
                && self.called.get(d) == Some(&s.door)
                && self.usable(s.door);
            started.then_some((d.as_str(), (s.door, s.start)))
        });
        docked.chain(assumed).collect()
    }

    pub(super) fn snapshot(&self, now: Millis, staged: &HashMap<String, Millis>) -> Snapshot {
        let open: Vec<usize> = (0..self.doors.len()).filter(|&k| self.usable(k)).collect();
        let under_way = self.under_way(now);
        let doors = open
            .iter()
            .map(|&k| DockDoor {
                id: self.config.doors[k].id.clone(),
                open_from: match (
                    under_way.values().find(|&&(door, _)| door == k),
                    self.occupants.get(&k),
                ) {
                    // Its vehicle is planned on it, from when it started.
                    (Some(&(_, since)), _) => since.min(now),
                    // A vehicle we did not send: busy for a while.
                    (None, Some(_)) => now + ms(self.config.frozen_horizon_min),
                    (None, None) => now,
                },
                open_until: None,
            })
            .collect();
        let (vehicles, planned) = self
            .deps
            .iter()
            .filter(|d| !self.done.contains(&d.plan.id))
            .filter_map(|d| self.vehicle(d, &open, &under_way, now, staged))
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
        under_way: &BTreeMap<&str, (usize, Millis)>,
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
        let (release, current_door, frozen) = match under_way.get(id) {
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
