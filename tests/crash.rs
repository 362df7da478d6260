//! `kill -9` at random points while a publisher runs: at the end every message
//! is in the log exactly once, seq is gap-free, and SQLite's integrity check passes.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{mixed_messages, publish_all, Agent, Mosquitto};
use dockside::domain::EventBody;
use rand::Rng;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_during_ingest_loses_and_duplicates_nothing() {
    let broker = Mosquitto::start();
    let mut agent = Agent::new(broker.port);
    agent.start();
    agent.wait_subscribed(1);

    // JSON messages with ids, and every fifth a bare text barcode (no id: the
    // content-hash path), all unique so each must appear exactly once.
    let n = 6000;
    let mut messages = mixed_messages(n, "k");
    let mut expected: Vec<String> = (0..n).map(|i| format!("id:k{i}")).collect();
    for i in (0..n).step_by(5) {
        messages.insert(
            i + i / 5,
            (
                format!("scanners/S{}/pick", i % 3),
                format!("T{i}").into_bytes(),
            ),
        );
        expected.push(format!("code:T{i}"));
    }
    let total = messages.len();
    let publisher = tokio::spawn(publish_all(
        broker.port,
        messages,
        Some(Duration::from_micros(700)),
    ));

    let mut rng = rand::thread_rng();
    let kills = 6;
    for round in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..700))).await;
        agent.kill9();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..300))).await;
        agent.start();
        agent.wait_subscribed(round + 2);
    }
    publisher.await.expect("publisher");
    agent.wait_for_events(total as i64, Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(500)).await; // nothing more should arrive

    let events = agent.events();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (pos, e) in events.iter().enumerate() {
        assert_eq!(e.seq, pos as i64 + 1, "seq must be gap-free across crashes");
        let key = match (&e.source_id, &e.body) {
            (Some(id), _) => format!("id:{id}"),
            (None, EventBody::Scan { code, .. }) => format!("code:{code}"),
            (None, other) => panic!("unexpected event without id: {other:?}"),
        };
        *seen.entry(key).or_default() += 1;
    }
    let missing: Vec<&String> = expected
        .iter()
        .filter(|k| !seen.contains_key(*k))
        .take(10)
        .collect();
    let twice: Vec<(&String, &usize)> = seen.iter().filter(|(_, c)| **c > 1).take(10).collect();
    assert!(
        missing.is_empty(),
        "lost after kill -9 (first 10): {missing:?}"
    );
    assert!(
        twice.is_empty(),
        "duplicated after kill -9 (first 10): {twice:?}"
    );
    assert_eq!(events.len(), total);

    agent.terminate();
    let reader = dockside::store::LogReader::open(&agent.db()).expect("open");
    assert_eq!(reader.integrity_check().expect("integrity_check"), "ok");
    let s = reader.summary().expect("summary");
    assert_eq!(s.last_seq, total as i64);
    assert_eq!(s.dead_letters, 0);
    eprintln!(
        "{kills} kills; redeliveries dropped: {}",
        s.duplicates_dropped
    );
}
