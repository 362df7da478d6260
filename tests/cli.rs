//! The command line as a site engineer meets it.

use std::process::Command;

fn dockside(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dockside"))
        .args(args)
        .output()
        .expect("run dockside")
}

#[test]
fn the_example_config_is_valid() {
    let out = dockside(&[
        "check-config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/dockside.toml"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn check_config_reports_every_problem_with_key_line_and_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "site = \"dc 1\"\ndata_dir = \"/tmp/x\"\ncolour = \"red\"\n[site_broker]\nhost = \"\"\n[[subscriptions]]\ntopic = \"a/#/b\"\nformat = \"json\"\nkind = \"scan\"\nqos = 0\n",
    )
    .expect("write");
    let out = dockside(&["check-config", path.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "line 3: `colour`: unknown key",
        "`site`",
        "site_broker.host",
        "subscriptions[0].topic",
        "subscriptions[0].qos",
        "subscriptions[0].mapping",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert_eq!(err.matches("fix:").count(), 6, "{err}");
}

#[test]
fn check_config_validates_the_central_config_too() {
    let out = dockside(&[
        "check-config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/central.toml"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("central: 2 site(s), 3 carrier service(s)"),
        "{said}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("central.toml");
    std::fs::write(
        &path,
        "data_dir = \"/tmp/x\"\n[broker]\nhost = \"localhost\"\n[[sites]]\nid = \"dc-a\"\nlines_per_hour = 0\n[[carriers]]\ncarrier = \"van\"\nsite = \"dc-z\"\ncutoffs = [\"25:00\"]\ntransit_h = { north = 4 }\ncost_per_shipment = 3.0\ndaily_capacity = 10\n",
    )
    .expect("write");
    let out = dockside(&["check-config", path.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "sites[0].lines_per_hour",
        "carriers[0].site",
        "carriers[0].cutoffs",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(err.matches("fix:").count() >= 3, "{err}");
}

#[test]
fn status_without_a_database_says_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("c.toml");
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dockside.toml"))
            .expect("example")
            .replace(
                "/var/lib/dockside",
                dir.path().join("none").to_str().expect("utf-8"),
            );
    std::fs::write(&path, text).expect("write");
    let out = dockside(&["status", "--config", path.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no database at") && err.contains("fix:"),
        "{err}"
    );
}

#[test]
fn check_config_refuses_an_overlapping_door_map_with_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("doors.toml");
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dockside.toml"))
            .expect("example");
    // D02's door_open onto D01's leveller input.
    let text = example.replace(
        "door_open = { table = \"discrete_input\", address = 4 }",
        "door_open = { table = \"discrete_input\", address = 3 }",
    );
    assert_ne!(text, example);
    std::fs::write(&path, &text).expect("write");
    let out = dockside(&["check-config", path.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .position(|l| l.contains("address = 3 }") && l.starts_with("door_open"))
        .expect("the edited line")
        + 1;
    assert!(
        err.contains(&format!(
            "line {line}: `modbus.devices[0].doors[1].signals.door_open`: discrete_input 3 is already read as `D01.leveller_deployed`"
        )),
        "{err}"
    );
    assert!(err.contains("fix:"), "{err}");
}
