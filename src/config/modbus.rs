//! `[modbus]`: door controllers read over Modbus TCP or RTU, and which
//! register holds which door signal.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Deserialize;

use super::problems::Problems;
use crate::domain::door::signal;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ModbusConfig {
    /// A signal must hold a new value this long before it counts
    /// (devices may set their own).
    pub debounce_ms: u64,
    pub devices: Vec<DeviceConfig>,
}

impl Default for ModbusConfig {
    fn default() -> Self {
        ModbusConfig {
            debounce_ms: 300,
            devices: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    Tcp,
    Rtu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    Even,
    Odd,
}

/// One Modbus device (a PLC or door controller, one unit id).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceConfig {
    /// Names the device in events and `status`.
    pub name: String,
    pub transport: TransportKind,
    /// TCP: host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// TCP: port (default 502).
    #[serde(default)]
    pub port: Option<u16>,
    /// RTU: the serial device; devices with the same path share the bus.
    #[serde(default)]
    pub serial_port: Option<PathBuf>,
    /// RTU: line settings (defaults 19200, even, 8, 1: the Modbus default).
    #[serde(default)]
    pub baud_rate: Option<u32>,
    #[serde(default)]
    pub parity: Option<Parity>,
    #[serde(default)]
    pub data_bits: Option<u8>,
    #[serde(default)]
    pub stop_bits: Option<u8>,
    /// Modbus unit (slave) id.
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: u64,
    /// Every request (and TCP connect, and serial open) must finish within this.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub debounce_ms: Option<u64>,
    /// Failed polls in a row before the device is logged offline.
    #[serde(default = "default_offline_after")]
    pub offline_after_failures: u32,
    /// Retry backoff for a failing device: jittered, doubling from min to max.
    #[serde(default = "default_retry_min")]
    pub retry_min_ms: u64,
    #[serde(default = "default_retry_max")]
    pub retry_max_ms: u64,
    #[serde(default)]
    pub doors: Vec<DoorMap>,
}

fn default_unit_id() -> u8 {
    1
}
fn default_poll_interval() -> u64 {
    200
}
fn default_timeout() -> u64 {
    500
}
fn default_offline_after() -> u32 {
    3
}
fn default_retry_min() -> u64 {
    500
}
fn default_retry_max() -> u64 {
    30_000
}

/// Where one door's signals live on its device.
#[derive(Debug, Clone, Deserialize)]
pub struct DoorMap {
    /// The door's id, as the planner and the WMS name it.
    pub door: String,
    pub signals: BTreeMap<String, SignalSpec>,
}

/// The Modbus tables (data model) a signal can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Function code 1.
    Coil,
    /// Function code 2.
    DiscreteInput,
    /// Function code 3.
    HoldingRegister,
    /// Function code 4.
    InputRegister,
}

impl Table {
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Coil => "coil",
            Table::DiscreteInput => "discrete_input",
            Table::HoldingRegister => "holding_register",
            Table::InputRegister => "input_register",
        }
    }

    pub fn is_register(self) -> bool {
        matches!(self, Table::HoldingRegister | Table::InputRegister)
    }

    /// The read function code: only 1-4 are ever sent.
    pub fn function_code(self) -> u8 {
        match self {
            Table::Coil => 1,
            Table::DiscreteInput => 2,
            Table::HoldingRegister => 3,
            Table::InputRegister => 4,
        }
    }

    /// Modbus's limit on one read request: 2,000 bits or 125 registers.
    pub fn max_per_request(self) -> u16 {
        if self.is_register() {
            125
        } else {
            2000
        }
    }
}

/// One signal: table, address, and for registers optionally a bit.
#[derive(Debug, Clone, Deserialize)]
pub struct SignalSpec {
    pub table: Table,
    /// 0-based protocol address (not the 1-based 40001-style number).
    pub address: i64,
    /// For registers: which bit (0 = least significant). Without it the
    /// signal is "register is non-zero".
    #[serde(default)]
    pub bit: Option<i64>,
    /// The wire value is the opposite of the signal (normally-closed contacts).
    #[serde(default)]
    pub invert: bool,
}

/// A device's serial line settings, resolved with defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    pub baud_rate: u32,
    pub parity: Parity,
    pub data_bits: u8,
    pub stop_bits: u8,
}

impl DeviceConfig {
    pub fn debounce_ms(&self, modbus: &ModbusConfig) -> u64 {
        self.debounce_ms.unwrap_or(modbus.debounce_ms)
    }

    pub fn tcp_port(&self) -> u16 {
        self.port.unwrap_or(502)
    }

    pub fn serial_settings(&self) -> SerialSettings {
        SerialSettings {
            baud_rate: self.baud_rate.unwrap_or(19_200),
            parity: self.parity.unwrap_or(Parity::Even),
            data_bits: self.data_bits.unwrap_or(8),
            stop_bits: self.stop_bits.unwrap_or(1),
        }
    }

    /// Where the device is reached, for spotting two entries for one device.
    fn endpoint(&self) -> String {
        match self.transport {
            TransportKind::Tcp => format!(
                "tcp {}:{}",
                self.host.as_deref().unwrap_or(""),
                self.tcp_port()
            ),
            TransportKind::Rtu => format!(
                "serial {}",
                self.serial_port
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        }
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_signal_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl ModbusConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if self.debounce_ms > 600_000 {
            p.push(
                "modbus.debounce_ms",
                format!("{} is out of range", self.debounce_ms),
                "use 0 to 600000 ms (default 300)",
            );
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut doors: HashMap<&str, usize> = HashMap::new();
        let mut units: HashMap<(String, u8), usize> = HashMap::new();
        let mut buses: HashMap<&std::path::Path, usize> = HashMap::new();
        for (i, d) in self.devices.iter().enumerate() {
            let at = format!("modbus.devices[{i}]");
            if !is_name(&d.name) {
                p.push(
                    format!("{at}.name"),
                    format!("`{}` is not a valid device name", d.name),
                    "use letters, digits, `-`, `_` and `.`, e.g. name = \"plc-north\"",
                );
            } else if let Some(first) = names.insert(&d.name, i) {
                p.push(
                    format!("{at}.name"),
                    format!("`{}` is also the name of modbus.devices[{first}]", d.name),
                    "give every device its own name",
                );
            }
            d.validate(&at, self, p);
            if let Some(first) = units.insert((d.endpoint(), d.unit_id), i) {
                p.push(
                    format!("{at}.unit_id"),
                    format!(
                        "modbus.devices[{first}] is already unit {} on {}",
                        d.unit_id,
                        d.endpoint()
                    ),
                    "map all of one device's doors in one [[modbus.devices]] entry, or correct unit_id",
                );
            }
            if let (TransportKind::Rtu, Some(path)) = (d.transport, &d.serial_port) {
                match buses.get(path.as_path()) {
                    None => {
                        buses.insert(path, i);
                    }
                    Some(&first) => {
                        let (a, b) = (self.devices[first].serial_settings(), d.serial_settings());
                        if a != b {
                            p.push(
                                format!("{at}.serial_port"),
                                format!(
                                    "shares {} with modbus.devices[{first}] (`{}`) but not its line settings ({} vs {})",
                                    path.display(),
                                    self.devices[first].name,
                                    describe(b),
                                    describe(a)
                                ),
                                "devices on one bus must use the same baud_rate, parity, data_bits and stop_bits",
                            );
                        }
                    }
                }
            }
            for (j, door) in d.doors.iter().enumerate() {
                if let Some(first) = doors.insert(&door.door, i) {
                    p.push(
                        format!("{at}.doors[{j}].door"),
                        format!(
                            "door `{}` is already mapped on modbus.devices[{first}]",
                            door.door
                        ),
                        "map each door once",
                    );
                }
            }
        }
    }
}

/// Who reads an address: the whole of it (`door.signal`), or which bits.
type Users = (Option<String>, [Option<String>; 16]);

fn describe(s: SerialSettings) -> String {
    let parity = match s.parity {
        Parity::None => 'N',
        Parity::Even => 'E',
        Parity::Odd => 'O',
    };
    format!("{} {}{}{}", s.baud_rate, s.data_bits, parity, s.stop_bits)
}

impl DeviceConfig {
    fn validate(&self, at: &str, modbus: &ModbusConfig, p: &mut Problems) {
        let tcp_only = [("host", self.host.is_some()), ("port", self.port.is_some())];
        let rtu_only = [
            ("serial_port", self.serial_port.is_some()),
            ("baud_rate", self.baud_rate.is_some()),
            ("parity", self.parity.is_some()),
            ("data_bits", self.data_bits.is_some()),
            ("stop_bits", self.stop_bits.is_some()),
        ];
        match self.transport {
            TransportKind::Tcp => {
                for (key, set) in rtu_only {
                    if set {
                        p.push(
                            format!("{at}.{key}"),
                            "is for transport = \"rtu\"; this device is \"tcp\"",
                            format!("remove `{key}`, or set transport = \"rtu\""),
                        );
                    }
                }
                if self.host.as_deref().map_or(true, |h| h.trim().is_empty()) {
                    p.push(
                        format!("{at}.host"),
                        "a TCP device needs a host",
                        "add host = \"10.0.0.21\" (the PLC's address or name)",
                    );
                }
                if self.port == Some(0) {
                    p.push(
                        format!("{at}.port"),
                        "is 0",
                        "use the device's Modbus port, usually 502",
                    );
                }
            }
            TransportKind::Rtu => {
                for (key, set) in tcp_only {
                    if set {
                        p.push(
                            format!("{at}.{key}"),
                            "is for transport = \"tcp\"; this device is \"rtu\"",
                            format!("remove `{key}`, or set transport = \"tcp\""),
                        );
                    }
                }
                if self
                    .serial_port
                    .as_deref()
                    .map_or(true, |s| s.as_os_str().is_empty())
                {
                    p.push(
                        format!("{at}.serial_port"),
                        "an RTU device needs a serial port",
                        "add serial_port = \"/dev/ttyUSB0\" (or a /dev/serial/by-id/ path)",
                    );
                }
                let s = self.serial_settings();
                if !(300..=1_000_000).contains(&s.baud_rate) {
                    p.push(
                        format!("{at}.baud_rate"),
                        format!("{} is out of range", s.baud_rate),
                        "use the bus's baud rate, e.g. 9600 or 19200 (default)",
                    );
                }
                if s.data_bits != 8 {
                    p.push(
                        format!("{at}.data_bits"),
                        format!("{}: Modbus RTU frames are 8-bit", s.data_bits),
                        "use data_bits = 8 (the default)",
                    );
                }
                if !(1..=2).contains(&s.stop_bits) {
                    p.push(
                        format!("{at}.stop_bits"),
                        format!("{} is not a stop bit count", s.stop_bits),
                        "use 1 (default) or 2",
                    );
                }
                if !(1..=247).contains(&self.unit_id) {
                    p.push(
                        format!("{at}.unit_id"),
                        format!("{} is not an RTU device address", self.unit_id),
                        "use the controller's address, 1 to 247 (0 is broadcast: nothing answers)",
                    );
                }
            }
        }
        let ranges: [(&str, u64, u64, u64, &str); 4] = [
            (
                "poll_interval_ms",
                self.poll_interval_ms,
                10,
                3_600_000,
                "200",
            ),
            ("timeout_ms", self.timeout_ms, 10, 60_000, "500"),
            ("retry_min_ms", self.retry_min_ms, 10, 3_600_000, "500"),
            ("retry_max_ms", self.retry_max_ms, 10, 3_600_000, "30000"),
        ];
        for (key, v, lo, hi, default) in ranges {
            if !(lo..=hi).contains(&v) {
                p.push(
                    format!("{at}.{key}"),
                    format!("{v} is out of range"),
                    format!("use {lo} to {hi} ms (default {default})"),
                );
            }
        }
        if self.retry_min_ms > self.retry_max_ms {
            p.push(
                format!("{at}.retry_min_ms"),
                format!(
                    "{} is above retry_max_ms ({})",
                    self.retry_min_ms, self.retry_max_ms
                ),
                "make retry_min_ms at most retry_max_ms",
            );
        }
        if let Some(d) = self.debounce_ms {
            if d > 600_000 {
                p.push(
                    format!("{at}.debounce_ms"),
                    format!("{d} is out of range"),
                    format!(
                        "use 0 to 600000 ms, or remove it to use modbus.debounce_ms ({})",
                        modbus.debounce_ms
                    ),
                );
            }
        }
        if self.offline_after_failures == 0 {
            p.push(
                format!("{at}.offline_after_failures"),
                "is 0",
                "use at least 1 (default 3)",
            );
        }
        if self.doors.is_empty() {
            p.push(
                format!("{at}.doors"),
                "the device has no doors mapped",
                format!(
                    "add [[modbus.devices.doors]] with door = \"D01\" and its [modbus.devices.doors.signals], or remove the device `{}`",
                    self.name
                ),
            );
        }
        self.validate_map(at, p);
    }

    /// Each register bit, coil or input feeds at most one signal, and every
    /// address and bit exists.
    fn validate_map(&self, at: &str, p: &mut Problems) {
        let mut used: HashMap<(Table, i64), Users> = HashMap::new();
        for (j, door) in self.doors.iter().enumerate() {
            let dat = format!("{at}.doors[{j}]");
            if !is_name(&door.door) {
                p.push(
                    format!("{dat}.door"),
                    format!("`{}` is not a valid door id", door.door),
                    "use letters, digits, `-`, `_` and `.`, e.g. door = \"D01\"",
                );
            }
            if !door.signals.contains_key(signal::VEHICLE_PRESENT) {
                p.push(
                    format!("{dat}.signals"),
                    format!(
                        "door `{}` has no vehicle_present signal: its state cannot be told",
                        door.door
                    ),
                    "add vehicle_present = { table = \"discrete_input\", address = N }",
                );
            }
            for (name, s) in &door.signals {
                let key = format!("{dat}.signals.{name}");
                if !is_signal_name(name) {
                    p.push(
                        key.clone(),
                        format!("`{name}` is not a valid signal name"),
                        format!(
                            "use lower-case letters, digits and `_`; the state uses {}",
                            signal::KNOWN.join(", ")
                        ),
                    );
                }
                if !(0..=65_535).contains(&s.address) {
                    p.push(
                        format!("{key}.address"),
                        format!("{} is outside the Modbus address range", s.address),
                        "use the 0-based protocol address, 0 to 65535 (register 40001 is holding_register 0)",
                    );
                    continue;
                }
                let entry = used.entry((s.table, s.address)).or_default();
                let user = format!("{}.{name}", door.door);
                let clash = |other: &str| {
                    format!(
                        "{} {} is already read as `{other}`",
                        s.table.as_str(),
                        s.address
                    )
                };
                match (s.table.is_register(), s.bit) {
                    (false, Some(_)) => p.push(
                        format!("{key}.bit"),
                        format!("a {} is a single bit already", s.table.as_str()),
                        "remove `bit` (bits are for holding_register and input_register)",
                    ),
                    (true, Some(bit)) if !(0..=15).contains(&bit) => p.push(
                        format!("{key}.bit"),
                        format!("{bit} is not a bit of a 16-bit register"),
                        "use 0 (least significant) to 15",
                    ),
                    (true, Some(bit)) => {
                        let bit = bit as usize;
                        if let Some(other) = entry.0.as_ref().or(entry.1[bit].as_ref()) {
                            p.push(key, clash(other), "give each signal its own address or bit");
                        } else {
                            entry.1[bit] = Some(user);
                        }
                    }
                    (_, None) => {
                        let other = entry.0.as_ref().or_else(|| entry.1.iter().flatten().next());
                        if let Some(other) = other {
                            p.push(key, clash(other), "give each signal its own address or bit");
                        } else {
                            entry.0 = Some(user);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{AgentConfig, ConfigError};

    const BASE: &str = r#"
site = "dc-1"
data_dir = "/tmp/x"
[site_broker]
host = "localhost"
"#;

    const DEVICES: &str = r#"
[modbus]
debounce_ms = 250

[[modbus.devices]]
name = "plc-north"
transport = "tcp"
host = "127.0.0.1"
unit_id = 1
poll_interval_ms = 100

[[modbus.devices.doors]]
door = "D01"
[modbus.devices.doors.signals]
door_open = { table = "discrete_input", address = 0 }
vehicle_present = { table = "discrete_input", address = 1 }
restraint_engaged = { table = "holding_register", address = 10, bit = 0 }
leveller_deployed = { table = "holding_register", address = 10, bit = 1 }
fault = { table = "coil", address = 0, invert = true }

[[modbus.devices.doors]]
door = "D02"
[modbus.devices.doors.signals]
door_open = { table = "discrete_input", address = 2 }
vehicle_present = { table = "discrete_input", address = 3 }

[[modbus.devices]]
name = "ctl-south-1"
transport = "rtu"
serial_port = "/dev/ttyUSB0"
baud_rate = 9600
unit_id = 3

[[modbus.devices.doors]]
door = "D10"
[modbus.devices.doors.signals]
vehicle_present = { table = "input_register", address = 0 }
"#;

    fn problems(text: &str) -> Vec<String> {
        match AgentConfig::parse(text, Path::new("t.toml")) {
            Ok(_) => vec![],
            Err(ConfigError::Invalid { problems, .. }) => {
                problems.iter().map(|p| p.to_string()).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn a_good_map_parses_with_defaults() {
        let c =
            AgentConfig::parse(&format!("{BASE}{DEVICES}"), Path::new("t.toml")).expect("valid");
        let m = &c.modbus;
        assert_eq!(m.devices.len(), 2);
        assert_eq!(m.devices[0].tcp_port(), 502);
        assert_eq!(m.devices[0].debounce_ms(m), 250);
        assert_eq!(m.devices[0].doors[0].signals.len(), 5);
        assert!(m.devices[0].doors[0].signals["fault"].invert);
        let s = m.devices[1].serial_settings();
        assert_eq!((s.baud_rate, s.data_bits, s.stop_bits), (9600, 8, 1));
    }

    #[test]
    fn overlapping_and_out_of_range_maps_are_refused_with_their_lines() {
        let text = format!("{BASE}{DEVICES}")
            // D02's door_open onto D01's vehicle_present
            .replace(
                "door_open = { table = \"discrete_input\", address = 2 }",
                "door_open = { table = \"discrete_input\", address = 1 }",
            )
            // a whole-register signal on a register whose bits are used
            .replace(
                "vehicle_present = { table = \"discrete_input\", address = 3 }",
                "vehicle_present = { table = \"holding_register\", address = 10 }",
            )
            .replace("address = 10, bit = 1", "address = 10, bit = 16")
            .replace(
                "{ table = \"coil\", address = 0, invert = true }",
                "{ table = \"coil\", address = 70000 }",
            );
        let p = problems(&text);
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(
            p.iter().any(|s| s.contains("doors[1].signals.door_open")
                && s.contains("discrete_input 1 is already read as `D01.vehicle_present`")),
            "{p:#?}"
        );
        assert!(p
            .iter()
            .any(|s| s.contains("doors[1].signals.vehicle_present")
                && s.contains("holding_register 10 is already read as `D01.restraint_engaged`")));
        assert!(p
            .iter()
            .any(|s| s.contains("leveller_deployed.bit") && s.contains("16 is not a bit")));
        assert!(p
            .iter()
            .any(|s| s.contains("fault.address") && s.contains("70000 is outside")));
        // Lines point into the nested tables.
        let line_of = |needle: &str| {
            text.lines()
                .position(|l| l.contains(needle))
                .map(|i| i + 1)
                .expect("needle in text")
        };
        let want = format!("line {}:", line_of("address = 10, bit = 16"));
        assert!(
            p.iter().any(|s| s.starts_with(&want) && s.contains("bit")),
            "{want} in {p:#?}"
        );
    }

    #[test]
    fn transports_buses_and_names_are_checked() {
        let text = format!("{BASE}{DEVICES}")
            .replace(
                "host = \"127.0.0.1\"",
                "host = \"127.0.0.1\"\nbaud_rate = 9600",
            )
            .replace("name = \"ctl-south-1\"", "name = \"plc-north\"")
            .replace("door = \"D10\"", "door = \"D01\"")
            + r#"
[[modbus.devices]]
name = "ctl-south-2"
transport = "rtu"
serial_port = "/dev/ttyUSB0"
unit_id = 0
data_bits = 7
[[modbus.devices.doors]]
door = "D11"
[modbus.devices.doors.signals]
door_open = { table = "coil", address = 0, bit = 2 }
"#;
        let p = problems(&text);
        for needle in [
            "modbus.devices[0].baud_rate`: is for transport = \"rtu\"",
            "modbus.devices[1].name`: `plc-north` is also the name of modbus.devices[0]",
            "modbus.devices[1].doors[0].door`: door `D01` is already mapped",
            "modbus.devices[2].serial_port`: shares /dev/ttyUSB0 with modbus.devices[1]",
            "modbus.devices[2].unit_id`: 0 is not an RTU device address",
            "modbus.devices[2].data_bits`: 7: Modbus RTU frames are 8-bit",
            "modbus.devices[2].doors[0].signals`: door `D11` has no vehicle_present",
            "modbus.devices[2].doors[0].signals.door_open.bit`: a coil is a single bit",
        ] {
            assert!(p.iter().any(|s| s.contains(needle)), "{needle} in {p:#?}");
        }
        assert_eq!(p.len(), 8, "{p:#?}");
    }

    #[test]
    fn the_same_unit_twice_on_one_endpoint_is_refused() {
        let text = format!("{BASE}{DEVICES}").replace(
            "serial_port = \"/dev/ttyUSB0\"\nbaud_rate = 9600\nunit_id = 3",
            "serial_port = \"/dev/ttyUSB0\"\nbaud_rate = 9600\nunit_id = 3\n",
        ) + r#"
[[modbus.devices]]
name = "again"
transport = "rtu"
serial_port = "/dev/ttyUSB0"
baud_rate = 9600
unit_id = 3
[[modbus.devices.doors]]
door = "D12"
[modbus.devices.doors.signals]
vehicle_present = { table = "coil", address = 0 }
"#;
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].contains("already unit 3 on serial /dev/ttyUSB0"),
            "{p:#?}"
        );
    }

    #[test]
    fn unknown_keys_in_signal_maps_are_reported() {
        let text = format!("{BASE}{DEVICES}").replace(
            "{ table = \"coil\", address = 0, invert = true }",
            "{ table = \"coil\", adress = 0, address = 1 }",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].contains("modbus.devices[0].doors[0].signals.fault.adress`: unknown key"),
            "{p:#?}"
        );
        let line = text
            .lines()
            .position(|l| l.contains("adress"))
            .expect("line")
            + 1;
        assert!(p[0].starts_with(&format!("line {line}:")), "{p:#?}");
    }
}
