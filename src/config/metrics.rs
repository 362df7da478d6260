//! The optional Prometheus endpoint (`[metrics]`): off unless the section is
//! there, on loopback unless told otherwise.

use std::net::SocketAddr;

use serde::Deserialize;

use super::problems::Problems;

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsConfig {
    /// Address to serve `GET /metrics` on. It has no authentication: keep it
    /// on loopback unless a firewall limits who reaches it.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: default_listen(),
        }
    }
}

impl MetricsConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if self.listen.port() == 0 {
            p.push(
                "metrics.listen",
                "has port 0",
                "give a fixed port for the scraper, e.g. listen = \"127.0.0.1:9464\"",
            );
        }
    }
}
