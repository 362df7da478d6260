//! A schedule (a sequence of vehicles per door), its timing and its cost.
//!
//! Timing is semi-active: each vehicle starts as soon as its door is free
//! and it is released. Costs add up per door, so a move that touches two
//! doors is re-timed on those two alone, from the first position it changes.

use std::cmp::Ordering;
use std::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

use super::DockProblem;
use crate::domain::Millis;

/// The lexicographic objective, compared field by field in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cost {
    /// Weight of vehicles whose loading would run past their door's `open_until`.
    pub overrun: i64,
    /// Weighted late departures (loading ends after the cutoff).
    pub late: i64,
    /// Weighted tardiness, ms.
    pub tardiness_ms: i64,
    /// Dwell (arrival to end of loading), ms, plus the change penalty per door change.
    pub dwell_ms: i64,
    /// Vehicles moved off their current door.
    pub changes: i64,
}

impl Cost {
    fn key(&self) -> [i64; 5] {
        [
            self.overrun,
            self.late,
            self.tardiness_ms,
            self.dwell_ms,
            self.changes,
        ]
    }

    /// Every component at most `other`'s (a lower bound holds this way).
    pub fn all_le(&self, other: &Cost) -> bool {
        self.key().iter().zip(other.key()).all(|(a, b)| *a <= b)
    }
}

impl Ord for Cost {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Cost {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            overrun: self.overrun + o.overrun,
            late: self.late + o.late,
            tardiness_ms: self.tardiness_ms + o.tardiness_ms,
            dwell_ms: self.dwell_ms + o.dwell_ms,
            changes: self.changes + o.changes,
        }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        *self = *self + o;
    }
}

impl Sub for Cost {
    type Output = Cost;
    fn sub(self, o: Cost) -> Cost {
        Cost {
            overrun: self.overrun - o.overrun,
            late: self.late - o.late,
            tardiness_ms: self.tardiness_ms - o.tardiness_ms,
            dwell_ms: self.dwell_ms - o.dwell_ms,
            changes: self.changes - o.changes,
        }
    }
}

/// One vehicle's place in time at its door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: Millis,
    pub end: Millis,
}

/// The cost of `vehicle` loading at `door` from `start` (it must be eligible).
pub fn vehicle_cost(p: &DockProblem, vehicle: usize, door: usize, start: Millis) -> (Slot, Cost) {
    let v = &p.vehicles[vehicle];
    let end = start + v.load_ms[door].expect("only eligible doors are timed");
    let late = end > v.due;
    let changed = v.current_door.is_some_and(|c| c != door);
    let cost = Cost {
        overrun: if p.doors[door].open_until.is_some_and(|u| end > u) {
            v.weight
        } else {
            0
        },
        late: if late { v.weight } else { 0 },
        tardiness_ms: v.weight * (end - v.due).max(0),
        dwell_ms: (end - v.arrival).max(0) + if changed { p.change_penalty_ms } else { 0 },
        changes: changed as i64,
    };
    (Slot { start, end }, cost)
}

/// Time a door's sequence from scratch.
pub fn time_door(p: &DockProblem, door: usize, seq: &[usize]) -> (Vec<Slot>, Cost) {
    let mut t = p.doors[door].open_from;
    let mut total = Cost::default();
    let slots = seq
        .iter()
        .map(|&v| {
            let (slot, c) = vehicle_cost(p, v, door, t.max(p.vehicles[v].release));
            t = slot.end;
            total += c;
            slot
        })
        .collect();
    (slots, total)
}

/// The cost of a door running `seq` after a point where it is free at `free`.
pub fn tail_cost(
    p: &DockProblem,
    door: usize,
    free: Millis,
    seq: impl Iterator<Item = usize>,
) -> Cost {
    let mut t = free;
    let mut total = Cost::default();
    for v in seq {
        let (slot, c) = vehicle_cost(p, v, door, t.max(p.vehicles[v].release));
        t = slot.end;
        total += c;
    }
    total
}

/// Vehicles per door, in loading order. Every vehicle is on exactly one door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub doors: Vec<Vec<usize>>,
}

impl Schedule {
    pub fn empty(doors: usize) -> Schedule {
        Schedule {
            doors: vec![Vec::new(); doors],
        }
    }

    pub fn cost(&self, p: &DockProblem) -> Cost {
        self.doors
            .iter()
            .enumerate()
            .map(|(k, seq)| time_door(p, k, seq).1)
            .fold(Cost::default(), Add::add)
    }

    /// Each vehicle's door and slot, by vehicle index.
    pub fn slots(&self, p: &DockProblem) -> Vec<(usize, Slot)> {
        let mut out = vec![(usize::MAX, Slot { start: 0, end: 0 }); p.vehicles.len()];
        for (k, seq) in self.doors.iter().enumerate() {
            for (&v, slot) in seq.iter().zip(time_door(p, k, seq).0) {
                out[v] = (k, slot);
            }
        }
        out
    }

    /// Holds every vehicle once, each at an eligible door, frozen ones at
    /// their door ahead of the rest.
    pub fn is_valid(&self, p: &DockProblem) -> bool {
        let mut seen = vec![false; p.vehicles.len()];
        for (k, seq) in self.doors.iter().enumerate() {
            let mut thawed = false;
            for &v in seq {
                if v >= seen.len() || seen[v] || p.load(v, k).is_none() {
                    return false;
                }
                seen[v] = true;
                let veh = &p.vehicles[v];
                if veh.frozen && (thawed || veh.current_door != Some(k)) {
                    return false;
                }
                thawed |= !veh.frozen;
            }
        }
        self.doors.len() == p.doors.len() && seen.iter().all(|s| *s)
    }
}

/// Figures of a schedule a person reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub vehicles: usize,
    pub late: usize,
    pub weighted_late: i64,
    pub weighted_tardiness_ms: i64,
    pub total_dwell_ms: i64,
    pub mean_dwell_ms: i64,
    pub door_changes: i64,
    pub overruns: usize,
    /// Every vehicle loaded within its cutoff and its door's window.
    pub feasible: bool,
}

impl Figures {
    pub fn of(p: &DockProblem, s: &Schedule) -> Figures {
        let slots = s.slots(p);
        let mut f = Figures {
            vehicles: p.vehicles.len(),
            late: 0,
            weighted_late: 0,
            weighted_tardiness_ms: 0,
            total_dwell_ms: 0,
            mean_dwell_ms: 0,
            door_changes: 0,
            overruns: 0,
            feasible: true,
        };
        for (v, (k, slot)) in slots.iter().enumerate() {
            let c = vehicle_cost(p, v, *k, slot.start).1;
            f.late += (c.late > 0) as usize;
            f.overruns += (c.overrun > 0) as usize;
            f.weighted_late += c.late;
            f.weighted_tardiness_ms += c.tardiness_ms;
            f.total_dwell_ms += slot.end - p.vehicles[v].arrival;
            f.door_changes += c.changes;
        }
        f.feasible = f.late == 0 && f.overruns == 0;
        if f.vehicles > 0 {
            f.mean_dwell_ms = f.total_dwell_ms / f.vehicles as i64;
        }
        f
    }
}
