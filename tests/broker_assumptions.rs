//! What dedupe relies on, checked against the real broker: an unacknowledged
//! QoS 1 message is redelivered to a persistent session with DUP set and the
//! same packet id, so a hash of (topic, payload, packet id) recognises it.

mod common;

use std::time::Duration;

use common::{publish_all, Mosquitto};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};

async fn next_publish(eventloop: &mut rumqttc::EventLoop) -> Publish {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => return p,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("connection failed: {e}"),
            Err(_) => panic!("no publish within 10 s"),
        }
    }
}

async fn connect(port: u16) -> (AsyncClient, rumqttc::EventLoop) {
    let mut opts = MqttOptions::new("assumption-sub", "127.0.0.1", port);
    opts.set_clean_session(false).set_manual_acks(true);
    let (client, mut eventloop) = AsyncClient::new(opts, 16);
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = eventloop.poll().await.expect("connect") {
            break;
        }
    }
    (client, eventloop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_redelivers_unacked_messages_with_dup_and_the_same_packet_id() {
    let broker = Mosquitto::start();
    let (client, mut eventloop) = connect(broker.port).await;
    client
        .subscribe("t/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await.expect("suback") {
            break;
        }
    }
    publish_all(
        broker.port,
        vec![
            ("t/a".into(), b"same".to_vec()),
            ("t/a".into(), b"same".to_vec()),
        ],
        None,
    )
    .await;
    let first = next_publish(&mut eventloop).await;
    let second = next_publish(&mut eventloop).await;
    assert!(
        !first.dup && !second.dup,
        "first deliveries are not marked DUP"
    );
    assert_ne!(
        first.pkid, second.pkid,
        "two identical messages get different packet ids"
    );
    drop(eventloop); // crash without acking either

    let (client, mut eventloop) = connect(broker.port).await;
    let again = next_publish(&mut eventloop).await;
    assert!(again.dup, "a redelivery is marked DUP");
    assert_eq!((again.pkid, &again.payload[..]), (first.pkid, &b"same"[..]));
    drop(client);
}
