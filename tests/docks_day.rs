//! The live dock planner through a generated DC day, beside the wave planner
//! as the agent runs them: the day's planner inputs replayed in order, with
//! its vehicles arriving at the gate and a door breaking down. What a yard
//! supervisor would notice: every vehicle on the yard gets a door and a
//! call, nobody is sent to a broken door, loading lists load the last stop
//! first, and the yard is not reshuffled round after round.

use std::collections::{BTreeMap, HashMap};

use dockside::domain::{Decision, DoorState, EventBody, Millis, Signals};
use dockside::plan::docks::live::{DockPlanner, DoorSpec, LiveConfig};
use dockside::plan::{Planner, PlannerConfig, PlannerInput};
use dockside::sim::day::{play, Day, DayConfig, PlayOptions, Policy};

const MIN: Millis = 60_000;

struct Run {
    decisions: Vec<Decision>,
    rounds: usize,
    /// The last round.
    last: Millis,
    /// The door out of service, from, until.
    outage: (String, Millis, Millis),
}

fn door_event(door: &str, to: DoorState, at: Millis) -> EventBody {
    EventBody::DoorChanged {
        door: door.into(),
        device: "plc".into(),
        from: None,
        to,
        signals: Signals::new(),
        at,
    }
}

fn run(day: &Day) -> Run {
    let options = PlayOptions {
        record_inputs: true,
        ..PlayOptions::default()
    };
    let out = play(day, &Policy::Planner(PlannerConfig::default()), &options);
    // The busiest door goes down for two hours in the middle of the day.
    let mut by_door: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &day.departures {
        *by_door.entry(d.door.as_deref().unwrap_or("")).or_default() += 1;
    }
    let busiest = by_door
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(d, _)| d.to_string())
        .expect("doors");
    let mid = day.start + 8 * 60 * MIN;
    let outage = (busiest.clone(), mid, mid + 120 * MIN);
    // Gate-ins and the door's fault, in time order, fed before each round.
    let mut extra: Vec<(Millis, EventBody)> = day
        .departures
        .iter()
        .zip(&day.truth)
        .map(|(d, t)| {
            let body = EventBody::VehicleArrived {
                departure: d.id.clone(),
                at: t.vehicle_arrival,
            };
            (t.vehicle_arrival, body)
        })
        .collect();
    extra.push((outage.1, door_event(&busiest, DoorState::Fault, outage.1)));
    extra.push((outage.2, door_event(&busiest, DoorState::Free, outage.2)));
    extra.sort_by_key(|(at, _)| *at);

    let config = LiveConfig {
        doors: day
            .doors
            .iter()
            .enumerate()
            .map(|(i, id)| DoorSpec {
                id: id.clone(),
                load_factor: 1.0 + 0.05 * (i % 5) as f64,
                carriers: Vec::new(),
            })
            .collect(),
        ..LiveConfig::default()
    };
    let mut waves = Planner::new(PlannerConfig::default());
    let mut docks = DockPlanner::new(config);
    let mut next = extra.into_iter().peekable();
    let (mut decisions, mut rounds, mut last) = (Vec::new(), 0, 0);
    for input in out.inputs {
        match input {
            PlannerInput::Plan { at, plan } => {
                if waves.set_plan(plan.clone(), at).expect("a valid plan") {
                    docks.set_plan(&plan, at);
                }
            }
            PlannerInput::Event { at, event } => {
                waves.observe(&event, at);
                docks.observe(&event, at);
            }
            PlannerInput::Signal { at, signal } => waves.signal(&signal, at),
            PlannerInput::Decide { at } => {
                while let Some((_, e)) = next.next_if(|(t, _)| *t <= at) {
                    docks.observe(&e, e.at());
                }
                waves.decide(at);
                decisions.extend(docks.decide(at, waves.staged()));
                rounds += 1;
                last = at;
            }
        }
    }
    Run {
        decisions,
        rounds,
        last,
        outage,
    }
}

#[test]
fn a_generated_day_through_the_dock_planner() {
    let day = Day::generate(7, &DayConfig::small());
    let r = run(&day);
    let arrival: HashMap<&str, Millis> = day
        .departures
        .iter()
        .zip(&day.truth)
        .map(|(d, t)| (d.id.as_str(), t.vehicle_arrival))
        .collect();
    let (mut assigned, mut called, mut listed) = (
        HashMap::<&str, usize>::new(),
        HashMap::<&str, Millis>::new(),
        HashMap::<&str, Vec<String>>::new(),
    );
    let (broken, from, until) = &r.outage;
    for d in &r.decisions {
        match d {
            Decision::DockAssignment {
                departure,
                door,
                at,
                planned_start,
                ..
            } => {
                *assigned.entry(departure).or_default() += 1;
                assert!(
                    !(door == broken && (*from..*until).contains(at)),
                    "{departure} sent to {door} while it is broken: {d:?}"
                );
                assert!(*planned_start >= *at - 15 * MIN, "{d:?}");
            }
            Decision::CallVehicle {
                departure,
                door,
                at,
                ..
            } => {
                assert!(
                    *at >= arrival[departure.as_str()],
                    "{departure} called before it came: {d:?}"
                );
                assert!(
                    !(door == broken && (*from..*until).contains(at)),
                    "{departure} called to {door} while it is broken"
                );
                called.entry(departure).or_insert(*at);
            }
            Decision::LoadingList {
                departure, stops, ..
            } => {
                listed.insert(departure, stops.iter().map(|s| s.stop.clone()).collect());
            }
            _ => {}
        }
    }
    for (d, t) in day.departures.iter().zip(&day.truth) {
        let mut route: Vec<String> = d.stops.iter().map(|s| s.id.clone()).collect();
        route.reverse();
        assert_eq!(listed.get(d.id.as_str()), Some(&route), "{}", d.id);
        // Vehicles on the yard an hour before the day's last round.
        if t.vehicle_arrival < r.last - 60 * MIN {
            assert!(
                assigned.contains_key(d.id.as_str()),
                "{} never got a door",
                d.id
            );
            assert!(called.contains_key(d.id.as_str()), "{} never called", d.id);
        }
    }
    // Event-driven and stable: few rounds say anything, few vehicles move.
    let issued: usize = assigned.values().sum();
    assert!(
        issued <= 2 * assigned.len(),
        "{issued} assignments for {} vehicles",
        assigned.len()
    );
    let talking = r
        .decisions
        .iter()
        .map(Decision::at)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(
        talking * 4 < r.rounds,
        "dock decisions in {talking} of {} rounds",
        r.rounds
    );
    // The same day gives the same decisions.
    assert_eq!(run(&day).decisions, r.decisions);
}
