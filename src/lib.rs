//! dockside: the edge agent for distribution-centre gateways.
//!
//! Sources (`ingest`) produce events, the `store` persists and numbers them
//! and only then acknowledges the source; `agent` wires it together.

pub mod agent;
pub mod central;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub mod heartbeat;
pub mod ingest;
pub mod link;
pub mod plan;
pub mod sim;
pub mod store;
pub mod systemd;
pub mod wire;
