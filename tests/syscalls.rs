//! The unit's system-call filter allows what the agent really does: the
//! agent runs under strace through ingest, sync to central, a metrics scrape
//! and a clean stop, and every system call it made must pass
//! `systemd/dockside.service`'s `SystemCallFilter=` lines, expanded by
//! `systemd-analyze syscall-filter`. A call outside them would kill or fail
//! the service on a gateway (with EPERM) in a way no other test shows.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    free_port, mixed_messages, publish_all, uplink_section, wait_for, Agent, Central, Mosquitto,
};

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Every group `systemd-analyze syscall-filter` knows, as its members
/// (system calls and nested `@groups`).
fn groups() -> BTreeMap<String, Vec<String>> {
    let out = Command::new("systemd-analyze")
        .arg("syscall-filter")
        .output()
        .expect("systemd-analyze");
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') && t.starts_with('@') {
            current = Some(t.to_owned());
            groups.entry(t.to_owned()).or_default();
        } else if let Some(g) = &current {
            groups.get_mut(g).expect("group").push(t.to_owned());
        }
    }
    groups
}

fn expand(name: &str, groups: &BTreeMap<String, Vec<String>>, out: &mut BTreeSet<String>) {
    match groups.get(name) {
        Some(members) => {
            for m in members {
                expand(m, groups, out);
            }
        }
        None => {
            out.insert(name.to_owned());
        }
    }
}

/// The set the unit allows: its allow-list lines minus its `~` deny lines.
fn allowed_by_unit(unit: &Path) -> BTreeSet<String> {
    let groups = groups();
    let text = std::fs::read_to_string(unit).expect("unit file");
    let (mut allow, mut deny) = (BTreeSet::new(), BTreeSet::new());
    for line in text.lines() {
        let Some(v) = line.trim().strip_prefix("SystemCallFilter=") else {
            continue;
        };
        let (set, names) = match v.strip_prefix('~') {
            Some(rest) => (&mut deny, rest),
            None => (&mut allow, v),
        };
        for n in names.split_whitespace() {
            expand(n, &groups, set);
        }
    }
    assert!(!allow.is_empty(), "the unit has an allow-list");
    allow.difference(&deny).cloned().collect()
}

/// System call names in an `strace -f` log.
fn traced(log: &str) -> BTreeSet<String> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split_once(' ')?.1.trim_start();
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty() && rest[name.len()..].starts_with('(')).then_some(name)
        })
        .collect()
}

#[test]
fn every_system_call_of_a_working_agent_passes_the_units_filter() {
    if !have("strace") || !have("systemd-analyze") {
        eprintln!("SKIPPED: needs strace and systemd-analyze (Debian: strace, systemd)");
        return;
    }
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/dockside.service");
    let allowed = allowed_by_unit(&unit);

    let site_broker = Mosquitto::start();
    let central_broker = Mosquitto::start();
    let mut central = Central::new(central_broker.port, "");
    central.start();
    central.wait_subscribed(1);
    let metrics = free_port();
    let agent = Agent::with_extra(
        site_broker.port,
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n{}",
            uplink_section(central_broker.port, "")
        ),
    );
    let trace = agent.dir.path().join("strace.log");
    let log = std::fs::File::create(agent.dir.path().join("agent.log")).expect("log");
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_dockside"))
        .args(["run", "--config"])
        .arg(&agent.config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("strace");
    // strace may be refused (ptrace restricted in some sandboxes).
    std::thread::sleep(Duration::from_millis(300));
    if let Ok(Some(status)) = strace.try_wait() {
        eprintln!(
            "SKIPPED: strace could not trace here ({status}): {}",
            agent.log()
        );
        return;
    }
    agent.wait_subscribed(1);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(publish_all(
        site_broker.port,
        mixed_messages(200, "s"),
        None,
    ));
    agent.wait_for_events(200, Duration::from_secs(30));
    wait_for(
        Duration::from_secs(30),
        "central to hold the events",
        || central.last_seq("dc-test") >= 200,
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", metrics)).expect("metrics");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .expect("request");
    let mut page = String::new();
    s.read_to_string(&mut page).expect("page");
    assert!(page.contains("dockside_events_total"), "{page}");

    // The traced agent is strace's child: SIGTERM it, strace ends with it.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", strace.id()))
        .expect("strace's children");
    let pid = children.split_whitespace().next().expect("the agent's pid");
    Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .expect("kill");
    let status = strace.wait().expect("strace ends");
    assert!(
        status.success(),
        "clean exit under strace: {status}\n{}",
        agent.log()
    );

    let used = traced(&std::fs::read_to_string(&trace).expect("trace"));
    assert!(
        ["connect", "accept4", "pwrite64"]
            .iter()
            .all(|c| used.contains(*c))
            && (used.contains("fdatasync") || used.contains("fsync")),
        "the trace covers the links, the endpoint and the commits: {used:?}"
    );
    // execve is strace starting the agent; systemd does that before the
    // filter applies. fchown: SQLite hands its WAL and journal files to the
    // database's owner only when running as root (this test may; the
    // service runs as `dockside`), and ignores the call's failure anyway.
    let as_root = running_as_root();
    let outside: Vec<&String> = used
        .iter()
        .filter(|c| !allowed.contains(*c))
        .filter(|c| c.as_str() != "execve" && !(as_root && c.as_str() == "fchown"))
        .collect();
    assert!(
        outside.is_empty(),
        "system calls the unit's SystemCallFilter= would refuse: {outside:?}"
    );
    drop(central);
}
