//! Durable ingest figures (issue: durable site event log).
//!
//! `cargo bench --bench ingest` runs, against a real mosquitto configured as
//! the README's recipe says:
//! 1. the broker alone: a QoS 1 publisher (a separate process) to a QoS 1 subscriber;
//! 2. dockside: the same publisher to the agent, timed to the last commit;
//! 3. latency at 1,000 events/s, publish to visible in the log;
//! 4. the agent's peak RSS (VmHWM).
//!
//! Throughput runs alternate (broker alone, dockside) for BENCH_ROUNDS rounds
//! (default 3) and the medians are reported. Environment: BENCH_N (messages
//! per throughput run, default 200000), BENCH_LATENCY_S (default 10),
//! BENCH_IDS=random (message ids in no order, as random UUIDs are, instead
//! of a counter: the dedupe index then takes each key at a random place).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// The baseline's own topic, so the agent does not receive its messages.
const BASELINE_TOPIC: &str = "bench/baseline";

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as i64
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The publisher process: `ingest --publisher PORT COUNT RATE` (RATE 0 = as fast as it can).
async fn publisher(port: u16, count: u64, rate: u64, topic: String) {
    let mut opts = MqttOptions::new(
        format!("bench-pub-{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    opts.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(opts, 1000);
    let random_ids = std::env::var("BENCH_IDS").is_ok_and(|v| v == "random");
    let sender = tokio::spawn(async move {
        let mut tick =
            (rate > 0).then(|| tokio::time::interval(Duration::from_micros(1_000_000 / rate)));
        for i in 0..count {
            if let Some(t) = tick.as_mut() {
                t.tick().await;
            }
            // The id carries the publish time so the reader can measure latency.
            let t = now_us();
            let id = if random_ids {
                format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&i.to_be_bytes()))
            } else {
                i.to_string()
            };
            let payload = format!(
                r#"{{"id":"{id}-{t}","device":"H{}","code":"C{i}-{t}","action":"pick","order":"O{}","qty":1}}"#,
                i % 50,
                i / 10
            );
            client
                .publish(topic.as_str(), QoS::AtLeastOnce, false, payload)
                .await
                .expect("publish");
        }
        client
    });
    let mut acked = 0;
    while acked < count {
        if let Event::Incoming(Packet::PubAck(_)) =
            eventloop.poll().await.expect("publisher connection")
        {
            acked += 1;
        }
    }
    let _ = sender.await;
}

fn spawn_publisher(port: u16, count: u64, rate: u64, topic: &str) -> std::process::Child {
    Command::new(std::env::current_exe().expect("own path"))
        .args([
            "--publisher",
            &port.to_string(),
            &count.to_string(),
            &rate.to_string(),
            topic,
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn publisher")
}

/// Broker alone: publisher process -> mosquitto -> QoS 1 subscriber. Events/s.
async fn broker_alone(port: u16, n: u64) -> f64 {
    let mut opts = MqttOptions::new("bench-baseline-sub", "127.0.0.1", port);
    opts.set_clean_session(false);
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    client
        .subscribe(BASELINE_TOPIC, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    loop {
        if let Event::Incoming(Packet::SubAck(_)) =
            eventloop.poll().await.expect("baseline subscriber")
        {
            break;
        }
    }
    let start = Instant::now();
    let mut publisher = spawn_publisher(port, n, 0, BASELINE_TOPIC);
    let mut got = 0;
    while got < n {
        if let Event::Incoming(Packet::Publish(_)) =
            eventloop.poll().await.expect("baseline subscriber")
        {
            got += 1;
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    publisher.wait().expect("publisher");
    client
        .unsubscribe(BASELINE_TOPIC)
        .await
        .expect("unsubscribe");
    client.disconnect().await.expect("disconnect");
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while eventloop.poll().await.is_ok() {}
    })
    .await;
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(pos) = args.iter().position(|a| a == "--publisher") {
        let num = |i: usize| args[pos + i].parse::<u64>().expect("number");
        rt.block_on(publisher(
            num(1) as u16,
            num(2),
            num(3),
            args[pos + 4].clone(),
        ));
        return;
    }
    let n = env_or("BENCH_N", 200_000);
    let latency_s = env_or("BENCH_LATENCY_S", 10);
    let broker = common::Mosquitto::start();

    let rounds = env_or("BENCH_ROUNDS", 3);
    let mut agent = common::Agent::new(broker.port);
    agent.start();
    agent.wait_subscribed(1);
    let (mut baselines, mut rates) = (Vec::new(), Vec::new());
    let mut stored = 0;
    for round in 1..=rounds {
        let baseline = rt.block_on(broker_alone(broker.port, n));
        let start = Instant::now();
        let mut p = spawn_publisher(broker.port, n, 0, "wms/scans");
        stored += n;
        agent.wait_for_events(stored as i64, Duration::from_secs(600));
        let rate = n as f64 / start.elapsed().as_secs_f64();
        p.wait().expect("publisher");
        eprintln!("round {round}: broker alone {baseline:.0} msg/s, dockside {rate:.0} events/s");
        baselines.push(baseline);
        rates.push(rate);
    }
    let (baseline, rate) = (median(baselines), median(rates));
    let rss_throughput_mib = peak_rss_kib(agent_pid(&agent)) as f64 / 1024.0;

    // Latency and RSS at 1,000 events/s, on a freshly started agent (the
    // steady state a site sees): tail the log, stamping each new row. The
    // restart waits out the double-scan window, or the agent would reload the
    // last burst's scans (tens of thousands) to merge doubles against.
    let (status, _) = agent.terminate();
    assert!(status.success());
    std::thread::sleep(Duration::from_secs(2));
    agent.start();
    agent.wait_subscribed(2);
    let count = latency_s * 1000;
    let reader = dockside::store::LogReader::open(&agent.db()).expect("open log");
    let mut last = stored as i64;
    let mut lat_ms = Vec::with_capacity(count as usize);
    let rss_at_start_kib = peak_rss_kib(agent_pid(&agent));
    let mut p = spawn_publisher(broker.port, count, 1000, "wms/scans");
    let deadline = Instant::now() + Duration::from_secs(latency_s + 60);
    while (lat_ms.len() as u64) < count && Instant::now() < deadline {
        reader
            .events_since(last, None, |e| {
                let seen = now_us();
                last = e.seq;
                let sent: i64 = e
                    .source_id
                    .as_deref()
                    .and_then(|id| id.split('-').nth(1)?.parse().ok())
                    .expect("id carries time");
                lat_ms.push((seen - sent) as f64 / 1000.0);
                Ok(())
            })
            .expect("read log");
        std::thread::sleep(Duration::from_micros(500));
    }
    p.wait().expect("publisher");
    lat_ms.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (percentile(&lat_ms, 0.50), percentile(&lat_ms, 0.99));
    let rss_mib = peak_rss_kib(agent_pid(&agent)) as f64 / 1024.0;
    let rss_start_mib = rss_at_start_kib as f64 / 1024.0;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);

    println!("| figure | value | target |");
    println!("| --- | --- | --- |");
    println!("| broker alone, QoS 1 publisher to QoS 1 subscriber (median of {rounds}) | {baseline:.0} msg/s | |");
    println!("| dockside sustained durable ingest ({n} events, median of {rounds}) | {rate:.0} events/s | ≥ 20,000 |");
    println!(
        "| ratio to the broker alone | {:.2} | ≥ 0.8 |",
        rate / baseline
    );
    println!("| publish → committed (visible in the log), 1,000 events/s, p50 | {p50:.2} ms | |");
    println!("| same, p99 | {p99:.2} ms | ≤ 20 ms |");
    println!("| agent RSS at start / peak over the 1,000 events/s run | {rss_start_mib:.1} / {rss_mib:.1} MiB | ≤ 20 MB |");
    println!("| agent peak RSS over the saturation rounds | {rss_throughput_mib:.1} MiB | |");
    println!(
        "({cores} cores; {} latency samples; message ids: {})",
        lat_ms.len(),
        std::env::var("BENCH_IDS").unwrap_or_else(|_| "counter".into())
    );
    let (status, _) = agent.terminate();
    assert!(status.success());
}

fn agent_pid(agent: &common::Agent) -> u32 {
    agent.pid().expect("agent running")
}
