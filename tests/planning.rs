//! The site planner inside the running agent: it takes its plan from the log,
//! watches picks, makes decisions in rounds, logs them as events, publishes
//! them on the site broker, and a replay of the log reproduces them.

mod common;

use std::time::Duration;

use common::{publish_all, wait_for, Agent, Mosquitto};
use dockside::domain::time::now_ms;

/// A plan whose first departure cannot make its cutoff: 240 lines for two
/// pickers at 60 lines an hour, cutoff in 40 minutes.
fn plan(now: i64) -> String {
    let min = 60_000;
    let order = |id: &str, dep: &str, lines: usize| {
        let lines: Vec<String> = (0..lines)
            .map(|l| format!(r#"{{"id":"{l}","zone":"ambient","qty":1}}"#))
            .collect();
        format!(
            r#"{{"id":"{id}","departure":"{dep}","stop":"s1","lines":[{}]}}"#,
            lines.join(",")
        )
    };
    let early: Vec<String> = (0..12)
        .map(|i| order(&format!("E{i}"), "DEP-1", 20))
        .collect();
    format!(
        r#"{{"site":"dc-test","version":1,"generated_at":{gen},
  "zones":[{{"id":"ambient","standard_lines_per_hour":60,"headcount":2}}],
  "departures":[
    {{"id":"DEP-1","carrier":"C","scheduled_at":{s1},"cutoff":{c1},"stops":[{{"id":"s1"}}],"load":{{"staging_s":300,"fixed_s":600,"per_line_s":2}}}},
    {{"id":"DEP-2","carrier":"C","scheduled_at":{s2},"cutoff":{c2},"stops":[{{"id":"s1"}}],"load":{{"staging_s":300,"fixed_s":600,"per_line_s":2}}}}
  ],
  "waves":[
    {{"id":"W1","planned_release":{r1},"orders":[{early}]}},
    {{"id":"W2","planned_release":{r2},"orders":[{late}]}}
  ]}}"#,
        gen = now - 10 * min,
        s1 = now + 30 * min,
        c1 = now + 40 * min,
        s2 = now + 8 * 60 * min,
        c2 = now + 9 * 60 * min,
        r1 = now - 5 * min,
        r2 = now + 6 * 60 * min,
        early = early.join(","),
        late = order("L1", "DEP-2", 10),
    )
}

#[test]
fn the_agent_plans_logs_publishes_and_replays_its_decisions() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, plan(now_ms())).expect("plan file");
    let planning = format!(
        "[planning]\nround_s = 1\nplan_file = \"{}\"\n",
        plan_file.display()
    );
    let mut agent = Agent::with_extra(broker.port, &planning);

    // Listen for published decisions before the agent starts.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let rx = common::watch(&rt, broker.port, "dockside/dc-test/decisions/#");
    agent.start();
    agent.wait_subscribed(1);

    // Picks of the first wave, by two pickers.
    let now = now_ms();
    let picks: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| {
            (
                "wms/scans".to_string(),
                format!(
                    r#"{{"id":"p{i}","device":"H{}","code":"X{i}","action":"pick","order":"E0","line":"{i}","qty":1,"ts":{}}}"#,
                    i % 2,
                    now - 60_000 + i * 10_000
                )
                .into_bytes(),
            )
        })
        .collect();
    rt.block_on(publish_all(broker.port, picks, None));

    wait_for(
        Duration::from_secs(60),
        "a release and a risk decision",
        || {
            let d = agent.decision_kinds();
            d.iter().any(|k| k == "wave_release") && d.iter().any(|k| k == "departure_at_risk")
        },
    );
    let published: Vec<String> = rx.try_iter().map(|(topic, _)| topic).collect();
    assert!(
        published
            .iter()
            .any(|t| t == "dockside/dc-test/decisions/wave_release"),
        "{published:?}"
    );
    let status = agent.cli(&["events", "--format", "text"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("release wave W1"));

    // A restart rebuilds the planner's state from the log: no decision is
    // repeated (the log still replays to exactly what it holds).
    let (status, _) = agent.terminate();
    assert!(status.success());
    let before = agent.decision_kinds().len();
    agent.start();
    agent.wait_subscribed(2);
    std::thread::sleep(Duration::from_secs(3));
    let (status, _) = agent.terminate();
    assert!(status.success());
    let after = agent.decision_kinds();
    assert!(
        after.iter().filter(|k| *k == "wave_release").count() == 1,
        "W1 released once across the restart: {after:?} (before: {before})"
    );

    let (report, success) = agent.replay();
    assert_eq!(report["identical"], true, "{report:#}");
    assert_eq!(report["logged"], after.len());
    assert!(success);
}
