//! Dock-door sequencing in the running agent: a plan with departures comes
//! in, a vehicle arrives at the gate over MQTT, a door controller (the
//! simulated PLC over Modbus TCP) reports a fault; the agent publishes
//! `dock_assignment`, `call_vehicle` and `loading_list` on its decisions
//! topics, logs them, and a replay of the log reproduces them.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{modbus_door, publish_all, wait_for, Agent, Mosquitto};
use dockside::domain::time::now_ms;
use dockside::domain::EventBody;
use dockside::sim::door_plc::DoorPlc;
use serde_json::Value;

// Generous: the machine is shared, and a starved agent only answers late.
const WAIT: Duration = Duration::from_secs(120);

/// DEP-1: three stops, its wave already due, its vehicle due now;
/// DEP-2: later, one stop.
fn plan(now: i64) -> String {
    let min = 60_000;
    let order = |id: &str, dep: &str, stop: &str| {
        format!(
            r#"{{"id":"{id}","departure":"{dep}","stop":"{stop}","lines":[{{"id":"1","zone":"ambient","qty":1}},{{"id":"2","zone":"ambient","qty":1}}]}}"#
        )
    };
    let load = r#"{"staging_s":300,"fixed_s":600,"per_line_s":30}"#;
    format!(
        r#"{{"site":"dc-test","version":1,"generated_at":{gen},
  "zones":[{{"id":"ambient","standard_lines_per_hour":60,"headcount":2}}],
  "departures":[
    {{"id":"DEP-1","carrier":"C","scheduled_at":{s1},"cutoff":{c1},"vehicle_due":{now},"stops":[{{"id":"s1"}},{{"id":"s2"}},{{"id":"s3"}}],"load":{load}}},
    {{"id":"DEP-2","carrier":"C","scheduled_at":{s2},"cutoff":{c2},"vehicle_due":{v2},"stops":[{{"id":"s1"}}],"load":{load}}}
  ],
  "waves":[
    {{"id":"W1","planned_release":{r1},"orders":[{o1},{o2},{o3}]}},
    {{"id":"W2","planned_release":{r2},"orders":[{o4}]}}
  ]}}"#,
        gen = now - 10 * min,
        s1 = now + 100 * min,
        c1 = now + 120 * min,
        s2 = now + 160 * min,
        c2 = now + 180 * min,
        v2 = now + 60 * min,
        r1 = now - 5 * min,
        r2 = now + 60 * min,
        o1 = order("O-1", "DEP-1", "s1"),
        o2 = order("O-2", "DEP-1", "s2"),
        o3 = order("O-3", "DEP-1", "s3"),
        o4 = order("O-4", "DEP-2", "s1"),
    )
}

fn config(plan_file: &std::path::Path, plc_port: u16) -> String {
    format!(
        r#"
[[subscriptions]]
topic = "tms/gate/in"
format = "json"
kind = "vehicle_arrived"
[subscriptions.mapping]
id = "/id"
departure = "/departure"

[modbus]
debounce_ms = 100
[[modbus.devices]]
name = "plc-dock"
transport = "tcp"
host = "127.0.0.1"
port = {plc_port}
unit_id = 1
poll_interval_ms = 100
timeout_ms = 1000
{d1}{d2}
[planning]
round_s = 1
plan_file = "{plan}"

[planning.docks]
call_lead_min = 30
[[planning.docks.doors]]
id = "D01"
load_factor = 1.0
[[planning.docks.doors]]
id = "D02"
load_factor = 1.2
"#,
        d1 = modbus_door("D01", 0, 0),
        d2 = modbus_door("D02", 4, 1),
        plan = plan_file.display(),
    )
}

/// Published decisions seen so far: (kind, JSON).
fn seen(rx: &mpsc::Receiver<(String, Vec<u8>)>, all: &mut Vec<(String, Value)>) {
    all.extend(rx.try_iter().map(|(topic, payload)| {
        let kind = topic.rsplit('/').next().unwrap_or("").to_string();
        (
            kind,
            serde_json::from_slice(&payload).expect("decisions are JSON"),
        )
    }));
}

fn find<'a>(
    all: &'a [(String, Value)],
    kind: &str,
    pred: impl Fn(&Value) -> bool,
) -> Option<&'a Value> {
    all.iter()
        .find(|(k, v)| k == kind && pred(v))
        .map(|(_, v)| v)
}

#[test]
fn the_agent_sequences_doors_calls_vehicles_and_lists_loads_from_live_events() {
    let broker = Mosquitto::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let plc = DoorPlc::new(&[1]);
    let sim = rt.block_on(plc.serve_tcp("127.0.0.1:0")).expect("PLC sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, plan(now_ms())).expect("plan file");
    let mut agent = Agent::with_extra(broker.port, &config(&plan_file, sim.addr.port()));

    let rx = common::watch(&rt, broker.port, "dockside/dc-test/decisions/#");
    agent.start();
    agent.wait_subscribed(1);

    // The plan gives a door to DEP-1 and a loading list, last stop first.
    let mut all = Vec::new();
    wait_for(WAIT, "an assignment and a loading list for DEP-1", || {
        seen(&rx, &mut all);
        find(&all, "dock_assignment", |v| v["departure"] == "DEP-1").is_some()
            && find(&all, "loading_list", |v| v["departure"] == "DEP-1").is_some()
    });
    let first = find(&all, "dock_assignment", |v| v["departure"] == "DEP-1")
        .expect("seen")
        .clone();
    assert_eq!(first["reason"]["cause"], "new_plan", "{first}");
    let door1 = first["door"].as_str().expect("a door").to_string();
    assert_eq!(door1, "D01", "the nearest door: {first}");
    let list = find(&all, "loading_list", |v| v["departure"] == "DEP-1").expect("seen");
    let stops: Vec<&str> = list["stops"]
        .as_array()
        .expect("stops")
        .iter()
        .map(|s| s["stop"].as_str().expect("stop id"))
        .collect();
    assert_eq!(stops, ["s3", "s2", "s1"], "{list}");
    assert_eq!(list["stops"][0]["orders"][0], "O-3");
    // Published before the wave with its orders goes to the pickers.
    let position = |kind: &str, dep: &str| {
        all.iter().position(|(k, v)| {
            k == kind
                && (v["departure"] == dep
                    || v["departures"]
                        .as_array()
                        .is_some_and(|d| d.iter().any(|x| x == dep)))
        })
    };
    if let Some(release) = position("wave_release", "DEP-1") {
        assert!(position("loading_list", "DEP-1") < Some(release), "{all:?}");
    }
    assert!(
        find(&all, "call_vehicle", |_| true).is_none(),
        "no vehicle is on the yard yet: {all:?}"
    );

    // The vehicle checks in at the gate: it is called to its door.
    let gate_in = vec![(
        "tms/gate/in".to_string(),
        br#"{"id":"g1","departure":"DEP-1"}"#.to_vec(),
    )];
    rt.block_on(publish_all(broker.port, gate_in, None));
    wait_for(WAIT, "DEP-1 called from the yard", || {
        seen(&rx, &mut all);
        find(&all, "call_vehicle", |v| v["departure"] == "DEP-1").is_some()
    });
    let call = find(&all, "call_vehicle", |v| v["departure"] == "DEP-1").expect("seen");
    assert_eq!(call["door"], door1.as_str(), "{call}");
    assert_eq!(call["reason"]["cause"], "start_due", "{call}");

    // Its door faults on the PLC: DEP-1 goes to the other door and is
    // called there.
    plc.set_holding_bit(1, 10, 0, true);
    wait_for(
        WAIT,
        "DEP-1 moved off the faulty door and called again",
        || {
            seen(&rx, &mut all);
            find(&all, "dock_assignment", |v| {
                v["departure"] == "DEP-1" && v["reason"]["cause"] == "door_down"
            })
            .is_some()
                && find(&all, "call_vehicle", |v| {
                    v["departure"] == "DEP-1" && v["reason"]["cause"] == "door_changed"
                })
                .is_some()
        },
    );
    let moved = find(&all, "dock_assignment", |v| {
        v["reason"]["cause"] == "door_down"
    })
    .expect("seen");
    assert_eq!(moved["door"], "D02", "{moved}");
    assert_eq!(moved["previous_door"], "D01", "{moved}");
    assert_eq!(moved["reason"]["door"], "D01", "{moved}");
    assert_eq!(moved["reason"]["state"], "fault", "{moved}");
    assert_eq!(
        moved["inputs"]["doors_available"],
        serde_json::json!(["D02"])
    );

    // Everything published is in the log, as decision events.
    let (status, _) = agent.terminate();
    assert!(status.success());
    let logged = agent.decision_kinds();
    for kind in ["dock_assignment", "call_vehicle", "loading_list"] {
        let n_logged = logged.iter().filter(|k| *k == kind).count();
        let n_published = all.iter().filter(|(k, _)| k == kind).count();
        assert!(n_logged >= 1, "{kind} not logged: {logged:?}");
        assert_eq!(n_logged, n_published, "{kind}: logged vs published");
    }
    assert!(
        agent
            .events()
            .iter()
            .any(|e| matches!(&e.body, EventBody::VehicleArrived { departure, .. } if departure == "DEP-1")),
        "the gate-in is in the log"
    );

    let text = agent.cli(&["events", "--format", "text"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("call DEP-1 from the yard to D02"), "{text}");
    assert!(text.contains("(door D01 fault)"), "{text}");

    // A restart rebuilds the sequencer from the log: nothing is decided again.
    agent.start();
    agent.wait_subscribed(2);
    std::thread::sleep(Duration::from_secs(3));
    let (status, _) = agent.terminate();
    assert!(status.success());
    assert_eq!(
        agent.decision_kinds(),
        logged,
        "decisions after the restart"
    );

    // Replaying the log gives exactly the logged decisions, docks included.
    let (report, success) = agent.replay();
    assert_eq!(report["identical"], true, "{report:#}");
    assert!(success);
    drop(sim);
}
