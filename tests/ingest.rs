//! The durable log against a real mosquitto: exactly once, fields right,
//! bad input dead-lettered, clean shutdown, restart resumes.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{mixed_messages, publish_all, Agent, Mosquitto};
use dockside::domain::{EventBody, ScanAction};

/// The event `mixed_messages` message `i` must become.
fn expected(i: usize) -> EventBody {
    match i % 4 {
        0 => EventBody::Scan {
            scanner: format!("H{}", i % 7),
            code: format!("C{i}"),
            action: ScanAction::Pick,
            order: Some(format!("O{}", i / 3)),
            wave: None,
            line: None,
            qty: Some((i % 5 + 1) as i64),
            at: 1_795_000_000_000 + i as i64,
        },
        1 => EventBody::PickComplete {
            order: format!("O{}", i / 3),
            line: Some(format!("{}", i % 9)),
            wave: None,
            qty: Some((i % 4) as i64),
            scanner: None,
            at: 0, // received_at: not compared
        },
        2 => EventBody::WaveReleased {
            wave: format!("W{i}"),
            at: 0,
        },
        _ => EventBody::OrderStatus {
            order: format!("O{i}"),
            status: "picked".into(),
            at: 0,
        },
    }
}

/// Checks that the log holds each of `n` tagged messages exactly once, with
/// its fields, and that seq runs 1..=len without gaps.
pub fn assert_exactly_once(agent: &Agent, tag: &str, n: usize) {
    let events = agent.events();
    let mut by_id: HashMap<usize, usize> = HashMap::new();
    for (pos, e) in events.iter().enumerate() {
        assert_eq!(e.seq, pos as i64 + 1, "seq must be gap-free");
        let id = e
            .source_id
            .as_deref()
            .expect("every test message has an id");
        let i: usize = id
            .strip_prefix(tag)
            .and_then(|s| s.parse().ok())
            .expect("a test id");
        *by_id.entry(i).or_default() += 1;
        let mut want = expected(i);
        match (&mut want, &e.body) {
            (EventBody::Scan { .. }, _) => {}
            (EventBody::PickComplete { at, .. }, got)
            | (EventBody::WaveReleased { at, .. }, got)
            | (EventBody::OrderStatus { at, .. }, got) => *at = got.at(),
            (other, _) => panic!("expected() makes no {} events", other.kind()),
        }
        assert_eq!(e.body, want, "fields of message {id}");
    }
    let missing: Vec<usize> = (0..n).filter(|i| !by_id.contains_key(i)).take(10).collect();
    assert!(
        missing.is_empty(),
        "missing messages (first 10): {missing:?}"
    );
    let twice: Vec<usize> = by_id
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(i, _)| *i)
        .take(10)
        .collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(events.len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_mixed_messages_are_stored_exactly_once_with_their_fields() {
    let broker = Mosquitto::start();
    let mut agent = Agent::new(broker.port);
    agent.start();
    // The agent's session must exist before publishing.
    agent.wait_subscribed(1);
    let n = 10_000;
    publish_all(broker.port, mixed_messages(n, "m"), None).await;
    agent.wait_for_events(n as i64, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300)); // nothing more should arrive
    assert_exactly_once(&agent, "m", n);
    let s = agent.summary().expect("summary");
    assert_eq!(s.events_by_kind.get("scan"), Some(&2500));
    assert_eq!(s.events_by_kind.get("pick_complete"), Some(&2500));
    assert_eq!(s.dead_letters, 0);
    let (status, _) = agent.terminate();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_become_dead_letters_and_good_ones_are_stored() {
    let broker = Mosquitto::start();
    let mut agent = Agent::new(broker.port);
    agent.start();
    agent.wait_subscribed(1);
    publish_all(broker.port, mixed_messages(1, "g"), None).await;
    agent.wait_for_events(1, Duration::from_secs(20));

    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wms/scans", b"{\"id\":\"b1\",".to_vec(), "not valid JSON"),
        (
            "wms/scans",
            br#"{"id":"b2","device":"H1","action":"pick"}"#.to_vec(),
            "`code` (at /code) is missing",
        ),
        (
            "wms/scans",
            br#"{"id":"b3","device":"H1","code":"C","action":"pick","qty":"two"}"#.to_vec(),
            "`qty` (at /qty) should be a non-negative integer",
        ),
        ("wms/waves", vec![0xC3, 0x28, 0xA0, 0xA1], "not valid UTF-8"),
        (
            "wms/orders",
            vec![b'x'; 70_000],
            "over store.max_payload_bytes = 65536",
        ),
        ("wms/picks", b"[1,2,3]".to_vec(), "not an object"),
        ("scanners/S1/pick", b"   ".to_vec(), "barcode is empty"),
    ];
    let good = mixed_messages(40, "g");
    let mut messages = Vec::new();
    for (i, g) in good.into_iter().enumerate().skip(1) {
        messages.push(g);
        if let Some((t, p, _)) = bad.get(i % 10).filter(|_| i % 5 == 0) {
            messages.push((t.to_string(), p.clone()));
        }
    }
    for (t, p, _) in &bad {
        messages.push((t.to_string(), p.clone()));
    }
    let bad_count = messages.len() - 39;
    publish_all(broker.port, messages, None).await;
    common::wait_for(Duration::from_secs(20), "all messages processed", || {
        agent
            .summary()
            .is_some_and(|s| s.events == 40 && s.dead_letters == bad_count as i64)
    });
    assert_exactly_once(&agent, "g", 40);

    let reader = dockside::store::LogReader::open(&agent.db()).expect("open");
    let dead = reader.dead_letters(100).expect("dead letters");
    assert_eq!(dead.len(), bad_count);
    for (topic, payload, reason) in &bad {
        let d = dead
            .iter()
            .find(|d| d.reason.contains(reason))
            .unwrap_or_else(|| panic!("no dead letter with reason {reason:?}: {dead:#?}"));
        assert_eq!(d.topic, *topic);
        assert_eq!(d.payload_len as usize, payload.len());
        assert_eq!(d.payload, payload[..payload.len().min(65536)]);
    }
    // The agent is still healthy and acking: one more good message lands.
    publish_all(broker.port, mixed_messages(41, "g").split_off(40), None).await;
    agent.wait_for_events(41, Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_what_is_held_and_restart_resumes_the_sequence() {
    let broker = Mosquitto::start();
    let mut agent = Agent::new(broker.port);
    agent.start();
    agent.wait_subscribed(1);
    publish_all(broker.port, mixed_messages(1, "s"), None).await;
    agent.wait_for_events(1, Duration::from_secs(20));
    let epoch = agent.summary().expect("summary").epoch;

    publish_all(broker.port, mixed_messages(2000, "s").split_off(1), None).await;
    let (status, took) = agent.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", agent.log());
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");

    // Whatever was not committed before SIGTERM is still with the broker.
    agent.start();
    publish_all(broker.port, mixed_messages(3000, "s").split_off(2000), None).await;
    agent.wait_for_events(3000, Duration::from_secs(30));
    assert_exactly_once(&agent, "s", 3000);
    let s = agent.summary().expect("summary");
    assert_eq!(s.epoch, epoch, "a restart keeps the database's epoch");
    assert_eq!(s.last_seq, 3000);

    let out = agent.cli(&["status", "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(json["last_seq"], 3000);
    assert_eq!(json["epoch"], epoch.as_str());

    let out = agent.cli(&["events", "--since", "2990", "--format", "jsonl"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[0]["seq"], 2991);
    for field in ["seq", "epoch", "kind", "source_topic", "received_at"] {
        assert!(
            lines[0].get(field).is_some(),
            "jsonl line lacks {field}: {}",
            lines[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_scans_repeated_on_purpose_are_kept_and_double_scans_merged() {
    let broker = Mosquitto::start();
    let mut agent = Agent::new(broker.port);
    agent.start();
    agent.wait_subscribed(1);
    publish_all(
        broker.port,
        vec![("scanners/S0/pick".into(), b"PROBE".to_vec())],
        None,
    )
    .await;
    agent.wait_for_events(1, Duration::from_secs(20));

    // A double scan (same code, same scanner, within 1.5 s) is one event;
    // the same code 2 s later is a second, legitimate pick.
    publish_all(
        broker.port,
        vec![("scanners/S1/pick".into(), b"4006381333931".to_vec()); 2],
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    publish_all(
        broker.port,
        vec![("scanners/S1/pick".into(), b"4006381333931".to_vec())],
        None,
    )
    .await;
    agent.wait_for_events(3, Duration::from_secs(20));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = agent.summary().expect("summary");
    assert_eq!(s.events, 3);
    assert_eq!(s.double_scans, 1);
}

/// Acks go out straight onto the connection or through the client; either
/// way every message is acked once committed, QoS 2 publishes included (the
/// broker delivers them at the subscription's QoS 1): after a clean restart
/// the broker redelivers nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_and_qos2_publishes_are_all_acked_once_committed() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let broker = Mosquitto::start();
    let exact = r#"
[[subscriptions]]
topic = "wms/exact"
format = "json"
kind = "scan"
[subscriptions.mapping]
id = "/id"
scanner = "/device"
code = "/code"
action = "/action"
"#;
    let mut agent = Agent::with_extra(broker.port, exact);
    agent.start();
    agent.wait_subscribed(1);
    let n = 3000;
    let mut opts = MqttOptions::new("test-pub-qos2", "127.0.0.1", broker.port);
    opts.set_inflight(100);
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    let sender = tokio::spawn(async move {
        for i in 0..n {
            let (topic, qos) = if (i / 7) % 2 == 0 {
                ("wms/scans", QoS::AtLeastOnce)
            } else {
                ("wms/exact", QoS::ExactlyOnce)
            };
            let payload = format!(
                r#"{{"id":"q{i}","device":"H{}","code":"C{i}","action":"pick"}}"#,
                i % 5
            );
            client
                .publish(topic, qos, false, payload)
                .await
                .expect("publish");
        }
        client
    });
    let mut done = 0;
    while done < n {
        match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_)))) => done += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("publisher connection failed: {e}"),
            Err(_) => panic!("publisher stalled at {done}/{n}"),
        }
    }
    let client = sender.await.expect("sender");
    let _ = client.disconnect().await;
    agent.wait_for_events(n as i64, Duration::from_secs(60));
    let (status, _) = agent.terminate();
    assert!(status.success(), "{}", agent.log());

    agent.start();
    agent.wait_subscribed(2);
    std::thread::sleep(Duration::from_secs(2)); // time for any redelivery
    let s = agent.summary().expect("summary");
    assert_eq!(s.events, n as i64);
    assert_eq!(
        s.duplicates_dropped, 0,
        "the broker redelivered messages the agent had committed: their acks were lost"
    );
}
