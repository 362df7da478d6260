//! MQTT broker connections (site broker, central broker) and the uplink's
//! batching settings.

use std::path::PathBuf;

use serde::Deserialize;

use super::problems::Problems;

#[derive(Debug, Clone, Deserialize)]
pub struct BrokerConfig {
    pub host: String,
    #[serde(default = "default_mqtt_port")]
    pub port: u16,
    /// Stable client id: the broker keeps our session (and queued messages) under it.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (not readable by others); never the password itself.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Or: the name of a systemd credential holding the password
    /// (`LoadCredential=NAME:/path` in the unit).
    #[serde(default)]
    pub password_credential: Option<String>,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    /// TLS (rustls). Absent = plain TCP, for a broker on the same host only.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TlsConfig {
    /// PEM file with the CA certificate(s) the broker's certificate must chain to.
    pub ca_file: PathBuf,
    /// PEM client certificate, for brokers that require mutual TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (not readable by others).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Or: the name of a systemd credential holding that key.
    #[serde(default)]
    pub key_credential: Option<String>,
}

fn default_mqtt_port() -> u16 {
    1883
}
fn default_keep_alive() -> u64 {
    30
}
fn default_reconnect_min() -> u64 {
    200
}
fn default_reconnect_max() -> u64 {
    30_000
}

impl BrokerConfig {
    pub(crate) fn validate(&self, at: &str, p: &mut Problems) {
        if self.host.trim().is_empty() {
            p.push(
                format!("{at}.host"),
                "is empty",
                "set the broker's host name or address, e.g. host = \"localhost\"",
            );
        }
        if self.port == 0 {
            p.push(
                format!("{at}.port"),
                "is 0",
                "use the broker's port, usually 1883 (8883 with TLS)",
            );
        }
        if matches!(&self.client_id, Some(id) if id.is_empty() || id.len() > 128) {
            p.push(
                format!("{at}.client_id"),
                "must be 1 to 128 characters",
                "leave it out to use the default",
            );
        }
        if self.password_file.is_some() && self.username.is_none() {
            p.push(
                format!("{at}.password_file"),
                "is set without a username",
                "add `username`, or remove `password_file`",
            );
        }
        if self.password_credential.is_some() && self.username.is_none() {
            p.push(
                format!("{at}.password_credential"),
                "is set without a username",
                "add `username`, or remove `password_credential`",
            );
        }
        if self.password_file.is_some() && self.password_credential.is_some() {
            p.push(
                format!("{at}.password_credential"),
                "is set together with password_file",
                "keep one: password_file, or password_credential with LoadCredential= in the unit",
            );
        }
        check_credential_name(
            &format!("{at}.password_credential"),
            &self.password_credential,
            p,
        );
        if self.keep_alive_s < 5 || self.keep_alive_s > 3600 {
            p.push(
                format!("{at}.keep_alive_s"),
                format!("{} is out of range", self.keep_alive_s),
                "use 5 to 3600 (default 30)",
            );
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            p.push(
                format!("{at}.reconnect_min_ms"),
                "must be at least 1 and at most reconnect_max_ms",
                "e.g. reconnect_min_ms = 200, reconnect_max_ms = 30000",
            );
        }
        if let Some(tls) = &self.tls {
            let has_key = tls.key_file.is_some() || tls.key_credential.is_some();
            if tls.cert_file.is_some() != has_key {
                p.push(
                    format!("{at}.tls"),
                    "cert_file and key_file (or key_credential) go together",
                    "set both (mutual TLS) or neither",
                );
            }
            if tls.key_file.is_some() && tls.key_credential.is_some() {
                p.push(
                    format!("{at}.tls.key_credential"),
                    "is set together with key_file",
                    "keep one: key_file, or key_credential with LoadCredential= in the unit",
                );
            }
            check_credential_name(&format!("{at}.tls.key_credential"), &tls.key_credential, p);
        }
    }
}

/// Store-and-forward to the central allocator (`[uplink]`).
#[derive(Debug, Clone, Deserialize)]
pub struct UplinkConfig {
    /// The central broker.
    pub broker: BrokerConfig,
    /// Topics are `{topic_prefix}/{site}/up|ack|plan|status`.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// A batch holds at most this many events ...
    #[serde(default = "default_batch_events")]
    pub batch_max_events: usize,
    /// ... and at most this many encoded bytes ...
    #[serde(default = "default_batch_bytes")]
    pub batch_max_bytes: usize,
    /// ... and waits at most this long for more events once it has one.
    #[serde(default = "default_batch_age")]
    pub batch_max_age_ms: u64,
    /// Batches sent and not yet acknowledged by central, at most.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Unacknowledged this long: everything after the last ack is re-sent.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_s: u64,
    /// Synced events stay in the local log this long (unsynced ones always stay).
    #[serde(default = "default_retention")]
    pub retention_h: u64,
    /// Cap on the log's disk use. An alarm is raised at 80 %; at the cap,
    /// synced events are pruned early and, if that is not enough, intake
    /// stops acknowledging (the site broker holds the messages).
    #[serde(default = "default_max_disk")]
    pub max_disk_mb: u64,
}

fn default_prefix() -> String {
    "dockside".into()
}
fn default_batch_events() -> usize {
    1000
}
fn default_batch_bytes() -> usize {
    256 * 1024
}
fn default_batch_age() -> u64 {
    10
}
fn default_window() -> usize {
    8
}
fn default_ack_timeout() -> u64 {
    10
}
fn default_retention() -> u64 {
    72
}
fn default_max_disk() -> u64 {
    2048
}

impl UplinkConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        self.broker.validate("uplink.broker", p);
        check_prefix("uplink.topic_prefix", &self.topic_prefix, p);
        if !(1..=50_000).contains(&self.batch_max_events) {
            p.push(
                "uplink.batch_max_events",
                format!("{} is out of range", self.batch_max_events),
                "use 1 to 50000 (default 1000)",
            );
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.batch_max_bytes) {
            p.push(
                "uplink.batch_max_bytes",
                format!("{} is out of range", self.batch_max_bytes),
                "use 1024 to 67108864 (default 262144); keep it under the broker's message_size_limit",
            );
        }
        if !(1..=64).contains(&self.window) {
            p.push(
                "uplink.window",
                format!("{} is out of range", self.window),
                "use 1 to 64 (default 8)",
            );
        }
        if self.ack_timeout_s == 0 {
            p.push(
                "uplink.ack_timeout_s",
                "is 0",
                "use at least 1 (default 10)",
            );
        }
        if self.max_disk_mb < 16 {
            p.push(
                "uplink.max_disk_mb",
                format!("{} MB is too small for the log", self.max_disk_mb),
                "use at least 16 (default 2048), well below the free space in data_dir",
            );
        }
    }
}

/// A systemd credential name: a plain file name.
fn check_credential_name(key: &str, name: &Option<String>, p: &mut Problems) {
    if let Some(name) = name {
        if !crate::systemd::valid_credential_name(name) {
            p.push(
                key,
                format!("`{name}` is not a credential name"),
                "use a plain name without `/`, the one given to LoadCredential=, e.g. \"site-broker.password\"",
            );
        }
    }
}

/// A topic prefix: plain levels, no wildcards.
pub(crate) fn check_prefix(key: &str, prefix: &str, p: &mut Problems) {
    if prefix.is_empty()
        || prefix.starts_with('/')
        || prefix.ends_with('/')
        || prefix.contains(['+', '#', '\0'])
    {
        p.push(
            key,
            format!("`{prefix}` is not a usable topic prefix"),
            "use plain levels without wildcards or leading/trailing `/`, e.g. \"dockside\"",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{AgentConfig, ConfigError};

    const BASE: &str = r#"
site = "dc-1"
data_dir = "/tmp/d"
[site_broker]
host = "localhost"
username = "dockside"
[[subscriptions]]
topic = "scanners/+/scan"
format = "text"
kind = "scan"
action = "pick"
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
    fn a_password_in_the_config_is_refused_with_where_it_belongs() {
        let p = problems(&BASE.replace(
            "username = \"dockside\"",
            "username = \"dockside\"\npassword = \"hunter2\"",
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("site_broker.password`: unknown key"), "{p:?}");
        assert!(p[0].contains("password_credential"), "{p:?}");
    }

    #[test]
    fn a_secret_comes_from_a_file_or_a_credential_not_both() {
        let with = |extra: &str| {
            problems(&BASE.replace(
                "username = \"dockside\"",
                &format!("username = \"dockside\"\n{extra}"),
            ))
        };
        assert!(with("password_credential = \"site-broker\"").is_empty());
        let both =
            with("password_credential = \"site-broker\"\npassword_file = \"/etc/dockside/pw\"");
        assert!(
            both.iter()
                .any(|s| s.contains("together with password_file")),
            "{both:?}"
        );
        let bad = with("password_credential = \"../etc/shadow\"");
        assert!(
            bad.iter().any(|s| s.contains("not a credential name")),
            "{bad:?}"
        );
        let tls = with("[site_broker.tls]\nca_file = \"/ca.pem\"\ncert_file = \"/c.pem\"\nkey_credential = \"site-key\"");
        assert!(tls.is_empty(), "{tls:?}");
        let half = with("[site_broker.tls]\nca_file = \"/ca.pem\"\ncert_file = \"/c.pem\"");
        assert!(half.iter().any(|s| s.contains("go together")), "{half:?}");
    }
}
