//! Configuration files: parsed and validated before any socket opens.
//! Every problem names the key and the fix.

mod agent;
mod broker;
mod central;
mod metrics;
mod modbus;
mod planning;
mod problems;

pub use agent::{AgentConfig, EventKind, FieldMapping, PayloadFormat, StoreConfig, Subscription};
pub use broker::{BrokerConfig, TlsConfig, UplinkConfig};
pub use central::{
    parse_time_of_day, AllocationConfig, CarrierService, CentralConfig, SiteConfig, TenantRule,
    WEEKDAYS,
};
pub use metrics::MetricsConfig;
pub use modbus::{
    DeviceConfig, DoorMap, ModbusConfig, Parity, SerialSettings, SignalSpec, Table, TransportKind,
};
pub use planning::PlanningConfig;
#[cfg(feature = "demo")]
pub(crate) use problems::{parse_toml, Problems};
pub use problems::{ConfigError, Problem};
