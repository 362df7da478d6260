//! The built-in demo scenario, headless at high speed, over its real parts:
//! the embedded broker, Modbus TCP, the agent's SQLite log and central's.
//! Every event must reach central exactly once (counted here, in both
//! databases, per (site, epoch, seq)), the incidents must bring the
//! decisions a site team expects, and planning must beat the fixed schedule.
#![cfg(feature = "demo")]

use std::collections::HashMap;

use dockside::demo::{self, DemoOptions};

/// Fast enough for CI (the day's 17 hours in about 20 s), slow enough that
/// the agent keeps up in a debug build on a shared machine.
const SPEED: f64 = 3000.0;

/// (site, epoch, seq) → how many times stored.
fn central_counts(db: &std::path::Path) -> HashMap<(String, String, i64), i64> {
    let conn = rusqlite::Connection::open(db).expect("central db");
    let mut stmt = conn
        .prepare("SELECT site, epoch, seq, count(*) FROM events GROUP BY site, epoch, seq")
        .expect("query");
    let rows = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))
        .expect("rows");
    rows.map(|r| r.expect("row")).collect()
}

/// The agent's (site, epoch) and every seq in its log.
fn agent_log(db: &std::path::Path) -> (String, String, Vec<i64>) {
    let conn = rusqlite::Connection::open(db).expect("agent db");
    let meta = |k: &str| -> String {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .expect("meta")
    };
    let (site, epoch) = (meta("site"), meta("epoch"));
    let mut stmt = conn
        .prepare("SELECT seq FROM events ORDER BY seq")
        .expect("query");
    let seqs = stmt
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    (site, epoch, seqs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_day_syncs_exactly_once_reacts_to_its_incidents_and_beats_the_fixed_schedule()
{
    let data = tempfile::tempdir().expect("tempdir");
    let summary = demo::run(
        demo::scenario::Prepared::built_in(),
        DemoOptions {
            speed: Some(SPEED),
            data: Some(data.path().to_owned()),
            headless: true,
        },
    )
    .await
    .expect("the demo runs to its end");
    eprintln!("{}", demo::summary::render(&summary));

    // Exactly once: every logged event at central once, nothing else there.
    let (site, epoch, seqs) = agent_log(&data.path().join("agent/dockside.db"));
    let central = central_counts(&data.path().join("central/central.db"));
    assert!(
        seqs.len() > 6000,
        "a day's scans and decisions: {}",
        seqs.len()
    );
    for seq in &seqs {
        let n = central.get(&(site.clone(), epoch.clone(), *seq));
        assert_eq!(n, Some(&1), "seq {seq} stored {n:?} times at central");
    }
    assert_eq!(
        central.len(),
        seqs.len(),
        "central holds events the log does not"
    );
    assert_eq!((summary.sync.missing, summary.sync.duplicates), (0, 0));
    let outage = summary.sync.outages.first().expect("the link went down");
    assert!(
        outage.drained_at.is_some(),
        "the backlog drained: {outage:?}"
    );

    // The slowdown: departures raised at risk and the plan changed.
    let slowdown = summary
        .incidents
        .iter()
        .find(|i| i.incident.starts_with("pick slowdown"))
        .expect("the scenario has a slowdown");
    assert!(!slowdown.risks.is_empty(), "no risk raised: {slowdown:?}");
    assert!(!slowdown.replans.is_empty(), "no re-plan: {slowdown:?}");
    // The door fault: vehicles planned at the door resequenced to others.
    let fault = summary
        .incidents
        .iter()
        .find(|i| i.incident.starts_with("door fault"))
        .expect("the scenario has a door fault");
    assert!(
        fault.replans.iter().any(|r| r.starts_with("resequence")),
        "no resequence: {fault:?}"
    );
    // And the agent's own sequencer, on the door state it polled over Modbus:
    // vehicles moved off D03 for its fault, called from the yard, loading lists.
    let agent =
        rusqlite::Connection::open(data.path().join("agent/dockside.db")).expect("agent db");
    let count = |sql: &str| -> i64 { agent.query_row(sql, [], |r| r.get(0)).expect("count") };
    assert!(
        count(
            "SELECT count(*) FROM events WHERE kind = 'dock_assignment'
               AND json_extract(body, '$.previous_door') = 'D03'
               AND json_extract(body, '$.reason.cause') = 'door_down'
               AND json_extract(body, '$.reason.door') = 'D03'"
        ) > 0,
        "the agent moved nothing off D03 for its fault"
    );
    assert!(count("SELECT count(*) FROM events WHERE kind = 'call_vehicle'") > 0);
    assert!(count("SELECT count(*) FROM events WHERE kind = 'loading_list'") >= 40);

    // Every line picked, and planning beats the fixed schedule.
    assert_eq!(summary.lines_picked as usize, summary.lines);
    assert!(
        summary.planned.late < summary.unplanned.late,
        "planned {} late vs unplanned {}",
        summary.planned.late,
        summary.unplanned.late
    );
}

#[test]
fn a_bad_scenario_file_names_the_key_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    let text = demo::scenario::BUILT_IN.replace("door = \"D03\"", "door = \"D99\"");
    std::fs::write(&path, &text).expect("write");
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("door = \"D99\""))
        .expect("the door line");
    let e = demo::scenario::Prepared::load(&path).expect_err("no such door");
    let shown = e.to_string();
    assert!(shown.contains("`incidents[1].door`"), "{shown}");
    assert!(shown.contains("fix: use one of D01 to D12"), "{shown}");

    // From the command line: refused before anything starts, as a config mistake.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dockside"))
        .args(["demo", "--headless", "--scenario"])
        .arg(&path)
        .output()
        .expect("run dockside");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains(&format!("line {line}: `incidents[1].door`")),
        "{stderr}"
    );
}
