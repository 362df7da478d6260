use std::collections::HashMap;

use super::*;
use crate::domain::plan::{Departure, LoadModel, Order, OrderLine, Stop, Wave, Zone};
use crate::domain::Signals;

const T0: Millis = 1_795_586_400_000; // 2026-11-25T06:00:00Z
const M: Millis = 60_000;

fn config() -> LiveConfig {
    LiveConfig {
        doors: ["D01", "D02", "D03"]
            .iter()
            .enumerate()
            .map(|(i, id)| DoorSpec {
                id: id.to_string(),
                load_factor: 1.0 + 0.2 * i as f64,
                carriers: Vec::new(),
            })
            .collect(),
        ..LiveConfig::default()
    }
}

/// Departures `(id, cutoff offset min, stops)`, each with one order per stop
/// of 10 lines; loading 30 min at factor 1.
fn plan(version: u64, deps: &[(&str, i64, &[&str])]) -> SitePlan {
    SitePlan {
        site: "dc".into(),
        version,
        generated_at: T0,
        zones: vec![Zone {
            id: "z".into(),
            standard_lines_per_hour: 60.0,
            headcount: 2,
            shifts: Vec::new(),
        }],
        departures: deps
            .iter()
            .map(|(id, cutoff, stops)| Departure {
                id: id.to_string(),
                carrier: "C".into(),
                scheduled_at: T0 + cutoff * M - 10 * M,
                cutoff: T0 + cutoff * M,
                door: None,
                vehicle_due: Some(T0),
                stops: stops
                    .iter()
                    .map(|s| Stop {
                        id: s.to_string(),
                        name: None,
                    })
                    .collect(),
                load: LoadModel {
                    staging_s: 300.0,
                    fixed_s: 600.0,
                    per_line_s: 1200.0 / (10.0 * stops.len() as f64),
                },
            })
            .collect(),
        waves: vec![Wave {
            id: "W1".into(),
            planned_release: T0,
            orders: deps
                .iter()
                .flat_map(|(id, _, stops)| {
                    stops.iter().map(move |s| Order {
                        id: format!("{id}-{s}"),
                        departure: id.to_string(),
                        stop: s.to_string(),
                        locked: false,
                        lines: (0..10)
                            .map(|l| OrderLine {
                                id: l.to_string(),
                                sku: None,
                                zone: "z".into(),
                                qty: 1,
                            })
                            .collect(),
                    })
                })
                .collect(),
        }],
    }
}

fn door(id: &str, to: DoorState, at: Millis) -> EventBody {
    EventBody::DoorChanged {
        door: id.into(),
        device: "plc".into(),
        from: None,
        to,
        signals: Signals::new(),
        at,
    }
}

fn arrived(dep: &str, at: Millis) -> EventBody {
    EventBody::VehicleArrived {
        departure: dep.into(),
        at,
    }
}

fn staged(all: &[(&str, Millis)]) -> HashMap<String, Millis> {
    all.iter().map(|(d, t)| (d.to_string(), *t)).collect()
}

/// Departure -> door of the dock assignments in `out`.
fn assignments(out: &[Decision]) -> Vec<(String, String, Option<String>, DockReason)> {
    out.iter()
        .filter_map(|d| match d {
            Decision::DockAssignment {
                departure,
                door,
                previous_door,
                reason,
                ..
            } => Some((
                departure.clone(),
                door.clone(),
                previous_door.clone(),
                reason.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn kinds(out: &[Decision]) -> Vec<&'static str> {
    out.iter().map(Decision::kind).collect()
}

#[test]
fn a_plan_gives_assignments_and_loading_lists_and_nothing_more_until_something_changes() {
    let mut p = DockPlanner::new(config());
    p.set_plan(
        &plan(1, &[("DEP-1", 120, &["s1"]), ("DEP-2", 180, &["s1"])]),
        T0,
    );
    let ready = staged(&[("DEP-1", T0 + 20 * M), ("DEP-2", T0 + 40 * M)]);
    let out = p.decide(T0, &ready);
    let a = assignments(&out);
    assert_eq!(a.len(), 2, "{out:?}");
    // Both on the nearest door is not possible at once: two fastest doors.
    assert!(a
        .iter()
        .all(|(_, _, prev, r)| prev.is_none() && *r == DockReason::NewPlan { version: 1 }));
    assert_eq!(
        kinds(&out).iter().filter(|k| **k == "loading_list").count(),
        2
    );
    // Nothing changed: no replan, no decision.
    assert!(p.decide(T0 + M, &ready).is_empty());
    assert!(p.decide(T0 + 2 * M, &ready).is_empty());
}

#[test]
fn a_door_fault_moves_its_vehicles_to_another_door() {
    let mut p = DockPlanner::new(config());
    p.set_plan(&plan(1, &[("DEP-1", 300, &["s1"])]), T0);
    let ready = staged(&[("DEP-1", T0 + 60 * M)]);
    let out = p.decide(T0, &ready);
    let a = assignments(&out);
    assert_eq!(a[0].1, "D01", "the nearest door: {a:?}");
    p.observe(&door("D01", DoorState::Fault, T0 + 5 * M), T0 + 5 * M);
    let out = p.decide(T0 + 6 * M, &ready);
    let a = assignments(&out);
    assert_eq!(a.len(), 1, "{out:?}");
    let (dep, to, from, reason) = &a[0];
    assert_eq!(
        (dep.as_str(), to.as_str(), from.as_deref()),
        ("DEP-1", "D02", Some("D01"))
    );
    assert_eq!(
        *reason,
        DockReason::DoorDown {
            door: "D01".into(),
            state: DoorState::Fault
        }
    );
    match &out[0] {
        Decision::DockAssignment { inputs, .. } => {
            assert_eq!(inputs.doors_available, vec!["D02", "D03"]);
        }
        other => panic!("{other:?}"),
    }
    // Freed again: D01 would save 6 minutes of loading, less than the
    // 10-minute change penalty: the vehicle stays where it was sent.
    p.observe(&door("D01", DoorState::Free, T0 + 10 * M), T0 + 10 * M);
    assert!(assignments(&p.decide(T0 + 11 * M, &ready)).is_empty());
}

#[test]
fn an_arrival_calls_the_vehicle_from_the_yard_when_its_start_is_near() {
    let mut p = DockPlanner::new(config());
    p.set_plan(&plan(1, &[("DEP-1", 120, &["s1"])]), T0);
    let ready = staged(&[("DEP-1", T0 + 30 * M)]);
    p.decide(T0, &ready);
    // Planned to start at T0+30 (goods staged); not on the yard yet: no call.
    assert!(p.decide(T0 + 20 * M, &ready).is_empty());
    p.observe(&arrived("DEP-1", T0 + 21 * M), T0 + 21 * M);
    let out = p.decide(T0 + 22 * M, &ready);
    let call = out
        .iter()
        .find_map(|d| match d {
            Decision::CallVehicle {
                departure,
                door,
                planned_start,
                reason,
                ..
            } => Some((
                departure.clone(),
                door.clone(),
                *planned_start,
                reason.clone(),
            )),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a call: {out:?}"));
    assert_eq!(
        call,
        (
            "DEP-1".into(),
            "D01".into(),
            T0 + 30 * M,
            CallReason::StartDue {
                call_lead_ms: 15 * M
            }
        )
    );
    // Called once.
    assert!(p.decide(T0 + 23 * M, &ready).is_empty());
}

#[test]
fn a_vehicle_far_from_its_start_is_called_only_when_the_lead_time_is_reached() {
    let mut p = DockPlanner::new(config());
    p.set_plan(&plan(1, &[("DEP-1", 300, &["s1"])]), T0);
    let ready = staged(&[("DEP-1", T0 + 120 * M)]);
    p.observe(&arrived("DEP-1", T0), T0);
    let out = p.decide(T0, &ready);
    assert_eq!(kinds(&out), vec!["dock_assignment", "loading_list"]);
    assert!(p.decide(T0 + 100 * M, &ready).is_empty());
    let out = p.decide(T0 + 105 * M, &ready);
    assert_eq!(kinds(&out), vec!["call_vehicle"]);
}

#[test]
fn a_ready_shift_below_the_threshold_does_not_replan() {
    let mut p = DockPlanner::new(config());
    p.set_plan(&plan(1, &[("DEP-1", 300, &["s1"])]), T0);
    p.decide(T0, &staged(&[("DEP-1", T0 + 60 * M)]));
    // 9 minutes later than planned: below the 10-minute threshold.
    assert!(p
        .decide(T0 + M, &staged(&[("DEP-1", T0 + 69 * M)]))
        .is_empty());
    assert!(!p.pending());
    // 25 minutes: replan, and the start moved by more than 10 minutes.
    let out = p.decide(T0 + 2 * M, &staged(&[("DEP-1", T0 + 85 * M)]));
    let a = assignments(&out);
    assert_eq!(a.len(), 1, "{out:?}");
    assert_eq!(
        a[0].3,
        DockReason::ReadyShift {
            departure: "DEP-1".into(),
            from: T0 + 60 * M,
            to: T0 + 85 * M
        }
    );
}

#[test]
fn a_frozen_vehicle_keeps_its_door() {
    let mut cfg = config();
    cfg.change_penalty_min = 0.0; // only the frozen zone holds it
    let mut p = DockPlanner::new(cfg);
    p.set_plan(
        &plan(1, &[("DEP-1", 300, &["s1"]), ("DEP-2", 100, &["s1"])]),
        T0,
    );
    // DEP-1 ready now, DEP-2 much later: DEP-1 gets the nearest door.
    let ready = staged(&[("DEP-1", T0 + 10 * M), ("DEP-2", T0 + 200 * M)]);
    let a = assignments(&p.decide(T0, &ready));
    let d1 = a.iter().find(|a| a.0 == "DEP-1").expect("DEP-1 planned");
    assert_eq!(d1.1, "D01");
    // DEP-2's goods are suddenly ready with a tight cutoff: it would want
    // D01 (fastest), but DEP-1 starts within the frozen horizon.
    let ready = staged(&[("DEP-1", T0 + 10 * M), ("DEP-2", T0 + 5 * M)]);
    let out = p.decide(T0 + 2 * M, &ready);
    let a = assignments(&out);
    assert!(a.iter().all(|a| a.0 != "DEP-1"), "DEP-1 moved: {a:?}");
    let d2 = a.iter().find(|a| a.0 == "DEP-2").expect("DEP-2 replanned");
    assert_ne!(d2.1, "D01", "{a:?}");
}

#[test]
fn a_docked_vehicle_stays_until_its_door_is_free_then_it_is_gone() {
    let mut p = DockPlanner::new(config());
    p.set_plan(
        &plan(1, &[("DEP-1", 300, &["s1"]), ("DEP-2", 300, &["s1"])]),
        T0,
    );
    let ready = staged(&[("DEP-1", T0), ("DEP-2", T0)]);
    p.observe(&arrived("DEP-1", T0), T0);
    p.observe(&arrived("DEP-2", T0), T0);
    let out = p.decide(T0, &ready);
    let calls: Vec<_> = out
        .iter()
        .filter_map(|d| match d {
            Decision::CallVehicle {
                departure, door, ..
            } => Some((departure.clone(), door.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 2, "{out:?}");
    let (dep, at) = calls[0].clone();
    p.observe(&door(&at, DoorState::VehicleDocked, T0 + M), T0 + M);
    p.observe(&door(&at, DoorState::Loading, T0 + 2 * M), T0 + 2 * M);
    // A fault elsewhere replans; the docked vehicle keeps its door.
    let other = if at == "D03" { "D02" } else { "D03" };
    p.observe(&door(other, DoorState::Fault, T0 + 3 * M), T0 + 3 * M);
    let out = p.decide(T0 + 3 * M, &ready);
    assert!(
        assignments(&out).iter().all(|a| a.0 != dep),
        "the docked vehicle moved: {out:?}"
    );
    p.observe(&door(&at, DoorState::Free, T0 + 40 * M), T0 + 40 * M);
    p.decide(T0 + 41 * M, &ready);
    assert!(p.done.contains(&dep));
    assert!(!p.schedule.contains_key(&dep));
}

#[test]
fn loading_lists_load_the_last_stop_first_and_follow_plan_changes() {
    let mut p = DockPlanner::new(config());
    p.set_plan(&plan(1, &[("DEP-1", 300, &["s1", "s2", "s3"])]), T0);
    let out = p.decide(T0, &HashMap::new());
    let list = |out: &[Decision]| {
        out.iter().find_map(|d| match d {
            Decision::LoadingList {
                stops,
                reason,
                door,
                ..
            } => Some((
                stops
                    .iter()
                    .map(|s| (s.stop.clone(), s.delivery_seq, s.orders.clone()))
                    .collect::<Vec<_>>(),
                *reason,
                door.clone(),
            )),
            _ => None,
        })
    };
    let (stops, reason, door) = list(&out).expect("a loading list");
    assert_eq!(
        stops,
        vec![
            ("s3".to_string(), 3, vec!["DEP-1-s3".to_string()]),
            ("s2".to_string(), 2, vec!["DEP-1-s2".to_string()]),
            ("s1".to_string(), 1, vec!["DEP-1-s1".to_string()]),
        ]
    );
    assert_eq!(reason, ListReason::NewPlan);
    assert_eq!(door.as_deref(), Some("D01"));
    // The same stops in a new version: no new list.
    p.set_plan(&plan(2, &[("DEP-1", 300, &["s1", "s2", "s3"])]), T0);
    assert!(list(&p.decide(T0 + M, &HashMap::new())).is_none());
    // A stop dropped: re-issued.
    p.set_plan(&plan(3, &[("DEP-1", 300, &["s1", "s3"])]), T0);
    let (stops, reason, _) = list(&p.decide(T0 + 2 * M, &HashMap::new())).expect("re-issued");
    assert_eq!(reason, ListReason::StopsChanged);
    assert_eq!(
        stops.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        vec!["s3", "s1"]
    );
}

#[test]
fn a_door_taken_for_carriers_only_takes_their_vehicles() {
    let mut cfg = config();
    cfg.doors[0].carriers = vec!["REEFER".into()];
    let mut p = DockPlanner::new(cfg);
    p.set_plan(&plan(1, &[("DEP-1", 300, &["s1"])]), T0);
    let a = assignments(&p.decide(T0, &staged(&[("DEP-1", T0)])));
    assert_eq!(a[0].1, "D02", "carrier C may not use D01: {a:?}");
}

/// A day's inputs in log order: the same inputs give the same decisions.
#[test]
fn the_same_events_give_the_same_decisions() {
    let run = || {
        let mut p = DockPlanner::new(config());
        p.set_plan(
            &plan(
                1,
                &[
                    ("DEP-1", 90, &["a", "b"]),
                    ("DEP-2", 120, &["a"]),
                    ("DEP-3", 150, &["c", "d", "e"]),
                    ("DEP-4", 160, &["a"]),
                    ("DEP-5", 200, &["b"]),
                ],
            ),
            T0,
        );
        let mut out = Vec::new();
        for minute in 0..240 {
            let now = T0 + minute * M;
            match minute {
                5 => p.observe(&arrived("DEP-2", now), now),
                12 => p.observe(&arrived("DEP-1", now), now),
                30 => p.observe(&door("D01", DoorState::Fault, now), now),
                33 => p.observe(&arrived("DEP-3", now), now),
                50 => p.observe(&door("D01", DoorState::Free, now), now),
                61 => p.observe(&arrived("DEP-4", now), now),
                _ => {}
            }
            let drift = (minute / 20) * 7 * M;
            let ready = staged(&[
                ("DEP-1", T0 + 20 * M),
                ("DEP-2", T0 + 40 * M + drift),
                ("DEP-3", T0 + 60 * M),
                ("DEP-4", T0 + 70 * M),
                ("DEP-5", T0 + 100 * M + drift),
            ]);
            out.extend(p.decide(now, &ready));
        }
        out
    };
    let a = run();
    assert!(a.len() > 10, "{a:?}");
    assert!(kinds(&a).contains(&"call_vehicle"));
    assert_eq!(a, run());
}

#[test]
fn without_door_sensors_a_vehicle_is_gone_after_its_planned_end() {
    let mut p = DockPlanner::new(config());
    p.set_plan(
        &plan(1, &[("DEP-1", 300, &["s1"]), ("DEP-2", 400, &["s1"])]),
        T0,
    );
    let ready = staged(&[("DEP-1", T0), ("DEP-2", T0 + 200 * M)]);
    p.decide(T0, &ready);
    let end = p.schedule["DEP-1"].end;
    // An arrival after DEP-1's planned end replans; DEP-1 is not planned again.
    p.observe(&arrived("DEP-2", end + M), end + M);
    let out = p.decide(end + 2 * M, &ready);
    assert!(assignments(&out).iter().all(|a| a.0 != "DEP-1"), "{out:?}");
    assert!(p.done.contains("DEP-1") && !p.schedule.contains_key("DEP-1"));
}

#[test]
fn departures_dropped_from_the_plan_are_forgotten() {
    let mut p = DockPlanner::new(config());
    p.set_plan(
        &plan(1, &[("DEP-1", 300, &["s1"]), ("DEP-2", 300, &["s1"])]),
        T0,
    );
    p.observe(&arrived("DEP-1", T0), T0);
    p.decide(T0, &staged(&[("DEP-1", T0), ("DEP-2", T0)]));
    p.set_plan(&plan(2, &[("DEP-2", 300, &["s1"])]), T0 + M);
    let out = p.decide(T0 + M, &staged(&[("DEP-2", T0)]));
    assert!(
        out.iter().all(|d| !format!("{d:?}").contains("DEP-1")),
        "{out:?}"
    );
    assert!(!p.schedule.contains_key("DEP-1") && !p.lists.contains_key("DEP-1"));
    // An arrival of the last day is kept for when its departure is back.
    assert!(p.arrived.contains_key("DEP-1"));
    p.set_plan(
        &plan(3, &[("DEP-1", 300, &["s1"]), ("DEP-2", 300, &["s1"])]),
        T0 + 2 * M,
    );
    let out = p.decide(T0 + 2 * M, &staged(&[("DEP-1", T0), ("DEP-2", T0)]));
    assert!(kinds(&out).contains(&"loading_list"), "{out:?}");
}

#[test]
fn without_door_sensors_a_called_vehicle_is_taken_to_load_as_planned() {
    let mut p = DockPlanner::new(config());
    p.set_plan(
        &plan(1, &[("DEP-1", 300, &["s1"]), ("DEP-2", 300, &["s1"])]),
        T0,
    );
    let ready = staged(&[("DEP-1", T0), ("DEP-2", T0 + 100 * M)]);
    p.observe(&arrived("DEP-1", T0), T0);
    let out = p.decide(T0, &ready);
    assert!(kinds(&out).contains(&"call_vehicle"), "{out:?}");
    let start = p.schedule["DEP-1"].start;
    // Later replans (another arrival, a plan) do not move its start to now:
    // nothing says it is not loading, so it is.
    p.observe(&arrived("DEP-2", T0 + 20 * M), T0 + 20 * M);
    let out = p.decide(T0 + 20 * M, &ready);
    assert!(assignments(&out).iter().all(|a| a.0 != "DEP-1"), "{out:?}");
    assert_eq!(p.schedule["DEP-1"].start, start);
}
