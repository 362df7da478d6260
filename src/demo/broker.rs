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
/// rumqttd has no stop) and wait until it accepts connections.
pub fn start() -> Result<SocketAddr, DemoError> {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
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
    let config = Config {
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
    };
    std::thread::Builder::new()
        .name("demo-broker".into())
        .spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "demo broker stopped");
            }
        })
        .map_err(DemoError::Port)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err(DemoError::BrokerStart(addr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(addr)
}
