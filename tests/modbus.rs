//! Dock doors over real Modbus: the agent binary polls simulated door
//! controllers (tokio-modbus servers) over TCP on loopback and over RTU on a
//! pty pair, and the log must hold the right door and device events, in order.

mod common;

use std::time::{Duration, Instant};

use common::{modbus_door, Agent, Mosquitto};
use dockside::domain::{DeviceError, EventBody, StoredEvent};
use dockside::sim::door_plc::{DoorPlc, Fault};
use tokio_modbus::ExceptionCode;

const WAIT: Duration = Duration::from_secs(30);

/// Timing for every test device: fast polls, short debounce and timeout.
const TIMING: &str = "poll_interval_ms = 40\ntimeout_ms = 150\noffline_after_failures = 2\nretry_min_ms = 80\nretry_max_ms = 300\n";

fn tcp_device(name: &str, port: u16, doors: &[(&str, u16, u8)]) -> String {
    let mut s = format!(
        "\n[[modbus.devices]]\nname = \"{name}\"\ntransport = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\nunit_id = 1\n{TIMING}"
    );
    for (d, base, bit) in doors {
        s.push_str(&modbus_door(d, *base, *bit));
    }
    s
}

fn rtu_device(name: &str, path: &std::path::Path, unit: u8, doors: &[(&str, u16, u8)]) -> String {
    let mut s = format!(
        "\n[[modbus.devices]]\nname = \"{name}\"\ntransport = \"rtu\"\nserial_port = \"{}\"\nbaud_rate = 115200\nunit_id = {unit}\n{TIMING}",
        path.display()
    );
    for (d, base, bit) in doors {
        s.push_str(&modbus_door(d, *base, *bit));
    }
    s
}

fn modbus_config(debounce_ms: u64, devices: &[String]) -> String {
    format!(
        "[modbus]\ndebounce_ms = {debounce_ms}\n{}",
        devices.concat()
    )
}

/// The signals of a door, as the simulator sets them.
#[derive(Clone, Copy, Default)]
struct DoorIo {
    open: bool,
    vehicle: bool,
    restraint: bool,
    leveller: bool,
}

const EMPTY: DoorIo = DoorIo {
    open: false,
    vehicle: false,
    restraint: false,
    leveller: false,
};
const DOCKED: DoorIo = DoorIo {
    open: false,
    vehicle: true,
    restraint: true,
    leveller: false,
};
const LOADING: DoorIo = DoorIo {
    open: true,
    vehicle: true,
    restraint: true,
    leveller: true,
};

fn set_door(plc: &DoorPlc, unit: u8, base: u16, io: DoorIo) {
    plc.set_discrete_input(unit, base, io.open);
    plc.set_discrete_input(unit, base + 1, io.vehicle);
    plc.set_discrete_input(unit, base + 2, io.restraint);
    plc.set_discrete_input(unit, base + 3, io.leveller);
}

/// A Modbus event as a short line: `D1 free -> loading`, `plc-a online`,
/// `plc-a offline timeout`.
fn describe(e: &StoredEvent) -> Option<String> {
    Some(match &e.body {
        EventBody::DoorChanged { door, from, to, .. } => format!(
            "{door} {} -> {}",
            from.map_or("none", |f| f.as_str()),
            to.as_str()
        ),
        EventBody::DeviceOnline { device, .. } => format!("{device} online"),
        EventBody::DeviceOffline { device, error, .. } => {
            let why = match error {
                DeviceError::Timeout { .. } => "timeout".to_string(),
                DeviceError::Exception { name, .. } => name.clone(),
                DeviceError::ConnectionRefused => "connection_refused".to_string(),
                DeviceError::Framing { .. } => "framing".to_string(),
                DeviceError::Io { .. } => "io".to_string(),
            };
            format!("{device} offline {why}")
        }
        _ => return None,
    })
}

fn lines(agent: &Agent) -> Vec<String> {
    agent.events().iter().filter_map(describe).collect()
}

/// Lines of one device's or door's events (by prefix).
fn of(lines: &[String], prefix: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with(&format!("{prefix} ")))
        .cloned()
        .collect()
}

/// Wait until the log's Modbus lines satisfy `done`; return them.
async fn wait_lines(agent: &Agent, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let start = Instant::now();
    loop {
        let l = lines(agent);
        if done(&l) {
            return l;
        }
        if start.elapsed() > WAIT {
            panic!(
                "timed out waiting for {what}; events:\n{}\nagent log:\n{}",
                l.join("\n"),
                agent.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until `plc` has answered `n` more requests than now: the agent has
/// seen the current values (for asserting that nothing was logged).
async fn wait_polls(plc: &DoorPlc, n: u64) {
    let count = || plc.requests_by_function().values().sum::<u64>();
    let target = count() + n;
    let start = Instant::now();
    while count() < target {
        assert!(start.elapsed() < WAIT, "the agent stopped polling");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_read_only(plc: &DoorPlc) {
    let by_function = plc.requests_by_function();
    assert!(!by_function.is_empty(), "no requests at all");
    for f in by_function.keys() {
        assert!(
            (1..=4).contains(f),
            "function code {f} sent: {by_function:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doors_over_tcp_are_debounced_logged_in_order_and_a_restart_adds_nothing() {
    let broker = Mosquitto::start();
    let plc = DoorPlc::new(&[1]);
    let sim = plc.serve_tcp("127.0.0.1:0").await.expect("sim");
    // A long debounce, so that a slow machine cannot stretch a bounce into a change.
    let config = modbus_config(
        400,
        &[tcp_device(
            "plc-a",
            sim.addr.port(),
            &[("D1", 0, 0), ("D2", 4, 1)],
        )],
    );
    let mut agent = Agent::with_extra(broker.port, &config);
    agent.start();

    wait_lines(&agent, "both doors free", |l| {
        l == ["plc-a online", "D1 none -> free", "D2 none -> free"]
    })
    .await;

    // A vehicle arrives at D1 and is loaded; the restraint and door follow.
    set_door(&plc, 1, 0, DOCKED);
    wait_lines(&agent, "D1 docked", |l| of(l, "D1").len() == 2).await;
    set_door(&plc, 1, 0, LOADING);
    wait_lines(&agent, "D1 loading", |l| of(l, "D1").len() == 3).await;
    set_door(&plc, 1, 0, EMPTY);
    // A bouncing presence sensor on D2: on for less than the debounce time,
    // again and again; seen by a poll each time.
    for _ in 0..6 {
        plc.set_discrete_input(1, 5, true);
        wait_polls(&plc, 2).await;
        plc.set_discrete_input(1, 5, false);
        wait_polls(&plc, 2).await;
    }
    // D2 reports a fault (bit 1 of holding register 10).
    plc.set_holding_bit(1, 10, 1, true);
    let l = wait_lines(&agent, "D1 free and D2 fault", |l| {
        of(l, "D1").len() == 4 && of(l, "D2").len() == 2
    })
    .await;
    assert_eq!(
        of(&l, "D1"),
        [
            "D1 none -> free",
            "D1 free -> vehicle_docked",
            "D1 vehicle_docked -> loading",
            "D1 loading -> free"
        ]
    );
    assert_eq!(of(&l, "D2"), ["D2 none -> free", "D2 free -> fault"]);

    // Contiguous inputs of both doors in one request; the fault word in another.
    assert_read_only(&plc);
    let mut shapes: Vec<(u8, u16, u16)> = plc
        .seen()
        .iter()
        .map(|s| (s.function, s.start, s.count))
        .collect();
    shapes.sort_unstable();
    shapes.dedup();
    assert_eq!(shapes, [(2, 0, 8), (3, 10, 1)]);

    // The bounces were counted, and status shows doors and the device.
    let status = wait_status(&agent, |s| s["doors"][1]["flaps"].as_i64() > Some(0)).await;
    assert_eq!(status["doors"][0]["door"], "D1");
    assert_eq!(status["doors"][0]["state"], "free");
    assert_eq!(status["doors"][1]["state"], "fault");
    assert_eq!(status["doors"][1]["signals"]["fault"], true);
    assert_eq!(status["devices"][0]["device"], "plc-a");
    assert_eq!(status["devices"][0]["online"], true);
    let text = agent.cli(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("D2") && text.contains("fault"), "{text}");
    assert!(text.contains("plc-a") && text.contains("online"), "{text}");

    // Restart: D2's fault clears while the agent is down. Only that is logged.
    let (status, _) = agent.terminate();
    assert!(status.success(), "{}", agent.log());
    let before = l.len();
    plc.set_holding_bit(1, 10, 1, false);
    agent.start();
    let l = wait_lines(&agent, "D2 fault cleared", |l| l.len() > before).await;
    wait_polls(&plc, 20).await;
    let l2 = lines(&agent);
    assert_eq!(l2, l, "nothing more once settled");
    assert_eq!(l[before..], ["D2 fault -> free"]);
    let (status, _) = agent.terminate();
    assert!(status.success());
    // And a restart with nothing changed logs nothing at all.
    agent.start();
    wait_polls(&plc, 30).await;
    assert_eq!(lines(&agent), l);
}

/// `dockside status --json`, once `ready` holds.
async fn wait_status(
    agent: &Agent,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let out = agent.cli(&["status", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        if ready(&v) {
            return v;
        }
        assert!(start.elapsed() < WAIT, "status never ready: {v:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_stops_answering_errs_or_replies_late_goes_offline_and_comes_back() {
    let broker = Mosquitto::start();
    let plc = DoorPlc::new(&[1]);
    let sim = plc.serve_tcp("127.0.0.1:0").await.expect("sim");
    set_door(&plc, 1, 0, DOCKED);
    let config = modbus_config(
        120,
        &[tcp_device("plc-a", sim.addr.port(), &[("D1", 0, 0)])],
    );
    let mut agent = Agent::with_extra(broker.port, &config);
    agent.start();
    wait_lines(&agent, "D1 docked", |l| l.len() == 2).await;

    // Stops answering mid-run, comes back.
    plc.set_fault(1, Fault::Silent);
    wait_lines(&agent, "offline", |l| l.len() == 4).await;
    plc.set_fault(1, Fault::None);
    wait_lines(&agent, "online", |l| l.len() == 6).await;
    // Exception responses.
    plc.set_fault(1, Fault::Exception(ExceptionCode::ServerDeviceBusy));
    wait_lines(&agent, "offline on exceptions", |l| l.len() == 8).await;
    plc.set_fault(1, Fault::None);
    wait_lines(&agent, "online", |l| l.len() == 10).await;
    // Replies after the timeout: never taken as the answer to a later request.
    plc.set_fault(1, Fault::Late(Duration::from_millis(250)));
    wait_lines(&agent, "offline on late replies", |l| l.len() == 12).await;
    wait_polls(&plc, 5).await;
    plc.set_fault(1, Fault::None);
    let l = wait_lines(&agent, "online", |l| l.len() == 14).await;
    wait_polls(&plc, 20).await;
    assert_eq!(lines(&agent), l, "nothing more once settled");
    let outage = |why: &str| {
        vec![
            format!("plc-a offline {why}"),
            "D1 vehicle_docked -> out_of_service".to_string(),
            "plc-a online".to_string(),
            "D1 out_of_service -> vehicle_docked".to_string(),
        ]
    };
    let mut want = vec![
        "plc-a online".to_string(),
        "D1 none -> vehicle_docked".to_string(),
    ];
    want.extend(outage("timeout"));
    want.extend(outage("server_device_busy"));
    want.extend(outage("timeout"));
    assert_eq!(l, want);
    assert_read_only(&plc);
    let status = wait_status(&agent, |_| true).await;
    assert_eq!(status["devices"][0]["online"], true);
    assert_eq!(status["devices"][0]["last_error"]["type"], "timeout");
    let (status, _) = agent.terminate();
    assert!(status.success());
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_device_is_logged_once_and_does_not_hold_up_the_others() {
    let broker = Mosquitto::start();
    let a = DoorPlc::new(&[1]);
    let b = DoorPlc::new(&[1]);
    let sim_a = a.serve_tcp("127.0.0.1:0").await.expect("sim a");
    let sim_b = b.serve_tcp("127.0.0.1:0").await.expect("sim b");
    // Nothing listens here.
    let dead_port = common::free_port();
    let config = modbus_config(
        120,
        &[
            tcp_device("plc-a", sim_a.addr.port(), &[("D1", 0, 0)]),
            tcp_device("plc-dead", dead_port, &[("D2", 0, 0)]),
            tcp_device("plc-b", sim_b.addr.port(), &[("D3", 0, 0)]),
        ],
    );
    let mut agent = Agent::with_extra(broker.port, &config);
    agent.start();
    wait_lines(&agent, "all three devices accounted for", |l| {
        of(l, "D1").len() == 1 && of(l, "D3").len() == 1 && of(l, "plc-dead").len() == 1
    })
    .await;
    // The live doors keep being followed while the dead device is retried.
    for round in 0..3 {
        let io = if round % 2 == 0 { DOCKED } else { EMPTY };
        set_door(&a, 1, 0, io);
        set_door(&b, 1, 0, io);
        wait_lines(&agent, "D1 and D3 follow", |l| {
            of(l, "D1").len() == round + 2 && of(l, "D3").len() == round + 2
        })
        .await;
    }
    let l = lines(&agent);
    assert_eq!(of(&l, "plc-dead"), ["plc-dead offline connection_refused"]);
    assert_eq!(of(&l, "D2"), ["D2 none -> out_of_service"]);
    assert_eq!(
        of(&l, "D3"),
        [
            "D3 none -> free",
            "D3 free -> vehicle_docked",
            "D3 vehicle_docked -> free",
            "D3 free -> vehicle_docked"
        ]
    );
    // The dead device comes to life.
    let c = DoorPlc::new(&[1]);
    let _sim_c = c
        .serve_tcp(&format!("127.0.0.1:{dead_port}"))
        .await
        .expect("sim c");
    let l = wait_lines(&agent, "plc-dead online", |l| of(l, "D2").len() == 2).await;
    assert_eq!(of(&l, "plc-dead")[1], "plc-dead online");
    assert_eq!(of(&l, "D2")[1], "D2 out_of_service -> free");
    let (status, _) = agent.terminate();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtu_bus_shares_one_line_survives_noise_and_isolates_a_late_unit() {
    let broker = Mosquitto::start();
    // Two controllers (units 1 and 2) on one serial line.
    let plc = DoorPlc::new(&[1, 2]);
    let line = plc.serve_rtu().expect("pty");
    let config = modbus_config(
        120,
        &[
            rtu_device("ctl-1", line.path(), 1, &[("D1", 0, 0)]),
            rtu_device("ctl-2", line.path(), 2, &[("D2", 0, 0)]),
        ],
    );
    set_door(&plc, 2, 0, DOCKED);
    let mut agent = Agent::with_extra(broker.port, &config);
    agent.start();
    wait_lines(&agent, "both units", |l| {
        of(l, "D1") == ["D1 none -> free"] && of(l, "D2") == ["D2 none -> vehicle_docked"]
    })
    .await;

    // Noise on the line while the doors stay as they are: whatever it costs
    // (a reopened port, at worst an outage), no door takes a state it is not in.
    for i in 0..40u8 {
        let burst: Vec<u8> = (0..(7 + i % 23))
            .map(|k| k.wrapping_mul(37).wrapping_add(i))
            .collect();
        line.inject(&burst).expect("inject");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    // Noise arriving right before each of unit 1's replies.
    plc.set_fault(
        1,
        Fault::NoiseBeforeReply(vec![0x01, 0x02, 0x00, 0xff, 0x13]),
    );
    wait_polls(&plc, 20).await;
    plc.set_fault(1, Fault::None);
    wait_polls(&plc, 20).await;
    let allowed = [
        "D1 free -> out_of_service",
        "D1 out_of_service -> free",
        "D2 vehicle_docked -> out_of_service",
        "D2 out_of_service -> vehicle_docked",
    ];
    let l = lines(&agent);
    for e in l.iter().filter(|e| e.starts_with('D')).skip(2) {
        assert!(
            allowed.contains(&e.as_str()),
            "noise made a door change: {e}\n{l:#?}"
        );
    }

    // Whatever the noise cost, both units are back before the next step.
    let l = wait_lines(&agent, "both units settled", |l| {
        of(l, "ctl-1").last().map(String::as_str) == Some("ctl-1 online")
            && of(l, "ctl-2").last().map(String::as_str) == Some("ctl-2 online")
            && of(l, "D1").last().is_some_and(|e| e.ends_with("-> free"))
            && of(l, "D2")
                .last()
                .is_some_and(|e| e.ends_with("-> vehicle_docked"))
    })
    .await;

    // Unit 2 replies too late and goes offline; unit 1 carries on.
    let before = l.len();
    plc.set_fault(2, Fault::Late(Duration::from_millis(250)));
    wait_lines(&agent, "ctl-2 offline", |l| {
        l[before..].contains(&"ctl-2 offline timeout".to_string())
    })
    .await;
    set_door(&plc, 1, 0, LOADING);
    let l = wait_lines(&agent, "D1 loading during ctl-2's outage", |l| {
        l[before..].contains(&"D1 free -> loading".to_string())
    })
    .await;
    assert!(!of(&l[before..], "D2")
        .iter()
        .any(|e| e.ends_with("vehicle_docked")));
    plc.set_fault(2, Fault::None);
    let l = wait_lines(&agent, "ctl-2 back", |l| {
        l[before..].contains(&"D2 out_of_service -> vehicle_docked".to_string())
    })
    .await;
    assert_eq!(
        of(&l[before..], "ctl-2"),
        ["ctl-2 offline timeout", "ctl-2 online"]
    );

    // Unit 1 stops answering; then answers again.
    plc.set_fault(1, Fault::Silent);
    wait_lines(&agent, "ctl-1 offline", |l| {
        of(l, "ctl-1").last().map(String::as_str) == Some("ctl-1 offline timeout")
    })
    .await;
    plc.set_fault(1, Fault::None);
    let l = wait_lines(&agent, "ctl-1 back", |l| {
        of(l, "D1").last().map(String::as_str) == Some("D1 out_of_service -> loading")
    })
    .await;
    assert!(of(&l, "ctl-1").ends_with(&[
        "ctl-1 offline timeout".to_string(),
        "ctl-1 online".to_string()
    ]));
    assert_read_only(&plc);
    let (status, _) = agent.terminate();
    assert!(status.success(), "{}", agent.log());
}
