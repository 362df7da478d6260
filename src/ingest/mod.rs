//! Sources of events: the site MQTT broker (and, later, Modbus door pollers).

pub mod backoff;
pub mod decode;
pub mod site_mqtt;
pub mod topic;
