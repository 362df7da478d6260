//! The demo's agent and central configs, written as the TOML a site team
//! would write and parsed by the same code as theirs.

use std::fmt::Write;
use std::net::SocketAddr;
use std::path::Path;

use super::DemoError;
use crate::config::{AgentConfig, CentralConfig};

/// Topics the simulated devices publish on.
pub const SCANS: &str = "site/scanners";
pub const WAVES_RELEASED: &str = "site/wms/waves/released";
pub const ARRIVALS: &str = "site/yard/arrivals";

/// Discrete inputs of door `i` on the door controller: open, vehicle,
/// restraint, leveller; its fault is input `FAULT_BASE + i`.
pub const SIGNALS_PER_DOOR: u16 = 4;
pub const FAULT_BASE: u16 = 1000;

pub struct Ports {
    pub broker: SocketAddr,
    /// The relay standing for the link to head office.
    pub uplink: SocketAddr,
    pub door_plc: SocketAddr,
}

/// Planner rounds: every simulated minute, as on a real site.
pub const ROUND_S: u64 = 60;

pub fn agent(
    site: &str,
    dir: &Path,
    doors: &[String],
    ports: &Ports,
) -> Result<AgentConfig, DemoError> {
    let mut text = format!(
        r#"site = "{site}"
data_dir = "{data}"

[store]
batch_max_delay_ms = 5

[site_broker]
host = "127.0.0.1"
port = {broker}
client_id = "dockside-{site}"
reconnect_min_ms = 50
reconnect_max_ms = 1000

[[subscriptions]]
topic = "{SCANS}/+"
format = "json"
kind = "scan"
[subscriptions.mapping]
id = "/msg_id"
scanner = "/device"
code = "/barcode"
action = "/action"
order = "/order"
line = "/line"
qty = "/qty"
timestamp = "/ts"

[[subscriptions]]
topic = "{WAVES_RELEASED}"
format = "json"
kind = "wave_released"
[subscriptions.mapping]
id = "/msg_id"
wave = "/wave"
timestamp = "/ts"

[[subscriptions]]
topic = "{ARRIVALS}"
format = "json"
kind = "vehicle_arrived"
[subscriptions.mapping]
id = "/msg_id"
departure = "/departure"
timestamp = "/ts"

[uplink]
batch_max_age_ms = 20
ack_timeout_s = 5
[uplink.broker]
host = "127.0.0.1"
port = {uplink}
client_id = "dockside-{site}-uplink"
reconnect_min_ms = 50
reconnect_max_ms = 500

[planning]
round_s = {ROUND_S}

# The agent sequences the doors too: its dock_assignment, call_vehicle and
# loading_list decisions come back on decisions/# like the wave planner's.
# Few search rounds: at x3000 a simulated minute is 20 ms of real time.
[planning.docks]
max_rounds = 20

[modbus]
debounce_ms = 100

[[modbus.devices]]
name = "doors"
transport = "tcp"
host = "127.0.0.1"
port = {plc}
unit_id = 1
poll_interval_ms = 100
timeout_ms = 500
"#,
        data = dir.display(),
        broker = ports.broker.port(),
        uplink = ports.uplink.port(),
        plc = ports.door_plc.port(),
    );
    for door in doors {
        let _ = write!(text, "\n[[planning.docks.doors]]\nid = \"{door}\"\n");
    }
    for (i, door) in doors.iter().enumerate() {
        let base = i as u16 * SIGNALS_PER_DOOR;
        let _ = write!(
            text,
            r#"
[[modbus.devices.doors]]
door = "{door}"
[modbus.devices.doors.signals]
door_open = {{ table = "discrete_input", address = {} }}
vehicle_present = {{ table = "discrete_input", address = {} }}
restraint_engaged = {{ table = "discrete_input", address = {} }}
leveller_deployed = {{ table = "discrete_input", address = {} }}
fault = {{ table = "discrete_input", address = {} }}
"#,
            base,
            base + 1,
            base + 2,
            base + 3,
            FAULT_BASE + i as u16
        );
    }
    written(&text, &dir.join("dockside.toml"))?;
    Ok(AgentConfig::parse(&text, &dir.join("dockside.toml"))?)
}

/// Kept beside the databases, so `dockside status` and `events` can read
/// them after the demo (the ports in it are gone by then).
fn written(text: &str, path: &Path) -> Result<(), DemoError> {
    std::fs::write(path, text).map_err(|source| DemoError::Data {
        path: path.to_owned(),
        source,
    })
}

pub fn central(dir: &Path, broker: SocketAddr) -> Result<CentralConfig, DemoError> {
    let text = format!(
        r#"data_dir = "{}"

[broker]
host = "127.0.0.1"
port = {}
client_id = "dockside-central"
reconnect_min_ms = 50
reconnect_max_ms = 1000
"#,
        dir.display(),
        broker.port()
    );
    written(&text, &dir.join("central.toml"))?;
    Ok(CentralConfig::parse(&text, &dir.join("central.toml"))?)
}
