//! The central allocator's config (`central.toml`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::broker::{check_prefix, BrokerConfig};
use super::problems::{parse_toml, read, ConfigError, Problems};

#[derive(Debug, Clone, Deserialize)]
pub struct CentralConfig {
    /// Where central's SQLite database lives (central.db).
    pub data_dir: PathBuf,
    /// The central broker the sites' uplinks connect to.
    pub broker: BrokerConfig,
    /// Topics are `{topic_prefix}/{site}/up|ack|plan|status`, as on the sites.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
}

fn default_prefix() -> String {
    "dockside".into()
}

impl CentralConfig {
    pub fn load(path: &Path) -> Result<CentralConfig, ConfigError> {
        Self::parse(&read(path)?, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<CentralConfig, ConfigError> {
        parse_toml(text, path, "config/central.toml", CentralConfig::validate)
    }

    fn validate(&self, p: &mut Problems) {
        if self.data_dir.as_os_str().is_empty() {
            p.push(
                "data_dir",
                "is empty",
                "set it, e.g. data_dir = \"/var/lib/dockside-central\"",
            );
        }
        self.broker.validate("broker", p);
        check_prefix("topic_prefix", &self.topic_prefix, p);
    }

    pub fn client_id(&self) -> String {
        self.broker
            .client_id
            .clone()
            .unwrap_or_else(|| "dockside-central".into())
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("central.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_is_valid() {
        CentralConfig::parse(
            include_str!("../../config/central.toml"),
            Path::new("config/central.toml"),
        )
        .expect("config/central.toml is valid");
    }

    #[test]
    fn parses_with_defaults_and_reports_unknown_keys() {
        let c = CentralConfig::parse(
            "data_dir = \"/tmp/c\"\n[broker]\nhost = \"localhost\"\n",
            Path::new("c.toml"),
        )
        .expect("valid");
        assert_eq!(c.topic_prefix, "dockside");
        assert_eq!(c.client_id(), "dockside-central");
        let err = CentralConfig::parse(
            "data_dir = \"/tmp/c\"\n[broker]\nhost = \"localhost\"\nprot = 1\n",
            Path::new("c.toml"),
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("broker.prot"), "{err}");
    }
}
