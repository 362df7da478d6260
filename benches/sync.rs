//! Store-and-forward figures (issue: sync to the central allocator).
//!
//! `cargo bench --bench sync`, with two real mosquitto brokers (site, central),
//! the agent and `dockside central` as processes:
//! 1. drain: BENCH_BACKLOG events (default 1,000,000) are ingested while the
//!    central broker is down; then it starts and the backlog drains. The rate
//!    is events over the span of central's commit times (and the wall time to
//!    the agent's backlog reaching 0 is shown too);
//! 2. latency at 1,000 events/s for BENCH_LATENCY_S (default 10): site publish
//!    (the payload's `ts`, ms) to central's commit, seen from outside: a
//!    thread polls central's `streams.last_seq` (written in the same
//!    transaction as the events) every 0.5 ms on a read-only connection and
//!    stamps each new value (ms). Central's own `stored_at` is stamped when its
//!    transaction starts, before the commit; that figure is printed too;
//! 3. bytes per event on the wire (batches as the uplink sends them) against
//!    the JSON payloads that came in.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{publish_all, uplink_section, wait_for, Agent, Central, Mosquitto};
use dockside::domain::time::now_ms;
use dockside::wire::{self, Batch, Message};

const SITE: &str = "dc-test";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A WMS scan as a site would send it; `ts` is the publish time.
fn scan_json(i: u64, tag: &str, ts: i64) -> String {
    format!(
        r#"{{"id":"{tag}-{i:08}","device":"HS-{:02}","code":"50123456{i:05}","action":"pick","order":"SO-{:06}","qty":{},"ts":{ts}}}"#,
        i % 40,
        i / 7,
        i % 4 + 1
    )
}

fn publish(port: u16, messages: Vec<(String, Vec<u8>)>, pace: Option<Duration>) {
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(publish_all(port, messages, pace));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let backlog = env_or("BENCH_BACKLOG", 1_000_000);
    let latency_s = env_or("BENCH_LATENCY_S", 10);

    let site_broker = Mosquitto::start();
    let mut central_broker = Mosquitto::start();
    let mut central = Central::new(central_broker.port, "");
    central.start();
    central.wait_subscribed(1);
    let mut agent = Agent::with_extra(site_broker.port, &uplink_section(central_broker.port, ""));
    agent.start();
    agent.wait_subscribed(1);

    // 1. Build the backlog with central's broker down.
    central_broker.stop();
    let start = Instant::now();
    let mut json_bytes = 0usize;
    let mut sent = 0u64;
    while sent < backlog {
        let chunk = (backlog - sent).min(100_000);
        let ts = now_ms();
        let msgs: Vec<(String, Vec<u8>)> = (sent..sent + chunk)
            .map(|i| ("wms/scans".to_string(), scan_json(i, "b", ts).into_bytes()))
            .collect();
        json_bytes += msgs.iter().map(|(_, p)| p.len()).sum::<usize>();
        publish(site_broker.port, msgs, None);
        sent += chunk;
    }
    agent.wait_for_events(backlog as i64, Duration::from_secs(1800));
    eprintln!("backlog of {backlog} built in {:.0?}", start.elapsed());

    // 2. Drain.
    let drain_start = Instant::now();
    central_broker.restart();
    wait_for(Duration::from_secs(3600), "the backlog to drain", || {
        agent.summary().is_some_and(|s| s.sync.backlog == 0)
    });
    let drain_wall = drain_start.elapsed();
    let db = rusqlite::Connection::open_with_flags(
        central.db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("central db");
    let (first, last, n): (i64, i64, i64) = db
        .query_row(
            "SELECT min(stored_at), max(stored_at), count(*) FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("span");
    assert_eq!(n as u64, backlog, "central holds every event once");
    let drain_rate = n as f64 / ((last - first).max(1) as f64 / 1000.0);
    let wall_rate = n as f64 / drain_wall.as_secs_f64();

    // 3. Bytes per event: the agent's log in batches as the uplink sends them.
    let epoch = agent.summary().expect("summary").epoch;
    let events = agent.events();
    let wire_bytes: usize = events
        .chunks(1000)
        .map(|c| {
            wire::encode(&Message::Batch(
                Batch::from_stored(SITE, c).expect("consecutive events"),
            ))
            .expect("encodes")
            .len()
        })
        .sum();
    drop(events);

    // 4. Latency at 1,000 events/s.
    let count = latency_s * 1000;
    let total = backlog + count;
    // Central's commits as an outside reader sees them: (last_seq, ms).
    let watcher = std::thread::spawn({
        let path = central.db();
        let epoch = epoch.clone();
        move || {
            let db = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .expect("central db");
            let mut stmt = db
                .prepare("SELECT last_seq FROM streams WHERE site = ?1 AND epoch = ?2")
                .expect("query");
            let deadline = Instant::now() + Duration::from_secs(latency_s + 120);
            let (mut seen, mut last) = (Vec::new(), backlog as i64);
            while last < total as i64 && Instant::now() < deadline {
                // A busy or failed read is just a missed poll.
                let s: i64 = stmt
                    .query_row(rusqlite::params![SITE, epoch], |r| r.get(0))
                    .unwrap_or(last);
                if s > last {
                    seen.push((s, now_ms()));
                    last = s;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            seen
        }
    });
    let pacer = std::thread::spawn({
        let port = site_broker.port;
        move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(async move {
                    let mut opts =
                        rumqttc::MqttOptions::new("bench-latency-pub", "127.0.0.1", port);
                    opts.set_inflight(1000);
                    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 1000);
                    let poller =
                        tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
                    let mut tick = tokio::time::interval(Duration::from_millis(1));
                    for i in 0..count {
                        tick.tick().await;
                        let payload = scan_json(i, "l", now_ms());
                        client
                            .publish("wms/scans", rumqttc::QoS::AtLeastOnce, false, payload)
                            .await
                            .expect("publish");
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    poller.abort();
                })
        }
    });
    pacer.join().expect("latency publisher");
    wait_for(
        Duration::from_secs(120),
        "central to hold the latency run",
        || central.last_seq(SITE) >= total as i64,
    );
    let commits = watcher.join().expect("commit watcher");
    let mut stmt = db
        .prepare(
            "SELECT seq, stored_at, received_at, body FROM events WHERE epoch = ?1 AND seq > ?2",
        )
        .expect("query");
    // Whole path, and its two legs: publish → site receipt, site → central
    // commit; and the same path to central's own (pre-commit) stamp.
    let (mut lat, mut site_leg, mut up_leg, mut lat_stamp) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in stmt
        .query_map(rusqlite::params![epoch, backlog as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .expect("rows")
    {
        let (seq, stored_at, received_at, body) = row.expect("row");
        let body: dockside::domain::EventBody = serde_json::from_str(&body).expect("event body");
        // The first commit seen that covers this seq.
        let i = commits.partition_point(|&(upto, _)| upto < seq);
        let committed = commits.get(i).expect("the watcher saw every commit").1;
        lat.push((committed - body.at()) as f64);
        site_leg.push((received_at - body.at()) as f64);
        up_leg.push((committed - received_at) as f64);
        lat_stamp.push((stored_at - body.at()) as f64);
    }
    for v in [&mut lat, &mut site_leg, &mut up_leg, &mut lat_stamp] {
        v.sort_by(|a, b| a.total_cmp(b));
    }

    println!("| figure | value | target |");
    println!("| --- | --- | --- |");
    println!(
        "| drain of a {backlog}-event backlog to central (over central's commit span) | {drain_rate:.0} events/s | ≥ 50,000 |"
    );
    println!(
        "| same, wall time from central's broker start to the site's backlog at 0 | {:.1} s ({wall_rate:.0} events/s) | |",
        drain_wall.as_secs_f64()
    );
    println!(
        "| site publish → central commit at 1,000 events/s, p50 / p99 (ms clock) | {:.0} / {:.0} ms | p99 ≤ 50 ms |",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    println!(
        "| of which publish → site receipt / site receipt → central commit, p99 | {:.0} / {:.0} ms | |",
        percentile(&site_leg, 0.99),
        percentile(&up_leg, 0.99)
    );
    println!(
        "| same path to central's `stored_at` (stamped before its commit), p50 / p99 | {:.0} / {:.0} ms | |",
        percentile(&lat_stamp, 0.5),
        percentile(&lat_stamp, 0.99)
    );
    println!(
        "| bytes per event on the wire / JSON that came in | {:.1} / {:.1} B ({:.0} %) | ≤ 40 % |",
        wire_bytes as f64 / backlog as f64,
        json_bytes as f64 / backlog as f64,
        100.0 * wire_bytes as f64 / json_bytes as f64
    );
    println!(
        "({} cores; {} latency samples)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        lat.len()
    );
    drop(agent);
    drop(central);
}
