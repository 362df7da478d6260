//! `dockside plan waves` as a site engineer runs it.

use std::process::Command;

fn dockside(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dockside"))
        .args(args)
        .output()
        .expect("run dockside")
}

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_slow_chilled_zone_puts_the_morning_departure_at_risk_and_proposes_deferrals() {
    let out = dockside(&[
        "plan",
        "waves",
        "--input",
        &example("waves-scenario.json"),
        "--at",
        "2026-11-25T08:30:00Z",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let decisions = v["decisions"].as_array().expect("decisions");
    let kinds: Vec<&str> = decisions
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    let risk = decisions
        .iter()
        .find(|d| d["kind"] == "departure_at_risk")
        .expect("a risk was raised");
    assert_eq!(risk["departure"], "DHL-NORTH-1");
    assert_eq!(risk["status"], "raised");
    assert_eq!(risk["reason"]["zone"], "chilled");
    assert!(risk["probability"].as_f64().expect("a number") >= 0.5);
    assert!(risk["inputs"]["plan_version"] == 43);
    let deferrals: Vec<_> = decisions
        .iter()
        .filter(|d| d["kind"] == "order_deferral_proposed")
        .collect();
    assert!(!deferrals.is_empty(), "{kinds:?}");
    for d in &deferrals {
        assert_eq!(d["to_departure"], "DHL-NORTH-2");
        assert!(d["predicted_ready"].as_i64() > d["cutoff"].as_i64());
    }
    assert!(kinds.contains(&"wave_release"));
    let forecast = &v["forecast"];
    assert_eq!(forecast["departures"].as_array().expect("list").len(), 2);
}

#[test]
fn a_plan_alone_gives_a_forecast() {
    let out = dockside(&["plan", "waves", "--input", &example("plan.json")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["forecast"]["plan_version"], 42);
    assert_eq!(
        v["forecast"]["departures"].as_array().expect("list").len(),
        3
    );
}

#[test]
fn a_bad_time_or_plan_says_what_to_fix() {
    let out = dockside(&[
        "plan",
        "waves",
        "--input",
        &example("plan.json"),
        "--at",
        "tomorrow",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.json");
    let text = std::fs::read_to_string(example("plan.json"))
        .expect("example")
        .replace("\"zone\": \"chilled\"", "\"zone\": \"freezer\"");
    std::fs::write(&path, text).expect("write");
    let out = dockside(&["plan", "waves", "--input", path.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("freezer"));
}

#[test]
fn plan_docks_keeps_the_docked_vehicle_and_the_reefer_at_the_reefer_door() {
    let out = dockside(&["plan", "docks", "--input", &example("docks.json")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let assignments = v["assignments"].as_array().expect("assignments");
    assert_eq!(assignments.len(), 6);
    let door_of = |vehicle: &str| {
        assignments
            .iter()
            .find(|a| a["vehicle"] == vehicle)
            .and_then(|a| a["door"].as_str())
            .expect("every vehicle is assigned")
            .to_owned()
    };
    assert_eq!(door_of("DEP-0900-LEEDS"), "D01", "frozen at its door");
    assert_eq!(
        door_of("DEP-1000-CHILLED"),
        "R01",
        "only the reefer door takes it"
    );
    assert_eq!(v["figures"]["feasible"], true);
    // Nothing loads at D03 before it is back in service at 12:36:40.
    assert!(assignments
        .iter()
        .filter(|a| a["door"] == "D03")
        .all(|a| a["start"].as_str().expect("RFC 3339") >= "2026-11-18T12:36:40"));
}

#[test]
fn plan_docks_reads_the_public_benchmark() {
    // Instance 81 of the 300, copied with the header from
    // ../shared/benchmarks/tadumadze2020/instances.csv (CC BY 4.0, Tadumadze,
    // Emde & Diefenbach 2020), so a clone without ../shared runs it too.
    let csv = format!(
        "{}/tests/data/tadumadze2020-81.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = dockside(&["plan", "docks", "--input", &csv, "--instance", "81"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let row = &v[0];
    assert_eq!(row["name"], "R_50x10_μ30_σ6_λ3_k2.5_Nr01");
    assert_eq!(
        (row["doors"].as_u64(), row["vehicles"].as_u64()),
        (Some(10), Some(50))
    );
    assert_eq!(
        row["schedule"]["assignments"].as_array().map(Vec::len),
        Some(50)
    );
}

#[test]
fn plan_docks_names_what_is_wrong_with_an_instance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"doors":[{"id":"D1","open_from":0}],"vehicles":[{"id":"V1","arrival":0,"release":0,"due":1,"load_ms":[null]}]}"#,
    )
    .expect("write");
    let out = dockside(&["plan", "docks", "--input", path.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("V1") && err.contains("can use no door"),
        "{err}"
    );
}
