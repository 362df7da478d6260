//! The demo's MQTT broker: rumqttd embedded on a free loopback port, so the
//! demo needs nothing installed. Site traffic and the uplink to central both
//! go through it (the uplink by way of a [`super::relay::Relay`] that the
//! scenario can cut).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

use super::DemoError;

/// Large enough for a day's plan (every order line) and an uplink batch.
const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

/// A loopback port nobody listens on now.
pub fn free_port() -> Result<u16, DemoError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(DemoError::Port)?;
    Ok(listener.local_addr().map_err(DemoError::Port)?.port())
}

/// Start the broker on its own threads (it lives as long as the process:
/// rumqttd has no stop) and make sure the port answers for it: the port is
/// chosen free but given to rumqttd unbound, so another process may take it
/// first — then rumqttd cannot listen and we would talk to a stranger.
pub async fn start() -> Result<SocketAddr, DemoError> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        match start_on(addr).await {
            Ok(()) => return Ok(addr),
            Err(why) => {
                tracing::warn!(%addr, %why, "demo broker: not ours on this port; another");
                last = Some((addr, why));
            }
        }
    }
    let (addr, why) = last.expect("at least one attempt");
    Err(DemoError::Broker(addr, why))
}

/// Start a broker on `addr`; Ok once it is known to be the one answering there.
async fn start_on(addr: SocketAddr) -> Result<(), String> {
    {
        let mut broker = Broker::new(config(addr));
        // A link inside the broker hears what a client publishes on the port.
        let topic = format!("demo/probe/{:016x}", rand::random::<u64>());
        let (mut probe_tx, probe_rx) = broker.link("demo-probe").map_err(|e| e.to_string())?;
        probe_tx
            .subscribe(topic.clone())
            .map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("demo-broker".into())
            .spawn(move || {
                let _keep = probe_tx;
                if let Err(e) = broker.start() {
                    tracing::error!(error = %e, "demo broker stopped");
                }
            })
            .map_err(|e| e.to_string())?;
        probe(addr, &topic, probe_rx).await
    }
}

const ATTEMPTS: usize = 5;
/// Ample on loopback; a slow answer only means another port is tried.
const PROBE_WAIT: Duration = Duration::from_secs(2);

fn config(addr: SocketAddr) -> Config {
    let server = ServerSettings {
        name: "demo".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: MAX_PAYLOAD,
            // The agent acks in commit order; let a group commit's worth be in flight.
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 64,
            max_outgoing_packet_count: 1000,
            max_segment_size: 64 * 1024 * 1024,
            max_segment_count: 16,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("demo".to_owned(), server)])),
        ..Config::default()
    }
}

/// Publish on `topic` through the port and wait for the broker's own link
/// to hear it.
async fn probe(
    addr: SocketAddr,
    topic: &str,
    mut heard: rumqttd::local::LinkRx,
) -> Result<(), String> {
    let deadline = Instant::now() + PROBE_WAIT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err("nothing listens".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut options =
        rumqttc::MqttOptions::new("demo-probe-client", addr.ip().to_string(), addr.port());
    options.set_clean_session(true);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 4);
    client
        .publish(topic, rumqttc::QoS::AtLeastOnce, false, b"probe".to_vec())
        .await
        .map_err(|e| e.to_string())?;
    let acked = tokio::time::timeout(PROBE_WAIT, async {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .map_err(|_| "no PUBACK".to_owned())?;
    acked?;
    let _ = client.disconnect().await;
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        while Instant::now() < deadline {
            match heard.recv_deadline(deadline) {
                Ok(Some(rumqttd::Notification::Forward(f)))
                    if f.publish.topic == topic.as_bytes() =>
                {
                    return Ok(());
                }
                Ok(_) => {}
                // Timed out: what was published went elsewhere.
                Err(_) => break,
            }
        }
        Err("another broker answers on this port".to_owned())
    })
    .await
    .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_port_another_broker_answers_on_is_not_taken_for_ours() {
        let ours = start().await.expect("a broker");
        let why = start_on(ours).await.expect_err("the port is taken");
        assert!(why.contains("another broker"), "{why}");
    }
}
