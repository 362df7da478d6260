//! The dock sequencer in the agent, pure: live state built from events (door
//! states, vehicle arrivals, the site plan, the wave planner's staging
//! forecast), replanned only when something changed, with decisions
//! (`dock_assignment`, `call_vehicle`, `loading_list`) issued only when what
//! a driver or a dock display shows would change. No I/O, no clock: `now` is
//! an argument and the search stops after a round count, so a replay of the
//! same log gives the same decisions.
//!
//! Model (documented in `config/dockside.toml` and the README):
//! - A door can take a departure when its `carriers` list is empty or names
//!   the departure's carrier (reefer doors for the chilled carrier, say); its
//!   loading time is the plan's load model (fixed + per line, all the
//!   departure's lines) times the door's `load_factor` (distance from the
//!   staging lanes).
//! - `fault` / `out_of_service` doors take nothing; `vehicle_docked` /
//!   `loading` hold their occupant (the vehicle called to that door, else the
//!   first arrived vehicle planned there) frozen at the front; when the door
//!   is free again the occupant has left.
//! - A vehicle is planned once it is on the yard or expected within
//!   `lookahead_h` (the plan's `vehicle_due`, else its scheduled time minus
//!   its loading); it can start at a door no earlier than its arrival and
//!   its goods staged.

use std::collections::{BTreeMap, BTreeSet, HashMap};

mod config;
mod problem;

pub use config::{DoorSpec, LiveConfig};

use super::timing::Schedule;
use super::{construct, search, Rounds};
use crate::domain::decision::{CallReason, DockInputs, DockReason, ListReason, LoadStop};
use crate::domain::plan::Departure;
use crate::domain::{Decision, DoorState, EventBody, Millis, SitePlan};
use config::ms;
use problem::Snapshot;

/// A departure as the sequencer needs it.
#[derive(Debug, Clone, PartialEq)]
struct Dep {
    plan: Departure,
    /// Loading time at a door with factor 1.
    load_ms: Millis,
    /// In load order (reverse delivery order).
    stops: Vec<LoadStop>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    door: usize,
    start: Millis,
    end: Millis,
}

/// Who is at a docked door.
#[derive(Debug, Clone, PartialEq)]
struct Occupant {
    departure: Option<String>,
    since: Millis,
}

/// The live dock planner. Feed it the plan, events and the staging forecast
/// in log order; [`DockPlanner::decide`] each round.
#[derive(Debug, Clone)]
pub struct DockPlanner {
    config: LiveConfig,
    plan_version: u64,
    deps: Vec<Dep>,
    /// Door index -> state (config order); unknown doors start free.
    doors: Vec<DoorState>,
    occupants: BTreeMap<usize, Occupant>,
    arrived: BTreeMap<String, Millis>,
    /// Staging forecast used at the last replan.
    planned_ready: BTreeMap<String, Millis>,
    /// Latest schedule, and what was last issued per departure.
    schedule: BTreeMap<String, Slot>,
    issued: BTreeMap<String, Slot>,
    /// Departure -> the door it was called to.
    called: BTreeMap<String, usize>,
    /// Loaded and gone.
    done: BTreeSet<String>,
    /// Door index -> it has reported a vehicle (docked or loading): its
    /// vehicles leave when it is free again, not at their planned end.
    senses_vehicles: Vec<bool>,
    /// Loading lists last issued, and those to issue this round.
    lists: BTreeMap<String, Vec<LoadStop>>,
    pending_lists: Vec<(String, ListReason)>,
    /// What changed since the last replan.
    triggers: Vec<DockReason>,
}

impl DockPlanner {
    pub fn new(config: LiveConfig) -> DockPlanner {
        let n = config.doors.len();
        let doors = vec![DoorState::Free; n];
        DockPlanner {
            config,
            plan_version: 0,
            deps: Vec::new(),
            doors,
            occupants: BTreeMap::new(),
            arrived: BTreeMap::new(),
            planned_ready: BTreeMap::new(),
            schedule: BTreeMap::new(),
            issued: BTreeMap::new(),
            called: BTreeMap::new(),
            done: BTreeSet::new(),
            senses_vehicles: vec![false; n],
            lists: BTreeMap::new(),
            pending_lists: Vec::new(),
            triggers: Vec::new(),
        }
    }

    pub fn config(&self) -> &LiveConfig {
        &self.config
    }

    fn door_ix(&self, id: &str) -> Option<usize> {
        self.config.doors.iter().position(|d| d.id == id)
    }

    /// Take a new plan: departures, planned doors, stops. Loading lists go
    /// out for departures new to the plan or whose stops changed.
    pub fn set_plan(&mut self, plan: &SitePlan, now: Millis) {
        let mut lines: HashMap<&str, u64> = HashMap::new();
        let mut orders: HashMap<(&str, &str), Vec<String>> = HashMap::new();
        for o in plan.waves.iter().flat_map(|w| &w.orders) {
            *lines.entry(o.departure.as_str()).or_default() += o.lines.len() as u64;
            orders
                .entry((o.departure.as_str(), o.stop.as_str()))
                .or_default()
                .push(o.id.clone());
        }
        self.plan_version = plan.version;
        self.deps = plan
            .departures
            .iter()
            .map(|d| Dep {
                plan: d.clone(),
                load_ms: d
                    .load
                    .load_ms(lines.get(d.id.as_str()).copied().unwrap_or(0)),
                stops: d
                    .stops
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, s)| LoadStop {
                        stop: s.id.clone(),
                        name: s.name.clone(),
                        delivery_seq: i as u32 + 1,
                        orders: orders
                            .get(&(d.id.as_str(), s.id.as_str()))
                            .cloned()
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        self.forget(now);
        self.pending_lists.clear();
        for d in &self.deps {
            let reason = match self.lists.get(&d.plan.id) {
                None => ListReason::NewPlan,
                Some(old) if *old != d.stops => ListReason::StopsChanged,
                Some(_) => continue,
            };
            self.pending_lists.push((d.plan.id.clone(), reason));
        }
        self.triggers.push(DockReason::NewPlan {
            version: plan.version,
        });
    }

    /// Drop what is kept about departures no longer in the plan, so a
    /// long-running agent's state stays the size of its plan. Arrivals of
    /// the last day are kept: the gate may report a vehicle before the plan
    /// that names its departure arrives.
    fn forget(&mut self, now: Millis) {
        let ids: BTreeSet<&str> = self.deps.iter().map(|d| d.plan.id.as_str()).collect();
        let keep = |d: &String| ids.contains(d.as_str());
        self.planned_ready.retain(|d, _| keep(d));
        self.schedule.retain(|d, _| keep(d));
        self.issued.retain(|d, _| keep(d));
        self.called.retain(|d, _| keep(d));
        self.done.retain(keep);
        self.lists.retain(|d, _| keep(d));
        self.arrived
            .retain(|d, at| keep(d) || *at >= now - 24 * 3_600_000);
    }

    /// Take in a site event: door changes and vehicle arrivals.
    pub fn observe(&mut self, event: &EventBody, _now: Millis) {
        match event {
            EventBody::DoorChanged { door, to, at, .. } => self.door_changed(door, *to, *at),
            EventBody::VehicleArrived { departure, at }
                if !self.arrived.contains_key(departure) =>
            {
                self.arrived.insert(departure.clone(), *at);
                self.triggers.push(DockReason::Arrival {
                    departure: departure.clone(),
                });
            }
            _ => {}
        }
    }

    fn door_changed(&mut self, door: &str, to: DoorState, at: Millis) {
        let Some(k) = self.door_ix(door) else {
            return; // not a door the sequencer plans
        };
        let from = std::mem::replace(&mut self.doors[k], to);
        let down = |s: DoorState| matches!(s, DoorState::Fault | DoorState::OutOfService);
        let busy = |s: DoorState| matches!(s, DoorState::VehicleDocked | DoorState::Loading);
        let door = door.to_owned();
        if down(to) && !down(from) {
            // A vehicle at a broken door is planned again like any other.
            self.occupants.remove(&k);
            self.triggers.push(DockReason::DoorDown {
                door: door.clone(),
                state: to,
            });
        }
        if down(from) && !down(to) {
            self.triggers
                .push(DockReason::DoorFreed { door: door.clone() });
        }
        if busy(from) && to == DoorState::Free {
            // Its vehicle has left: loaded.
            if let Some(Occupant {
                departure: Some(dep),
                ..
            }) = self.occupants.remove(&k)
            {
                self.done.insert(dep);
            }
            self.triggers
                .push(DockReason::DoorFreed { door: door.clone() });
        }
        if busy(to) && !busy(from) {
            self.senses_vehicles[k] = true;
            let departure = self.occupant_for(k);
            if departure.is_none() {
                self.triggers.push(DockReason::DoorOccupied { door });
            }
            self.occupants.insert(
                k,
                Occupant {
                    departure,
                    since: at,
                },
            );
        }
    }

    /// The vehicle that just docked at door `k`: the one called there, else
    /// the first arrived vehicle planned there.
    fn occupant_for(&self, k: usize) -> Option<String> {
        let docked: BTreeSet<&String> = self
            .occupants
            .values()
            .filter_map(|o| o.departure.as_ref())
            .collect();
        let free = |d: &&String| !self.done.contains(*d) && !docked.contains(d);
        let called = self
            .called
            .iter()
            .filter(|(d, &door)| door == k && free(d))
            .map(|(d, _)| d)
            .min_by_key(|d| self.schedule.get(*d).map_or(Millis::MAX, |s| s.start));
        called
            .or_else(|| {
                self.schedule
                    .iter()
                    .filter(|(d, s)| s.door == k && free(d) && self.arrived.contains_key(*d))
                    .min_by_key(|(_, s)| s.start)
                    .map(|(d, _)| d)
            })
            .cloned()
    }

    /// Whether a replan is due (something changed since the last one).
    pub fn pending(&self) -> bool {
        !self.triggers.is_empty()
    }

    /// One round at `now`. `staged` is the wave planner's forecast: per
    /// departure, when its goods are staged behind the door.
    pub fn decide(&mut self, now: Millis, staged: &HashMap<String, Millis>) -> Vec<Decision> {
        if self.deps.is_empty() && self.pending_lists.is_empty() {
            self.triggers.clear();
            return Vec::new();
        }
        self.expire(now);
        let shift = ms(self.config.ready_shift_min);
        for d in &self.deps {
            if let (Some(&from), Some(&to)) =
                (self.planned_ready.get(&d.plan.id), staged.get(&d.plan.id))
            {
                if (to - from).abs() >= shift && self.schedule.contains_key(&d.plan.id) {
                    self.triggers.push(DockReason::ReadyShift {
                        departure: d.plan.id.clone(),
                        from,
                        to,
                    });
                }
            }
        }
        let mut out = Vec::new();
        if !self.triggers.is_empty() {
            out.extend(self.replan(now, staged));
            self.triggers.clear();
        }
        for (dep, reason) in std::mem::take(&mut self.pending_lists) {
            let Some(d) = self.deps.iter().find(|d| d.plan.id == dep) else {
                continue;
            };
            let door = self
                .schedule
                .get(&dep)
                .map(|s| self.config.doors[s.door].id.clone())
                .or_else(|| d.plan.door.clone());
            self.lists.insert(dep.clone(), d.stops.clone());
            out.push(Decision::LoadingList {
                departure: dep,
                door,
                stops: d.stops.clone(),
                reason,
                at: now,
                plan_version: self.plan_version,
            });
        }
        out.extend(self.calls(now));
        out
    }

    /// At a door that has never reported a vehicle (no presence sensor, or
    /// only a fault signal mapped) a vehicle counts as loaded and gone at its
    /// planned end; at one that has, when the door is free again.
    fn expire(&mut self, now: Millis) {
        for (d, s) in &self.schedule {
            if s.end < now && !self.senses_vehicles[s.door] {
                self.done.insert(d.clone());
            }
        }
    }

    fn replan(&mut self, now: Millis, staged: &HashMap<String, Millis>) -> Vec<Decision> {
        let snap = self.snapshot(now, staged);
        let p = &snap.problem;
        let best = if p.vehicles.is_empty() || p.validate().is_err() {
            Schedule::empty(p.doors.len())
        } else {
            let start = construct::best_rule(p).1;
            let mut budget = Rounds(self.config.max_rounds);
            search::iterate(p, start, self.config.seed, &mut budget)
        };
        self.schedule.clear();
        for (v, (i, slot)) in best.slots(p).into_iter().enumerate() {
            if i == usize::MAX {
                continue; // empty schedule
            }
            let slot = Slot {
                door: snap.open[i],
                start: slot.start,
                end: slot.end,
            };
            self.schedule.insert(p.vehicles[v].id.clone(), slot);
        }
        self.planned_ready = snap
            .vehicles
            .iter()
            .map(|c| (c.departure.clone(), c.ready))
            .collect();
        self.assignments(&snap, now)
    }

    /// Dock assignments for the vehicles whose door changed, or whose
    /// start moved by `start_shift_min`, since they were last issued.
    fn assignments(&mut self, snap: &Snapshot, now: Millis) -> Vec<Decision> {
        let available: Vec<String> = snap.problem.doors.iter().map(|d| d.id.clone()).collect();
        let step = ms(self.config.start_shift_min);
        let mut changed: Vec<(Millis, Decision)> = Vec::new();
        for (v, c) in snap.vehicles.iter().enumerate() {
            let Some(&slot) = self.schedule.get(&c.departure) else {
                continue;
            };
            let before = self.issued.get(&c.departure).copied();
            if before.is_some_and(|b| b.door == slot.door && (b.start - slot.start).abs() < step) {
                continue;
            }
            let i = snap
                .open
                .iter()
                .position(|&o| o == slot.door)
                .expect("scheduled at an open door");
            let decision = Decision::DockAssignment {
                departure: c.departure.clone(),
                door: self.config.doors[slot.door].id.clone(),
                previous_door: before
                    .filter(|b| b.door != slot.door)
                    .map(|b| self.config.doors[b.door].id.clone()),
                planned_start: slot.start,
                planned_end: slot.end,
                cutoff: snap.problem.vehicles[v].due,
                reason: self.reason_for(&c.departure, before.map(|b| b.door)),
                at: now,
                inputs: DockInputs {
                    plan_version: self.plan_version,
                    arrived_at: c.arrived,
                    ready_at: c.ready,
                    load_ms: snap.problem.vehicles[v].load_ms[i]
                        .expect("scheduled at an eligible door"),
                    doors_available: available.clone(),
                },
            };
            changed.push((slot.start, decision));
            self.issued.insert(c.departure.clone(), slot);
        }
        changed.sort_by_key(|(start, d)| (*start, d.kind()));
        changed.into_iter().map(|(_, d)| d).collect()
    }

    /// The trigger that concerns this vehicle most: its own door going
    /// down, its arrival, its ready time; else what set the replan off.
    fn reason_for(&self, dep: &str, previous_door: Option<usize>) -> DockReason {
        let own = self.triggers.iter().find(|t| match t {
            DockReason::DoorDown { door, .. } => {
                previous_door.is_some_and(|k| self.config.doors[k].id == *door)
            }
            DockReason::Arrival { departure } | DockReason::ReadyShift { departure, .. } => {
                departure == dep
            }
            _ => false,
        });
        own.or(self.triggers.first())
            .cloned()
            .unwrap_or(DockReason::NewPlan {
                version: self.plan_version,
            })
    }

    /// Vehicles on the yard whose start is within the call lead time.
    fn calls(&mut self, now: Millis) -> Vec<Decision> {
        let lead = ms(self.config.call_lead_min);
        let docked: BTreeSet<&String> = self
            .occupants
            .values()
            .filter_map(|o| o.departure.as_ref())
            .collect();
        let mut due: Vec<(Millis, String, usize)> = self
            .schedule
            .iter()
            .filter(|(d, s)| {
                self.arrived.contains_key(*d)
                    && !docked.contains(d)
                    && !self.done.contains(*d)
                    && s.start - lead <= now
                    && self.called.get(*d) != Some(&s.door)
            })
            .map(|(d, s)| (s.start, d.clone(), s.door))
            .collect();
        due.sort();
        due.into_iter()
            .map(|(start, dep, k)| {
                let reason = match self.called.insert(dep.clone(), k) {
                    Some(from) => CallReason::DoorChanged {
                        from_door: self.config.doors[from].id.clone(),
                    },
                    None => CallReason::StartDue { call_lead_ms: lead },
                };
                Decision::CallVehicle {
                    departure: dep,
                    door: self.config.doors[k].id.clone(),
                    planned_start: start,
                    reason,
                    at: now,
                    plan_version: self.plan_version,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
