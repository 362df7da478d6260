//! A small network for the allocator's tests: three sites, a calendar, two tenants.

use std::path::Path;

use crate::config::CentralConfig;
use crate::domain::{EventBody, Millis};

use super::order::{Line, Order};

/// Wednesday 2026-11-25 08:00 UTC.
pub const T0: Millis = 1_795_593_600_000;
pub const HOUR: Millis = 3_600_000;

pub const CONFIG: &str = r#"data_dir = "/tmp/unused"
[broker]
host = "localhost"

[allocation]
late_penalty = 40.0
late_penalty_by_tier = { express = 120.0 }

[[sites]]
id = "dc-a"
lines_per_hour = 100
[sites.load]
staging_s = 900
fixed_s = 900
per_line_s = 0

[[sites]]
id = "dc-b"
lines_per_hour = 100
[sites.load]
staging_s = 900
fixed_s = 900
per_line_s = 0

[[sites]]
id = "dc-c"
lines_per_hour = 50
[sites.load]
staging_s = 900
fixed_s = 900
per_line_s = 0
[[sites.zones]]
id = "ambient"
standard_lines_per_hour = 25
headcount = 2
[[sites.zones]]
id = "chilled"
standard_lines_per_hour = 25
headcount = 1

[[carriers]]
carrier = "fast"
site = "dc-a"
cutoffs = ["12:00", "17:00"]
transit_h = { north = 12, south = 30 }
cost_per_shipment = 8.0
daily_capacity = 100

[[carriers]]
carrier = "cheap"
site = "dc-a"
tiers = ["standard", "economy"]
cutoffs = ["16:00"]
days = ["mon", "tue", "wed", "thu", "fri"]
transit_h = { north = 24, south = 40 }
cost_per_shipment = 4.0
daily_capacity = 2

[[carriers]]
carrier = "fast"
site = "dc-b"
cutoffs = ["13:00"]
transit_h = { north = 30, south = 12 }
cost_per_shipment = 8.0
daily_capacity = 100

[[carriers]]
carrier = "fast"
site = "dc-c"
cutoffs = ["14:00"]
transit_h = { north = 20, south = 20 }
cost_per_shipment = 9.0
daily_capacity = 100

[[tenants]]
client = "acme"
allowed_carriers = ["fast"]
service_tier = "express"
priority = 10

[[tenants]]
client = "budget"
priority = 0

[[tenants]]
client = "vip"
priority = 5
"#;

pub fn config() -> CentralConfig {
    CentralConfig::parse(CONFIG, Path::new("test.toml")).expect("the test config is valid")
}

/// An order of `lines` (sku, qty) to `zone`, promised `promise_h` after T0.
pub fn order(id: &str, zone: &str, promise_h: i64, lines: &[(&str, u32)]) -> Order {
    Order {
        id: id.into(),
        destination_zone: zone.into(),
        lines: lines
            .iter()
            .map(|(sku, qty)| Line {
                sku: (*sku).into(),
                qty: *qty,
            })
            .collect(),
        promised_delivery: T0 + promise_h * HOUR,
        tier: "standard".into(),
        client: None,
        received_at: T0,
    }
}

pub fn snapshot(sku: &str, qty: i64) -> EventBody {
    EventBody::InventorySnapshot {
        sku: sku.into(),
        qty,
        zone: None,
        at: T0,
    }
}
