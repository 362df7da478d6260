//! The site agent's config (`dockside.toml`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::broker::{BrokerConfig, UplinkConfig};
use super::modbus::ModbusConfig;
use super::planning::PlanningConfig;
use super::problems::{parse_toml, read, ConfigError, Problems};
use crate::domain::ScanAction;

/// Unknown keys are not rejected by serde but collected by `parse`
/// (`serde_ignored`), so all of them are reported at once.
#[derive(Debug, Clone, Deserialize)]
pub struct AgentConfig {
    /// Site id: names the site in topics and upstream; letters, digits, `-`, `_`.
    pub site: String,
    /// Where the SQLite log lives.
    pub data_dir: PathBuf,
    #[serde(default)]
    pub store: StoreConfig,
    pub site_broker: BrokerConfig,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// Sync to the central allocator; absent = this site runs stand-alone.
    #[serde(default)]
    pub uplink: Option<UplinkConfig>,
    /// Dock-door controllers read over Modbus.
    #[serde(default)]
    pub modbus: ModbusConfig,
    /// The site planner (wave release, cutoff risk); absent = no planning.
    #[serde(default)]
    pub planning: Option<PlanningConfig>,
    /// Prometheus endpoint; absent = off.
    #[serde(default)]
    pub metrics: Option<super::MetricsConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// Commit at most this many events in one transaction.
    pub batch_max_events: usize,
    /// Commit at the latest this long after the first waiting event.
    pub batch_max_delay_ms: u64,
    /// How long a redelivered payload without an id is recognised by its content hash.
    pub dedupe_window_s: u64,
    /// How long a payload id is remembered for deduplication.
    pub id_retention_h: u64,
    /// The same code from the same scanner within this window is one scan, counted.
    pub double_scan_window_ms: u64,
    /// Larger payloads are dead-lettered (their first bytes kept).
    pub max_payload_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            batch_max_events: 2000,
            batch_max_delay_ms: 10,
            dedupe_window_s: 24 * 3600,
            id_retention_h: 7 * 24,
            double_scan_window_ms: 1500,
            max_payload_bytes: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// A JSON object; fields are found by JSON pointer (`mapping`).
    Json,
    /// The payload is the barcode, UTF-8.
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Scan,
    PickComplete,
    WaveReleased,
    OrderStatus,
    /// The WMS's count of one SKU on hand (`sku`, `qty`, optional `zone`).
    InventorySnapshot,
    /// A change to one SKU on hand (`sku`, signed `qty`).
    InventoryDelta,
    /// A departure's vehicle at the gate (`departure`).
    VehicleArrived,
    /// A planner decision as the planner publishes it (the whole payload:
    /// `{"kind": "departure_at_risk", ...}`); no mapping but an optional `id`.
    Decision,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Scan => "scan",
            EventKind::PickComplete => "pick_complete",
            EventKind::WaveReleased => "wave_released",
            EventKind::OrderStatus => "order_status",
            EventKind::InventorySnapshot => "inventory_snapshot",
            EventKind::InventoryDelta => "inventory_delta",
            EventKind::VehicleArrived => "vehicle_arrived",
            EventKind::Decision => "decision",
        }
    }

    /// Mapping fields this kind needs, and those it may use.
    fn fields(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            EventKind::Scan => (
                &["scanner", "code"],
                &["id", "action", "order", "wave", "line", "qty", "timestamp"],
            ),
            EventKind::PickComplete => (
                &["order"],
                &["id", "scanner", "wave", "line", "qty", "timestamp"],
            ),
            EventKind::WaveReleased => (&["wave"], &["id", "timestamp"]),
            EventKind::OrderStatus => (&["order", "status"], &["id", "timestamp"]),
            EventKind::InventorySnapshot => (&["sku", "qty"], &["id", "zone", "timestamp"]),
            EventKind::InventoryDelta => (&["sku", "qty"], &["id", "timestamp"]),
            EventKind::VehicleArrived => (&["departure"], &["id", "timestamp"]),
            EventKind::Decision => (&[], &["id"]),
        }
    }
}

/// JSON pointers (RFC 6901) to the payload's fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FieldMapping {
    pub id: Option<String>,
    pub scanner: Option<String>,
    pub code: Option<String>,
    pub action: Option<String>,
    pub order: Option<String>,
    pub wave: Option<String>,
    pub line: Option<String>,
    pub qty: Option<String>,
    pub status: Option<String>,
    pub sku: Option<String>,
    pub zone: Option<String>,
    pub departure: Option<String>,
    pub timestamp: Option<String>,
}

impl FieldMapping {
    /// The JSON pointer configured for `field`, if any.
    pub fn pointer(&self, field: &str) -> Option<&str> {
        self.entries()
            .into_iter()
            .find(|(name, _)| *name == field)
            .and_then(|(_, p)| p.as_deref())
    }

    fn entries(&self) -> [(&'static str, &Option<String>); 13] {
        [
            ("id", &self.id),
            ("scanner", &self.scanner),
            ("code", &self.code),
            ("action", &self.action),
            ("order", &self.order),
            ("wave", &self.wave),
            ("line", &self.line),
            ("qty", &self.qty),
            ("status", &self.status),
            ("sku", &self.sku),
            ("zone", &self.zone),
            ("departure", &self.departure),
            ("timestamp", &self.timestamp),
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    /// MQTT topic filter (`+` and `#` wildcards).
    pub topic: String,
    #[serde(default = "default_qos")]
    pub qos: u8,
    pub format: PayloadFormat,
    pub kind: EventKind,
    /// Fixed scan action for every message of this subscription
    /// (instead of `mapping.action`).
    #[serde(default)]
    pub action: Option<ScanAction>,
    #[serde(default)]
    pub mapping: Option<FieldMapping>,
}

fn default_qos() -> u8 {
    1
}

impl AgentConfig {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        Self::parse(&read(path)?, path)
    }

    /// Parse and validate config text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<AgentConfig, ConfigError> {
        parse_toml(text, path, "config/dockside.toml", AgentConfig::validate)
    }

    fn validate(&self, p: &mut Problems) {
        if self.site.is_empty()
            || !self
                .site
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            p.push(
                "site",
                format!("`{}` is not a valid site id", self.site),
                "use letters, digits, `-` and `_` only, e.g. site = \"dc-leeds\"",
            );
        }
        if self.data_dir.as_os_str().is_empty() {
            p.push(
                "data_dir",
                "is empty",
                "set it, e.g. data_dir = \"/var/lib/dockside\"",
            );
        }
        let s = &self.store;
        if !(1..=100_000).contains(&s.batch_max_events) {
            p.push(
                "store.batch_max_events",
                format!("{} is out of range", s.batch_max_events),
                "use 1 to 100000 (default 2000)",
            );
        }
        if !(1..=10_000).contains(&s.batch_max_delay_ms) {
            p.push(
                "store.batch_max_delay_ms",
                format!("{} is out of range", s.batch_max_delay_ms),
                "use 1 to 10000 ms (default 10)",
            );
        }
        if s.max_payload_bytes < 64 || s.max_payload_bytes > 16 * 1024 * 1024 {
            p.push(
                "store.max_payload_bytes",
                format!("{} is out of range", s.max_payload_bytes),
                "use 64 to 16777216 (default 65536)",
            );
        }
        if s.id_retention_h == 0 {
            p.push(
                "store.id_retention_h",
                "is 0: redelivered messages would be stored twice",
                "use at least 1 (default 168)",
            );
        }
        self.site_broker.validate("site_broker", p);
        if let Some(u) = &self.uplink {
            u.validate(p);
        }
        if let Some(planning) = &self.planning {
            planning.validate(p);
        }
        if let Some(m) = &self.metrics {
            m.validate(p);
        }
        if self.subscriptions.is_empty() && self.modbus.devices.is_empty() {
            p.push(
                "subscriptions",
                "none configured: nothing would be ingested",
                "add at least one [[subscriptions]] table (see config/dockside.toml)",
            );
        }
        for (i, sub) in self.subscriptions.iter().enumerate() {
            sub.validate(&format!("subscriptions[{i}]"), p);
        }
        self.modbus.validate(p);
    }

    /// The client id the site broker knows us by.
    pub fn site_client_id(&self) -> String {
        self.site_broker
            .client_id
            .clone()
            .unwrap_or_else(|| format!("dockside-{}", self.site))
    }

    /// The client id the central broker knows this site's uplink by.
    pub fn uplink_client_id(&self) -> String {
        self.uplink
            .as_ref()
            .and_then(|u| u.broker.client_id.clone())
            .unwrap_or_else(|| format!("dockside-{}-uplink", self.site))
    }

    /// The log's database file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("dockside.db")
    }
}

impl Subscription {
    fn validate(&self, at: &str, p: &mut Problems) {
        if let Err(why) = check_topic_filter(&self.topic) {
            p.push(
                format!("{at}.topic"),
                format!("`{}` is not a valid MQTT topic filter: {why}", self.topic),
                "use `/`-separated levels; `+` matches one whole level, `#` only as the last level",
            );
        }
        match self.qos {
            1 => {}
            0 => p.push(
                format!("{at}.qos"),
                "0 is not allowed".to_string(),
                "use 1 (or remove the key): QoS 0 messages cannot be acknowledged after commit and may be lost",
            ),
            // rumqttc keeps a QoS 2 handshake in memory only: after a restart
            // the broker's PUBREL is refused and the connection drops, again
            // and again (found by tests/ingest.rs).
            n => p.push(
                format!("{at}.qos"),
                format!("{n} is not allowed"),
                "use 1 (or remove the key): dockside removes redeliveries itself (by id, or by content), so QoS 1 is exactly once in effect; QoS 2 publishers are delivered at QoS 1",
            ),
        }
        if self.action.is_some() && self.kind != EventKind::Scan {
            p.push(
                format!("{at}.action"),
                format!(
                    "is only for kind = \"scan\", this is \"{}\"",
                    self.kind.as_str()
                ),
                "remove `action`",
            );
        }
        match (self.format, &self.mapping) {
            (PayloadFormat::Text, Some(_)) => p.push(
                format!("{at}.mapping"),
                "a text payload has no fields to map",
                "remove the mapping, or use format = \"json\"",
            ),
            (PayloadFormat::Text, None) => {
                if self.kind != EventKind::Scan {
                    p.push(
                        format!("{at}.format"),
                        format!(
                            "text payloads carry only a barcode, which cannot make a `{}` event",
                            self.kind.as_str()
                        ),
                        "use format = \"json\" with a mapping, or kind = \"scan\"",
                    );
                } else if self.action.is_none() {
                    p.push(
                        format!("{at}.action"),
                        "a text scan needs a fixed action",
                        "add e.g. action = \"pick\" (one of pick, pack, stage, load, receive)",
                    );
                }
            }
            (PayloadFormat::Json, None) if self.kind == EventKind::Decision => {}
            (PayloadFormat::Json, None) => p.push(
                format!("{at}.mapping"),
                "format = \"json\" needs a field mapping",
                format!(
                    "add [subscriptions.mapping] with JSON pointers for {}",
                    self.kind.fields().0.join(", ")
                ),
            ),
            (PayloadFormat::Json, Some(m)) => self.validate_mapping(at, m, p),
        }
    }

    fn validate_mapping(&self, at: &str, m: &FieldMapping, p: &mut Problems) {
        let (required, optional) = self.kind.fields();
        for (name, value) in m.entries() {
            let key = format!("{at}.mapping.{name}");
            match value {
                Some(ptr) if !ptr.starts_with('/') => p.push(
                    key,
                    format!("`{ptr}` is not a JSON pointer"),
                    format!("start it with `/`, e.g. {name} = \"/{ptr}\""),
                ),
                Some(_) if !required.contains(&name) && !optional.contains(&name) => p.push(
                    key,
                    format!("`{name}` is not a field of `{}` events", self.kind.as_str()),
                    format!(
                        "remove it; `{}` uses {}",
                        self.kind.as_str(),
                        required
                            .iter()
                            .chain(optional)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                None if required.contains(&name) => p.push(
                    key,
                    format!("`{}` events need `{name}`", self.kind.as_str()),
                    format!("add {name} = \"/path/to/{name}\" (a JSON pointer)"),
                ),
                _ => {}
            }
        }
        if self.kind == EventKind::Scan {
            match (&self.action, &m.action) {
                (Some(_), Some(_)) => p.push(
                    format!("{at}.mapping.action"),
                    "the action is both fixed and mapped",
                    "keep one: `action = \"pick\"` or `mapping.action`",
                ),
                (None, None) => p.push(
                    format!("{at}.action"),
                    "scans need an action",
                    "add action = \"pick\" (fixed) or mapping.action = \"/action\"",
                ),
                _ => {}
            }
        }
    }
}

/// MQTT topic filter rules (MQTT 3.1.1 §4.7).
fn check_topic_filter(filter: &str) -> Result<(), &'static str> {
    if filter.is_empty() {
        return Err("it is empty");
    }
    if filter.contains('\0') {
        return Err("it contains a NUL character");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i != levels.len() - 1) {
            return Err("`#` must be a whole level and the last one");
        }
        if level.contains('+') && *level != "+" {
            return Err("`+` must be a whole level");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
site = "dc-1"
data_dir = "/tmp/x"
[site_broker]
host = "localhost"
[[subscriptions]]
topic = "scanners/+/scan"
format = "text"
kind = "scan"
action = "pick"
[[subscriptions]]
topic = "wms/picks"
format = "json"
kind = "pick_complete"
[subscriptions.mapping]
id = "/id"
order = "/order"
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
    fn good_config_parses_with_defaults() {
        let c = AgentConfig::parse(GOOD, Path::new("t.toml")).expect("valid");
        assert_eq!(c.site_client_id(), "dockside-dc-1");
        assert_eq!(c.site_broker.port, 1883);
        assert_eq!(c.subscriptions[1].qos, 1);
        assert_eq!(c.store.batch_max_events, 2000);
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_line() {
        let text = GOOD.replace(
            "host = \"localhost\"",
            "host = \"localhost\"\nprot = 1\nhots = 2",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("line 6: `site_broker.prot`: unknown key"),
            "{p:?}"
        );
        assert!(p[1].contains("site_broker.hots"), "{p:?}");
    }

    #[test]
    fn semantic_problems_are_all_reported_with_fixes() {
        let text = GOOD
            .replace("site = \"dc-1\"", "site = \"dc 1\"")
            .replace("scanners/+/scan", "scanners/#/scan")
            .replace("order = \"/order\"", "order = \"order\"\nstatus = \"/s\"");
        let p = problems(&text);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p.iter().any(|s| s.contains("`site`") && s.contains("fix:")));
        assert!(p.iter().any(|s| s.contains("subscriptions[0].topic")));
        assert!(p.iter().any(|s| s.contains("not a JSON pointer")));
        assert!(p
            .iter()
            .any(|s| s.contains("`status` is not a field of `pick_complete`")));
    }

    #[test]
    fn type_errors_name_the_line() {
        let p = problems(&GOOD.replace("format = \"text\"", "format = \"xml\""));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("line 8"), "{p:?}");
        assert!(p[0].contains("xml"), "{p:?}");
    }

    #[test]
    fn qos_other_than_1_is_refused_with_the_reason() {
        let p = problems(&GOOD.replace("action = \"pick\"", "action = \"pick\"\nqos = 0"));
        assert!(p[0].contains("QoS 0"), "{p:?}");
        let p = problems(&GOOD.replace("action = \"pick\"", "action = \"pick\"\nqos = 2"));
        assert!(p[0].contains("exactly once in effect"), "{p:?}");
    }

    #[test]
    fn inventory_and_decision_subscriptions() {
        let text = format!(
            "{GOOD}\n[[subscriptions]]\ntopic = \"wms/stock\"\nformat = \"json\"\nkind = \"inventory_snapshot\"\n[subscriptions.mapping]\nsku = \"/sku\"\nqty = \"/qty\"\nzone = \"/zone\"\n[[subscriptions]]\ntopic = \"planner/decisions/#\"\nformat = \"json\"\nkind = \"decision\"\n"
        );
        assert_eq!(problems(&text), Vec::<String>::new());
        let bad = text.replace("zone = \"/zone\"\n", "order = \"/o\"\n");
        let p = problems(&bad);
        assert!(
            p.iter()
                .any(|s| s.contains("`order` is not a field of `inventory_snapshot`")),
            "{p:?}"
        );
        let no_sku = text.replace("sku = \"/sku\"\n", "");
        assert!(problems(&no_sku)
            .iter()
            .any(|s| s.contains("`inventory_snapshot` events need `sku`")));
    }
    #[test]
    fn dock_doors_are_validated_with_keys_and_fixes() {
        let docks = "\n[planning]\n[planning.docks]\ncall_lead_min = 10\n[[planning.docks.doors]]\nid = \"D01\"\ncarriers = [\"reefer\"]\n[[planning.docks.doors]]\nid = \"D02\"\nload_factor = 1.2\n";
        let text = format!("{GOOD}{docks}");
        assert_eq!(problems(&text), Vec::<String>::new());
        let c = AgentConfig::parse(&text, Path::new("t.toml")).expect("valid");
        let d = c.planning.and_then(|p| p.docks).expect("docks");
        assert_eq!(d.doors[1].load_factor, 1.2);
        assert_eq!(d.max_rounds, 200);
        let bad = text
            .replace("id = \"D02\"", "id = \"D01\"")
            .replace("load_factor = 1.2", "load_factor = 0\nlead = 3")
            .replace("call_lead_min = 10", "call_lead_min = -1");
        let p = problems(&bad);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(
            p.iter()
                .any(|s| s.contains("`planning.docks.doors[1].lead`: unknown key")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|s| s.contains("doors[1].id") && s.contains("listed twice")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|s| s.contains("doors[1].load_factor") && s.contains("fix:")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|s| s.contains("planning.docks.call_lead_min")),
            "{p:?}"
        );
    }
}
