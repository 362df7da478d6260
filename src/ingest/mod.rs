//! Sources of events: the site MQTT broker and Modbus door controllers.

pub mod acks;
pub mod backoff;
pub mod decode;
pub mod modbus;
pub mod site_mqtt;
pub mod topic;
