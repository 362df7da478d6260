//! The demo's door schedules, computed in the scenario engine with the pure
//! sequencer (`plan::docks`; the agent runs it too, but the simulated yard
//! does not follow its calls yet): *planned* = the sequencer, re-run when a door faults
//! (a resequence); *unplanned* = first come, first served at the first free
//! door. Both take the same vehicles, ready when their picking (as it really
//! went) is staged and the vehicle is on the yard.

use crate::domain::Millis;
use crate::plan::docks::timing::Slot;
use crate::plan::docks::{construct, search, DockDoor, DockProblem, DockVehicle, Rounds};
use crate::sim::day::{Day, DayOutcome, Incident};

/// Search passes per (re)plan: deterministic, well under a second.
const ROUNDS: u32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorPolicy {
    Sequencer,
    FirstComeFirstServed,
}

/// A departure's place at the doors.
#[derive(Debug, Clone, PartialEq)]
pub struct Loading {
    pub departure: usize,
    pub door: usize,
    pub slot: Slot,
}

/// A door fault moving vehicles off the faulted door.
#[derive(Debug, Clone, PartialEq)]
pub struct Resequence {
    pub at: Millis,
    pub door: String,
    pub until: Millis,
    /// (departure id, from door, to door).
    pub moved: Vec<(String, String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DoorDay {
    pub loadings: Vec<Loading>,
    pub resequences: Vec<Resequence>,
}

/// Schedule every served departure's loading under `policy`.
pub fn schedule(day: &Day, outcome: &DayOutcome, policy: DoorPolicy) -> DoorDay {
    let vehicles: Vec<(usize, DockVehicle)> = outcome
        .departures
        .iter()
        .enumerate()
        .filter(|(_, o)| o.orders > 0)
        .map(|(i, o)| {
            let d = &day.departures[i];
            let truth = &day.truth[i];
            let staging = (d.load.staging_ms() as f64 * truth.staging_factor) as Millis;
            let load = (d.load.load_ms(o.lines) as f64 * truth.load_factor) as Millis;
            let ready = o.pick_done.map_or(o.ready, |p| p + staging);
            let v = DockVehicle {
                id: d.id.clone(),
                weight: 1,
                arrival: truth.vehicle_arrival,
                release: ready.max(truth.vehicle_arrival),
                due: d.cutoff,
                load_ms: vec![Some(load); day.doors.len()],
                current_door: None,
                frozen: false,
            };
            (i, v)
        })
        .collect();
    let mut faults: Vec<(Millis, usize, Millis)> = day
        .incidents
        .iter()
        .filter_map(|i| match i {
            Incident::DoorOutage { door, from, until } => day
                .doors
                .iter()
                .position(|d| d == door)
                .map(|k| (*from, k, *until)),
            _ => None,
        })
        .collect();
    faults.sort();
    let mut open_from = vec![day.start; day.doors.len()];
    let mut pending = vehicles;
    let mut done: Vec<Loading> = Vec::new();
    let mut resequences = Vec::new();
    let mut current = plan(&open_from, &pending, policy);
    for &(at, k, until) in &faults {
        // What has started by the fault stays; the rest is planned again
        // with the faulted door closed until it is back.
        let mut rest = Vec::new();
        for ((i, mut v), (door, slot)) in pending.into_iter().zip(current) {
            if slot.start < at {
                open_from[door] = open_from[door].max(slot.end);
                done.push(Loading {
                    departure: i,
                    door,
                    slot,
                });
            } else {
                v.current_door = Some(door);
                rest.push((i, v));
            }
        }
        open_from[k] = open_from[k].max(until);
        for o in open_from.iter_mut() {
            *o = (*o).max(at);
        }
        let next = plan(&open_from, &rest, policy);
        let moved = rest
            .iter()
            .zip(&next)
            .filter(|((_, v), (door, _))| v.current_door == Some(k) && *door != k)
            .map(|((_, v), (door, _))| {
                (v.id.clone(), day.doors[k].clone(), day.doors[*door].clone())
            })
            .collect();
        resequences.push(Resequence {
            at,
            door: day.doors[k].clone(),
            until,
            moved,
        });
        pending = rest;
        current = next;
    }
    for ((i, _), (door, slot)) in pending.into_iter().zip(current) {
        done.push(Loading {
            departure: i,
            door,
            slot,
        });
    }
    done.sort_by_key(|l| l.departure);
    DoorDay {
        loadings: done,
        resequences,
    }
}

/// Each vehicle's (door, slot), in `vehicles` order.
fn plan(
    open_from: &[Millis],
    vehicles: &[(usize, DockVehicle)],
    policy: DoorPolicy,
) -> Vec<(usize, Slot)> {
    let p = DockProblem {
        doors: open_from
            .iter()
            .enumerate()
            .map(|(k, &t)| DockDoor {
                id: format!("{k}"),
                open_from: t,
                open_until: None,
            })
            .collect(),
        vehicles: vehicles.iter().map(|(_, v)| v.clone()).collect(),
        change_penalty_ms: 10 * 60_000,
    };
    let s = match policy {
        DoorPolicy::Sequencer => {
            let (_, start) = construct::best_rule(&p);
            search::iterate(&p, start, 1, &mut Rounds(ROUNDS))
        }
        DoorPolicy::FirstComeFirstServed => construct::fcfs(&p),
    };
    s.slots(&p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::scenario::Prepared;
    use crate::sim::day::{play, PlayOptions, Policy};

    #[test]
    fn a_door_fault_moves_what_was_planned_there_and_nothing_loads_at_it_meanwhile() {
        let p = Prepared::built_in();
        let outcome = play(&p.day, &Policy::Static, &PlayOptions::default());
        for policy in [DoorPolicy::Sequencer, DoorPolicy::FirstComeFirstServed] {
            let doors = schedule(&p.day, &outcome, policy);
            assert_eq!(doors.loadings.len(), outcome.served().count());
            let r = &doors.resequences[0];
            eprintln!("{policy:?}: {:?}", r.moved);
            let k = p.day.doors.iter().position(|d| *d == r.door).expect("door");
            for l in &doors.loadings {
                let overlaps = l.slot.start < r.until && l.slot.end > r.at;
                assert!(!(l.door == k && overlaps && l.slot.start >= r.at), "{l:?}");
            }
            if policy == DoorPolicy::Sequencer {
                assert!(!r.moved.is_empty(), "nothing was planned at {}", r.door);
            }
        }
    }
}
