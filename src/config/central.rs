//! The central allocator's config (`central.toml`): the broker, the sites it
//! allocates to, the carrier calendar and the 3PL tenants' rules.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::broker::{check_prefix, BrokerConfig};
use super::problems::{parse_toml, read, ConfigError, Problems};
use crate::domain::plan::{LoadModel, Zone};

#[derive(Debug, Clone, Deserialize)]
pub struct CentralConfig {
    /// Where central's SQLite database lives (central.db).
    pub data_dir: PathBuf,
    /// The central broker the sites' uplinks connect to.
    pub broker: BrokerConfig,
    /// Topics are `{topic_prefix}/{site}/up|ack|plan|status`, as on the sites,
    /// and `{topic_prefix}/central/orders` for order intake.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    #[serde(default)]
    pub allocation: AllocationConfig,
    /// The sites central allocates orders to.
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
    /// The carrier calendar: one entry per carrier and site.
    #[serde(default)]
    pub carriers: Vec<CarrierService>,
    /// 3PL clients and their rules; orders naming no client follow none.
    #[serde(default)]
    pub tenants: Vec<TenantRule>,
}

/// How orders are weighed against each other.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AllocationConfig {
    /// Departures are considered this far ahead.
    pub horizon_h: u32,
    /// What a late order costs, in the currency of `cost_per_shipment`.
    pub late_penalty: f64,
    /// `late_penalty` for particular service tiers.
    pub late_penalty_by_tier: BTreeMap<String, f64>,
    /// The tier of an order that names none (and whose client's rule names none).
    pub default_tier: String,
    /// Relative uncertainty of a site's pick rate, until the site reports its own.
    pub rate_cv: f64,
    /// Plan changes within this window go down as one version per site.
    pub push_coalesce_ms: u64,
}

impl Default for AllocationConfig {
    fn default() -> Self {
        AllocationConfig {
            horizon_h: 72,
            late_penalty: 40.0,
            late_penalty_by_tier: BTreeMap::new(),
            default_tier: "standard".into(),
            rate_cv: 0.15,
            push_coalesce_ms: 250,
        }
    }
}

impl AllocationConfig {
    /// The late penalty of an order of `tier`.
    pub fn penalty(&self, tier: &str) -> f64 {
        self.late_penalty_by_tier
            .get(tier)
            .copied()
            .unwrap_or(self.late_penalty)
    }
}

/// A site central allocates to, with what its plans need.
#[derive(Debug, Clone, Deserialize)]
pub struct SiteConfig {
    /// The site id its agent uses (`site` in its dockside.toml).
    pub id: String,
    /// Order lines an hour the site picks as planned; used until the site's
    /// planner reports its zones' rates.
    pub lines_per_hour: f64,
    /// Staging and loading times of its departures.
    #[serde(default = "default_load")]
    pub load: LoadModel,
    /// Pick zones sent in its plans. None: one zone, `pick`, at `lines_per_hour`.
    #[serde(default)]
    pub zones: Vec<Zone>,
}

fn default_load() -> LoadModel {
    LoadModel {
        staging_s: 900.0,
        fixed_s: 900.0,
        per_line_s: 2.0,
    }
}

/// One carrier's service from one site: when it leaves, how long it takes to
/// each destination zone, what it costs and how much it takes a day.
#[derive(Debug, Clone, Deserialize)]
pub struct CarrierService {
    pub carrier: String,
    pub site: String,
    /// Service tiers it carries; empty: every tier.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// Cutoffs (UTC, `HH:MM`): the latest the vehicle leaves, every day in `days`.
    pub cutoffs: Vec<String>,
    /// Days it runs (`mon` .. `sun`); empty: every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// Hours from the cutoff to delivery, by destination zone; zones not
    /// listed are not served.
    pub transit_h: BTreeMap<String, f64>,
    pub cost_per_shipment: f64,
    /// Shipments a day (by the cutoff's UTC date) from this site.
    pub daily_capacity: u32,
}

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `HH:MM` as minutes after midnight.
pub fn parse_time_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl CarrierService {
    /// Cutoffs as minutes after midnight UTC, sorted (the config is validated).
    pub fn cutoff_minutes(&self) -> Vec<u32> {
        let mut m: Vec<u32> = self
            .cutoffs
            .iter()
            .filter_map(|c| parse_time_of_day(c))
            .collect();
        m.sort_unstable();
        m.dedup();
        m
    }

    /// Days it runs, Monday = bit 0.
    pub fn day_mask(&self) -> u8 {
        if self.days.is_empty() {
            return 0x7f;
        }
        self.days
            .iter()
            .filter_map(|d| {
                WEEKDAYS
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case(d.trim()))
            })
            .fold(0, |mask, i| mask | 1 << i)
    }

    pub fn serves_tier(&self, tier: &str) -> bool {
        self.tiers.is_empty() || self.tiers.iter().any(|t| t == tier)
    }
}

/// A 3PL client's rules.
#[derive(Debug, Clone, Deserialize)]
pub struct TenantRule {
    /// The `client` its orders name.
    pub client: String,
    /// Carriers its orders may use; empty: any.
    #[serde(default)]
    pub allowed_carriers: Vec<String>,
    /// The tier its orders get when they name none.
    #[serde(default)]
    pub service_tier: Option<String>,
    /// Higher goes first when stock or carrier capacity is short.
    #[serde(default)]
    pub priority: i32,
}

fn default_prefix() -> String {
    "dockside".into()
}

/// Letters, digits, `-` and `_`: usable in topics and plan ids.
fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
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
        self.validate_allocation(p);
        let mut sites = HashSet::new();
        for (i, s) in self.sites.iter().enumerate() {
            let at = format!("sites[{i}]");
            if !is_ident(&s.id) {
                p.push(
                    format!("{at}.id"),
                    format!("`{}` is not a valid site id", s.id),
                    "use the site's id as in its dockside.toml: letters, digits, `-` and `_`",
                );
            } else if s.id == "central" {
                p.push(
                    format!("{at}.id"),
                    "`central` names central's own topics",
                    "rename the site",
                );
            }
            if !sites.insert(s.id.as_str()) {
                p.push(
                    format!("{at}.id"),
                    format!("site `{}` is listed twice", s.id),
                    "keep one [[sites]] entry per site",
                );
            }
            if !(s.lines_per_hour.is_finite() && s.lines_per_hour > 0.0) {
                p.push(
                    format!("{at}.lines_per_hour"),
                    format!("{} is not a pick rate", s.lines_per_hour),
                    "give the order lines an hour the site picks, e.g. lines_per_hour = 1200",
                );
            }
            let l = s.load;
            if ![l.staging_s, l.fixed_s, l.per_line_s]
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0)
            {
                p.push(
                    format!("{at}.load"),
                    "times must be finite and not negative",
                    "e.g. staging_s = 900, fixed_s = 900, per_line_s = 2",
                );
            }
            let mut zones = HashSet::new();
            for (j, z) in s.zones.iter().enumerate() {
                if !zones.insert(z.id.as_str()) || z.id.is_empty() {
                    p.push(
                        format!("{at}.zones[{j}].id"),
                        format!("zone `{}` is empty or listed twice", z.id),
                        "give each pick zone its own id",
                    );
                }
                if !(z.standard_lines_per_hour.is_finite() && z.standard_lines_per_hour > 0.0) {
                    p.push(
                        format!("{at}.zones[{j}].standard_lines_per_hour"),
                        "must be positive",
                        "the lines one picker picks in an hour, e.g. 110",
                    );
                }
            }
        }
        let mut services = HashSet::new();
        for (i, c) in self.carriers.iter().enumerate() {
            self.validate_carrier(&format!("carriers[{i}]"), c, &sites, p);
            if !services.insert((c.carrier.as_str(), c.site.as_str())) {
                p.push(
                    format!("carriers[{i}]"),
                    format!(
                        "carrier `{}` at site `{}` is listed twice",
                        c.carrier, c.site
                    ),
                    "put all its cutoffs in one entry",
                );
            }
        }
        let carriers: HashSet<&str> = self.carriers.iter().map(|c| c.carrier.as_str()).collect();
        let mut clients = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let at = format!("tenants[{i}]");
            if t.client.trim().is_empty() || !clients.insert(t.client.as_str()) {
                p.push(
                    format!("{at}.client"),
                    format!("client `{}` is empty or listed twice", t.client),
                    "give each client one [[tenants]] entry",
                );
            }
            for c in &t.allowed_carriers {
                if !carriers.contains(c.as_str()) {
                    p.push(
                        format!("{at}.allowed_carriers"),
                        format!("carrier `{c}` is not in the carrier calendar"),
                        "use a `carrier` of a [[carriers]] entry",
                    );
                }
            }
            if let Some(tier) = &t.service_tier {
                if !self.tier_is_served(tier) {
                    p.push(
                        format!("{at}.service_tier"),
                        format!("no carrier carries tier `{tier}`"),
                        "use a tier listed in some [[carriers]] entry's `tiers`",
                    );
                }
            }
        }
    }

    fn validate_allocation(&self, p: &mut Problems) {
        let a = &self.allocation;
        if !(1..=720).contains(&a.horizon_h) {
            p.push(
                "allocation.horizon_h",
                format!("{} is out of range", a.horizon_h),
                "use 1 to 720 hours (default 72)",
            );
        }
        let penalties = std::iter::once(("allocation.late_penalty".to_string(), a.late_penalty))
            .chain(
                a.late_penalty_by_tier
                    .iter()
                    .map(|(t, v)| (format!("allocation.late_penalty_by_tier.{t}"), *v)),
            );
        for (key, v) in penalties {
            if !(v.is_finite() && v >= 0.0) {
                p.push(
                    key,
                    format!("{v} is not a cost"),
                    "give what a late order costs, e.g. 40",
                );
            }
        }
        if a.default_tier.trim().is_empty() {
            p.push(
                "allocation.default_tier",
                "is empty",
                "e.g. default_tier = \"standard\"",
            );
        }
        if !(a.rate_cv.is_finite() && (0.0..=2.0).contains(&a.rate_cv)) {
            p.push(
                "allocation.rate_cv",
                format!("{} is out of range", a.rate_cv),
                "use 0 to 2 (default 0.15)",
            );
        }
        if a.push_coalesce_ms > 60_000 {
            p.push(
                "allocation.push_coalesce_ms",
                format!("{} is out of range", a.push_coalesce_ms),
                "use 0 to 60000 ms (default 250)",
            );
        }
    }

    fn validate_carrier(
        &self,
        at: &str,
        c: &CarrierService,
        sites: &HashSet<&str>,
        p: &mut Problems,
    ) {
        if !is_ident(&c.carrier) {
            p.push(
                format!("{at}.carrier"),
                format!("`{}` is not a valid carrier id", c.carrier),
                "use letters, digits, `-` and `_`, e.g. carrier = \"dhl-parcel\"",
            );
        }
        if !sites.contains(c.site.as_str()) {
            p.push(
                format!("{at}.site"),
                format!("site `{}` is not in [[sites]]", c.site),
                "add a [[sites]] entry for it, or correct the site id",
            );
        }
        if c.cutoffs.is_empty() {
            p.push(
                format!("{at}.cutoffs"),
                "is empty: the carrier would never leave",
                "list its cutoffs, e.g. cutoffs = [\"12:00\", \"17:30\"] (UTC)",
            );
        }
        for cut in &c.cutoffs {
            if parse_time_of_day(cut).is_none() {
                p.push(
                    format!("{at}.cutoffs"),
                    format!("`{cut}` is not a time of day"),
                    "write cutoffs as HH:MM in UTC, e.g. \"17:30\"",
                );
            }
        }
        for d in &c.days {
            if !WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(d.trim())) {
                p.push(
                    format!("{at}.days"),
                    format!("`{d}` is not a day"),
                    "use mon, tue, wed, thu, fri, sat, sun (or leave `days` out for every day)",
                );
            }
        }
        if c.transit_h.is_empty() {
            p.push(
                format!("{at}.transit_h"),
                "is empty: the carrier would deliver nowhere",
                "give hours by destination zone, e.g. transit_h = { north = 24, south = 36 }",
            );
        }
        for (zone, h) in &c.transit_h {
            if !(h.is_finite() && *h >= 0.0 && *h <= 24.0 * 30.0) {
                p.push(
                    format!("{at}.transit_h.{zone}"),
                    format!("{h} is not a transit time"),
                    "give hours from the cutoff to delivery, 0 to 720",
                );
            }
        }
        if !(c.cost_per_shipment.is_finite() && c.cost_per_shipment >= 0.0) {
            p.push(
                format!("{at}.cost_per_shipment"),
                format!("{} is not a cost", c.cost_per_shipment),
                "give the price of one shipment, e.g. 6.5",
            );
        }
        if c.daily_capacity == 0 {
            p.push(
                format!("{at}.daily_capacity"),
                "is 0: the carrier would take nothing",
                "give the shipments it takes a day from this site, or remove the entry",
            );
        }
    }

    /// Whether some carrier carries `tier` (every tier when one lists none).
    pub fn tier_is_served(&self, tier: &str) -> bool {
        self.carriers.iter().any(|c| c.serves_tier(tier))
    }

    pub fn tenant(&self, client: &str) -> Option<&TenantRule> {
        self.tenants.iter().find(|t| t.client == client)
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

    /// Where orders are published to central.
    pub fn orders_topic(&self) -> String {
        format!("{}/central/orders", self.topic_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_is_valid() {
        let c = CentralConfig::parse(
            include_str!("../../config/central.toml"),
            Path::new("config/central.toml"),
        )
        .expect("config/central.toml is valid");
        assert!(!c.sites.is_empty() && !c.carriers.is_empty() && !c.tenants.is_empty());
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
        assert_eq!(c.allocation.horizon_h, 72);
        assert_eq!(c.orders_topic(), "dockside/central/orders");
        let err = CentralConfig::parse(
            "data_dir = \"/tmp/c\"\n[broker]\nhost = \"localhost\"\nprot = 1\n",
            Path::new("c.toml"),
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("broker.prot"), "{err}");
    }

    const CALENDAR: &str = r#"data_dir = "/tmp/c"
[broker]
host = "localhost"

[[sites]]
id = "dc-a"
lines_per_hour = 600

[[carriers]]
carrier = "fast"
site = "dc-a"
tiers = ["express"]
cutoffs = ["17:30", "09:00"]
days = ["mon", "fri"]
transit_h = { north = 12 }
cost_per_shipment = 9.5
daily_capacity = 100

[[tenants]]
client = "acme"
allowed_carriers = ["fast"]
service_tier = "express"
priority = 5
"#;

    fn problems(text: &str) -> Vec<String> {
        match CentralConfig::parse(text, Path::new("c.toml")) {
            Ok(_) => vec![],
            Err(ConfigError::Invalid { problems, .. }) => {
                problems.iter().map(|p| p.to_string()).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn the_carrier_calendar_reads_times_days_and_tiers() {
        let c = CentralConfig::parse(CALENDAR, Path::new("c.toml")).expect("valid");
        let s = &c.carriers[0];
        assert_eq!(s.cutoff_minutes(), vec![9 * 60, 17 * 60 + 30]);
        assert_eq!(s.day_mask(), 0b1_0001);
        assert!(s.serves_tier("express") && !s.serves_tier("standard"));
        assert_eq!(c.tenant("acme").map(|t| t.priority), Some(5));
    }

    #[test]
    fn calendar_problems_name_key_line_and_fix() {
        let text = CALENDAR
            .replace("\"09:00\"", "\"9am\"")
            .replace("site = \"dc-a\"", "site = \"dc-z\"")
            .replace("daily_capacity = 100", "daily_capacity = 0")
            .replace(
                "allowed_carriers = [\"fast\"]",
                "allowed_carriers = [\"slow\"]",
            )
            .replace("\"fri\"", "\"friday\"");
        let p = problems(&text);
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(
            p.iter().any(
                |s| s.starts_with("line 13: `carriers[0].cutoffs`: `9am` is not a time of day")
            ),
            "{p:?}"
        );
        assert!(
            p.iter().any(
                |s| s.contains("`carriers[0].site`: site `dc-z` is not in [[sites]]")
                    && s.contains("fix:")
            ),
            "{p:?}"
        );
        assert!(
            p.iter().any(|s| s.contains("carriers[0].daily_capacity")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|s| s.contains("carrier `slow` is not in the carrier calendar")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|s| s.contains("`friday` is not a day")),
            "{p:?}"
        );
    }

    #[test]
    fn a_tenant_tier_no_carrier_carries_is_a_problem() {
        let p =
            problems(&CALENDAR.replace("service_tier = \"express\"", "service_tier = \"economy\""));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("no carrier carries tier `economy`"), "{p:?}");
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time_of_day("00:00"), Some(0));
        assert_eq!(parse_time_of_day("23:59"), Some(23 * 60 + 59));
        assert_eq!(parse_time_of_day("24:00"), None);
        assert_eq!(parse_time_of_day("7:00"), None);
        assert_eq!(parse_time_of_day("07:60"), None);
    }
}
