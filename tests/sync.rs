//! Store-and-forward to central over two real mosquitto brokers: every event
//! reaches central exactly once, in order, whatever fails along the way.

mod common;

use std::time::Duration;

use common::{mixed_messages, publish_all, uplink_section, wait_for, Agent, Central, Mosquitto};

const SITE: &str = "dc-test";

/// A site broker, a central broker, central and an agent syncing to it.
struct Rig {
    site_broker: Mosquitto,
    central_broker: Mosquitto,
    central: Central,
    agent: Agent,
}

impl Rig {
    fn start() -> Rig {
        let site_broker = Mosquitto::start();
        let central_broker = Mosquitto::start();
        let mut central = Central::new(central_broker.port, "");
        central.start();
        central.wait_subscribed(1);
        let mut agent =
            Agent::with_extra(site_broker.port, &uplink_section(central_broker.port, ""));
        agent.start();
        agent.wait_subscribed(1);
        Rig {
            site_broker,
            central_broker,
            central,
            agent,
        }
    }

    fn epoch(&self) -> String {
        self.agent.summary().expect("agent log").epoch
    }

    /// Wait until central holds `n` events, then check it holds exactly the
    /// agent's log: same events, in order, no gaps, no duplicates.
    fn assert_synced(&self, n: usize, timeout: Duration) {
        wait_for(timeout, "central to hold every event", || {
            self.central.last_seq(SITE) >= n as i64
        });
        let local = self.agent.events();
        let remote = self.central.events(SITE, &self.epoch());
        assert_eq!(local.len(), n, "the agent's log holds every message once");
        assert_eq!(
            remote.len(),
            local.len(),
            "central holds as many events as the site"
        );
        for (i, (l, r)) in local.iter().zip(&remote).enumerate() {
            assert_eq!(l.seq, i as i64 + 1, "no gap in the site's log");
            assert_eq!(l, r, "central's event {} differs from the site's", l.seq);
        }
        wait_for(Duration::from_secs(20), "the backlog to reach 0", || {
            self.agent.summary().is_some_and(|s| s.sync.backlog == 0)
        });
    }
}

fn publish(
    port: u16,
    messages: Vec<(String, Vec<u8>)>,
    pace: Option<Duration>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(publish_all(port, messages, pace))
    })
}

#[test]
fn fifty_thousand_events_reach_central_once_in_order() {
    let rig = Rig::start();
    publish(rig.site_broker.port, mixed_messages(50_000, "m"), None)
        .join()
        .expect("publisher");
    rig.assert_synced(50_000, Duration::from_secs(180));
    let status = rig.central.cli(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success() && text.contains(SITE) && text.contains("50000"),
        "{text}"
    );
}

#[test]
fn central_broker_restarts_during_ingest() {
    let mut rig = Rig::start();
    let publisher = publish(
        rig.site_broker.port,
        mixed_messages(12_000, "b"),
        Some(Duration::from_micros(300)),
    );
    std::thread::sleep(Duration::from_secs(1));
    rig.central_broker.restart();
    std::thread::sleep(Duration::from_secs(1));
    rig.central_broker.restart();
    publisher.join().expect("publisher");
    rig.assert_synced(12_000, Duration::from_secs(120));
}

#[test]
fn agent_killed_repeatedly_during_ingest() {
    let mut rig = Rig::start();
    let publisher = publish(
        rig.site_broker.port,
        mixed_messages(12_000, "k"),
        Some(Duration::from_micros(300)),
    );
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(700 + 300 * round));
        rig.agent.kill9();
        rig.agent.start();
    }
    publisher.join().expect("publisher");
    rig.assert_synced(12_000, Duration::from_secs(120));
}

#[test]
fn central_killed_during_ingest() {
    let mut rig = Rig::start();
    let publisher = publish(
        rig.site_broker.port,
        mixed_messages(12_000, "c"),
        Some(Duration::from_micros(300)),
    );
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(800 + 200 * round));
        rig.central.kill9();
        std::thread::sleep(Duration::from_millis(300));
        rig.central.start();
    }
    publisher.join().expect("publisher");
    rig.assert_synced(12_000, Duration::from_secs(120));
}

#[test]
fn central_broker_down_for_a_while() {
    let mut rig = Rig::start();
    rig.central_broker.stop();
    publish(rig.site_broker.port, mixed_messages(8_000, "d"), None)
        .join()
        .expect("publisher");
    // Local ingest goes on without central: everything is in the site's log,
    // unsynced, and status says the link is down.
    rig.agent.wait_for_events(8_000, Duration::from_secs(60));
    wait_for(
        Duration::from_secs(10),
        "status to show the backlog",
        || {
            rig.agent.summary().is_some_and(|s| {
                s.sync.backlog == 8_000
                    && s.sync
                        .link_state
                        .as_deref()
                        .is_some_and(|l| l.starts_with("down"))
            })
        },
    );
    let status = rig.agent.cli(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("backlog      8000 events unsynced, oldest from"),
        "{text}"
    );
    std::thread::sleep(Duration::from_secs(2));
    rig.central_broker.restart();
    rig.assert_synced(8_000, Duration::from_secs(120));
}

#[test]
fn a_batch_for_another_site_is_rejected_and_nothing_of_it_stored() {
    let rig = Rig::start();
    let forged = dockside::wire::encode(&dockside::wire::Message::Batch(dockside::wire::Batch {
        site: "dc-other".into(),
        epoch: "00112233445566778899aabbccddeeff".into(),
        first_seq: 1,
        events: vec![dockside::wire::BatchEvent {
            source_topic: "wms/waves".into(),
            source_id: Some("x".into()),
            received_at: 1_795_000_000_000,
            body: dockside::domain::EventBody::WaveReleased {
                wave: "W1".into(),
                at: 1_795_000_000_000,
            },
        }],
    }))
    .expect("encodes");
    publish(
        rig.central_broker.port,
        vec![(format!("dockside/{SITE}/up"), forged)],
        None,
    )
    .join()
    .expect("publisher");
    let reader =
        dockside::central::store::CentralReader::open(&rig.central.db()).expect("central db");
    wait_for(
        Duration::from_secs(10),
        "central to record the rejection",
        || reader.rejected(10).is_ok_and(|r| !r.is_empty()),
    );
    assert!(rig.central.log().contains("message rejected"));
    assert!(reader
        .sites()
        .expect("sites")
        .iter()
        .all(|s| s.site != "dc-other"));
    assert!(reader
        .events("dc-other", "00112233445566778899aabbccddeeff")
        .expect("query")
        .is_empty());
    assert!(reader
        .events(SITE, "00112233445566778899aabbccddeeff")
        .expect("query")
        .is_empty());
    let rejected = reader.rejected(10).expect("rejected");
    assert!(rejected[0].2.contains("dc-other"), "{rejected:?}");
}

#[test]
fn plans_are_stored_applied_only_when_newer_and_survive_restarts() {
    let mut rig = Rig::start();
    let plan = rig.central.dir.path().join("plan.json");
    let plan_version = |rig: &Rig| {
        rig.agent
            .summary()
            .and_then(|s| s.sync.plan)
            .map(|p| p.version)
    };
    for expected in 1..=2u64 {
        std::fs::write(&plan, format!(r#"{{"departures":[],"n":{expected}}}"#)).expect("plan file");
        let out = rig.central.cli(&[
            "push-plan",
            "--site",
            SITE,
            "--file",
            plan.to_str().expect("utf-8"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for(
            Duration::from_secs(20),
            "the agent to store the plan",
            || plan_version(&rig) == Some(expected),
        );
    }
    // An older version sent again is not applied.
    let old = dockside::wire::encode(&dockside::wire::Message::Plan(dockside::wire::Plan {
        site: SITE.into(),
        version: 1,
        issued_at: 1,
        body: "{\"stale\":true}".into(),
    }))
    .expect("encodes");
    publish(
        rig.central_broker.port,
        vec![(format!("dockside/{SITE}/plan"), old)],
        None,
    )
    .join()
    .expect("publisher");
    wait_for(
        Duration::from_secs(10),
        "the agent to ignore the stale plan",
        || rig.agent.log().contains("not newer than the current one"),
    );
    let (status, _) = rig.agent.terminate();
    assert!(status.success());
    rig.agent.start();
    assert_eq!(plan_version(&rig), Some(2));
    let out = rig.central.cli(&[
        "push-plan",
        "--site",
        SITE,
        "--file",
        "/nonexistent/plan.json",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("plan file"));
}

#[test]
fn the_disk_cap_raises_an_alarm_holds_intake_and_loses_nothing() {
    let site_broker = Mosquitto::start();
    let mut central_broker = Mosquitto::start();
    let mut central = Central::new(central_broker.port, "");
    central.start();
    central.wait_subscribed(1);
    central_broker.stop();
    let mut agent = Agent::with_extra(
        site_broker.port,
        &uplink_section(central_broker.port, "")
            .replace("[uplink]\n", "[uplink]\nmax_disk_mb = 16\n"),
    );
    agent.start();
    agent.wait_subscribed(1);
    // More than 16 MB of log while central is unreachable.
    let n = 90_000;
    let publisher = publish(site_broker.port, mixed_messages(n, "cap"), None);
    wait_for(Duration::from_secs(120), "the cap alarm", || {
        agent
            .log()
            .contains("the log is at uplink.max_disk_mb; intake holds")
    });
    wait_for(Duration::from_secs(10), "the 80% alarm", || {
        agent.log().contains("above 80% of uplink.max_disk_mb")
    });
    let held = agent.summary().expect("summary").events;
    assert!(
        (held as usize) < n,
        "intake holds at the cap ({held} of {n} stored)"
    );
    // Central comes back: the backlog drains, synced events are pruned early,
    // intake resumes, and every message arrives once.
    central_broker.restart();
    publisher.join().expect("publisher");
    wait_for(
        Duration::from_secs(240),
        "central to hold every event",
        || central.last_seq(SITE) >= n as i64,
    );
    let epoch = agent.summary().expect("summary").epoch;
    let remote = central.events(SITE, &epoch);
    assert_eq!(remote.len(), n);
    assert!(remote
        .iter()
        .enumerate()
        .all(|(i, e)| e.seq == i as i64 + 1));
    let mut ids: Vec<_> = remote.iter().filter_map(|e| e.source_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "each message once");
    assert!(agent.log().contains("intake resumes"));
}
