//! Configuration files: parsed and validated before any socket opens.
//! Every problem names the key and the fix.

mod agent;
mod problems;

pub use agent::{
    AgentConfig, BrokerConfig, EventKind, FieldMapping, PayloadFormat, StoreConfig, Subscription,
};
pub use problems::{ConfigError, Problem};
