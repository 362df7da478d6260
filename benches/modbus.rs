//! Dock-door polling figures (issue: dock-door sensors over Modbus).
//!
//! `cargo bench --bench modbus` runs the real agent against 8 simulated door
//! PLCs over Modbus TCP on loopback (tokio-modbus servers in this process),
//! 8 doors each with 5 signals (4 discrete inputs and a fault bit in a
//! holding register: 2 requests per PLC per poll), polled every 100 ms:
//! 1. the agent's CPU (its threads' /proc schedstat run time) and RSS while it
//!    polls 64 doors with nothing changing;
//! 2. latency from a simulated signal change to its `door_changed` event
//!    committed (visible in the log to a reader polling it every 1 ms).
//!
//! Environment: BENCH_IDLE_S (CPU window, default 30), BENCH_ROUNDS
//! (latency rounds of 8 changes, default 40), BENCH_DEBOUNCE_MS (default 200).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Agent, Mosquitto};
use dockside::domain::EventBody;
use dockside::sim::door_plc::DoorPlc;
use dockside::store::LogReader;
use rand::Rng;

const PLCS: usize = 8;
const DOORS_PER_PLC: usize = 8;
const POLL_MS: u64 = 100;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as i64
}

/// CPU time of a process so far, in seconds: the sum of its threads'
/// on-CPU nanoseconds (/proc/PID/task/*/schedstat), finer than the 10 ms
/// ticks of /proc/PID/stat at this load.
fn cpu_seconds(pid: u32) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("proc tasks");
    let ns: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

fn status_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

fn config(ports: &[u16], debounce_ms: u64) -> String {
    let mut s = format!("[modbus]\ndebounce_ms = {debounce_ms}\n");
    for (p, port) in ports.iter().enumerate() {
        s.push_str(&format!(
            "\n[[modbus.devices]]\nname = \"plc-{p}\"\ntransport = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\nunit_id = 1\npoll_interval_ms = {POLL_MS}\ntimeout_ms = 500\n"
        ));
        for d in 0..DOORS_PER_PLC {
            let base = d * 4;
            s.push_str(&format!(
                r#"
[[modbus.devices.doors]]
door = "P{p}D{d}"
[modbus.devices.doors.signals]
door_open = {{ table = "discrete_input", address = {} }}
vehicle_present = {{ table = "discrete_input", address = {} }}
restraint_engaged = {{ table = "discrete_input", address = {} }}
leveller_deployed = {{ table = "discrete_input", address = {} }}
fault = {{ table = "holding_register", address = 10, bit = {d} }}
"#,
                base,
                base + 1,
                base + 2,
                base + 3
            ));
        }
    }
    s
}

/// New `door_changed` events after `*seq`: (door, to, seq).
fn door_events(reader: &LogReader, seq: &mut i64) -> Vec<String> {
    let mut out = Vec::new();
    reader
        .events_since(*seq, None, |e| {
            *seq = e.seq;
            if let EventBody::DoorChanged { door, .. } = e.body {
                out.push(door);
            }
            Ok(())
        })
        .expect("read the log");
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let idle_s = env_or("BENCH_IDLE_S", 30);
    let rounds = env_or("BENCH_ROUNDS", 40);
    let debounce_ms = env_or("BENCH_DEBOUNCE_MS", 200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let broker = Mosquitto::start();
    let plcs: Vec<DoorPlc> = (0..PLCS).map(|_| DoorPlc::new(&[1])).collect();
    let sims: Vec<_> = plcs
        .iter()
        .map(|p| runtime.block_on(p.serve_tcp("127.0.0.1:0")).expect("sim"))
        .collect();
    let ports: Vec<u16> = sims.iter().map(|s| s.addr.port()).collect();
    let mut agent = Agent::with_extra(broker.port, &config(&ports, debounce_ms));
    agent.start();
    let pid = agent.pid().expect("agent running");
    let doors = PLCS * DOORS_PER_PLC;
    common::wait_for(Duration::from_secs(30), "every door's first state", || {
        agent
            .events()
            .iter()
            .filter(|e| e.body.kind() == "door_changed")
            .count()
            >= doors
    });
    let reader = LogReader::open(&agent.db()).expect("open log");
    let mut seq = 0;
    door_events(&reader, &mut seq);

    // 1. Steady polling, nothing changing.
    std::thread::sleep(Duration::from_secs(2));
    let requests = |plcs: &[DoorPlc]| -> u64 {
        plcs.iter()
            .map(|p| p.requests_by_function().values().sum::<u64>())
            .sum()
    };
    let (cpu0, req0, t0) = (cpu_seconds(pid), requests(&plcs), Instant::now());
    std::thread::sleep(Duration::from_secs(idle_s));
    let (cpu1, req1, elapsed) = (cpu_seconds(pid), requests(&plcs), t0.elapsed());
    let cpu_pct = (cpu1 - cpu0) / elapsed.as_secs_f64() * 100.0;
    let req_rate = (req1 - req0) as f64 / elapsed.as_secs_f64();
    let (rss, hwm) = (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"));
    assert!(door_events(&reader, &mut seq).is_empty(), "nothing changed");

    // 2. Latency: each round flips one door's vehicle_present on every PLC,
    // at random moments relative to the polls.
    let mut rng = rand::thread_rng();
    let mut vehicle = [[false; DOORS_PER_PLC]; PLCS];
    let mut lat_ms = Vec::new();
    for round in 0..rounds as usize {
        let mut pending: Vec<(String, i64)> = Vec::new();
        for (p, plc) in plcs.iter().enumerate() {
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..POLL_MS / 4)));
            let d = (round + p) % DOORS_PER_PLC;
            vehicle[p][d] = !vehicle[p][d];
            let t = now_us();
            plc.set_discrete_input(1, (d * 4 + 1) as u16, vehicle[p][d]);
            pending.push((format!("P{p}D{d}"), t));
        }
        let start = Instant::now();
        while !pending.is_empty() {
            for door in door_events(&reader, &mut seq) {
                let t = now_us();
                let i = pending
                    .iter()
                    .position(|(d, _)| *d == door)
                    .unwrap_or_else(|| panic!("unexpected change of {door}"));
                lat_ms.push((t - pending.remove(i).1) as f64 / 1000.0);
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "changes not logged: {pending:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let cpu_total = cpu_seconds(pid);
    let (status, _) = agent.terminate();
    assert!(status.success(), "{}", agent.log());
    drop(sims);

    lat_ms.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99, max) = (
        percentile(&lat_ms, 0.5),
        percentile(&lat_ms, 0.99),
        lat_ms[lat_ms.len() - 1],
    );
    let target = (POLL_MS + debounce_ms + 20) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("| figure | value | target |");
    println!("| --- | --- | --- |");
    println!(
        "| agent CPU polling {doors} doors × 5 signals every {POLL_MS} ms over TCP ({PLCS} PLCs, {req_rate:.0} requests/s, {idle_s} s) | {cpu_pct:.2} % of one core | < 2 % |"
    );
    println!(
        "| agent RSS while polling (VmRSS / VmHWM) | {:.1} / {:.1} MiB | |",
        rss / 1024.0,
        hwm / 1024.0
    );
    println!(
        "| signal change → `door_changed` committed, debounce {debounce_ms} ms, p50 | {p50:.1} ms | |"
    );
    println!(
        "| same, p99 (max {max:.1} ms) | {p99:.1} ms | < poll + debounce + 20 = {target:.0} ms |"
    );
    println!(
        "({cores} cores; {} latency samples; agent CPU over the whole run {cpu_total:.2} s)",
        lat_ms.len()
    );
}
