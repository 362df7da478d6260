//! Configuration files: parsed and validated before any socket opens.
//! Every problem names the key and the fix.

mod agent;
mod modbus;
mod problems;

pub use agent::{
    AgentConfig, BrokerConfig, EventKind, FieldMapping, PayloadFormat, StoreConfig, Subscription,
};
pub use modbus::{
    DeviceConfig, DoorMap, ModbusConfig, Parity, SerialSettings, SignalSpec, Table, TransportKind,
};
pub use problems::{ConfigError, Problem};
