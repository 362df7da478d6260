//! The network view: each site's stock, pick capacity, departures (from the
//! carrier calendar), dock doors and reported risks, kept from the sites'
//! events. Pure: `now` is an argument.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::{CentralConfig, SiteConfig};
use crate::domain::decision::{Decision, RiskStatus};
use crate::domain::plan::{LoadModel, Zone};
use crate::domain::{DoorState, EventBody, Millis};

pub(crate) const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: Millis = 86_400_000;
/// Departures stay in the view (and in plans) this long after their cutoff.
pub(crate) const KEEP_AFTER_CUTOFF_MS: Millis = 2 * 3_600_000;
/// With every dock door out of service, departures this close count as late.
const DOORS_DOWN_HORIZON_MS: Millis = 2 * 3_600_000;

/// One carrier's service from one site (a `[[carriers]]` entry).
#[derive(Debug, Clone)]
pub struct Service {
    pub carrier: String,
    pub site: usize,
    pub tiers: Vec<String>,
    pub cutoffs_min: Vec<u32>,
    pub day_mask: u8,
    pub transit_ms: HashMap<String, Millis>,
    pub cost: f64,
    pub daily_capacity: u32,
}

impl Service {
    pub fn serves_tier(&self, tier: &str) -> bool {
        self.tiers.is_empty() || self.tiers.iter().any(|t| t == tier)
    }
}

/// Where a departure sits in its site's table: by cutoff, then service.
pub type DepKey = (Millis, usize);

/// A vehicle of one service leaving a site.
#[derive(Debug, Clone)]
pub struct Departure {
    pub id: String,
    pub service: usize,
    pub cutoff: Millis,
    /// Order lines allocated to it and not yet picked.
    pub open_lines: u64,
    /// Orders with a shipment on it.
    pub orders: BTreeSet<String>,
    /// The site's planner says it may miss its cutoff: (probability, slack ms).
    pub risk: Option<(f64, i64)>,
    /// The site planner's predicted ready time while its report stands: a
    /// raised risk until cleared, a retime until back on schedule. Dropped
    /// then, since the site sends nothing more while all is well and a stale
    /// prediction would keep orders off a departure that has recovered.
    pub predicted_ready: Option<Millis>,
    /// Our waves of it the site has released (new orders go to the next).
    pub waves_released: u32,
}

impl Departure {
    pub fn wave_id(&self) -> String {
        format!("{}-w{}", self.id, self.waves_released + 1)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Stock {
    /// What the site's WMS says is on hand.
    pub on_hand: i64,
    /// Allocated here and not yet reported picked.
    pub reserved: i64,
}

/// A departure's capacity as of `now`, in cutoff order.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub key: DepKey,
    /// Open lines on this and every earlier departure (earliest cutoff first).
    pub cum_lines: u64,
    /// Lines that could still be added here without any departure from
    /// here on going over what the site can pick before its cutoff.
    pub headroom: f64,
}

#[derive(Debug, Clone)]
pub struct Site {
    pub id: String,
    pub planned_rate: f64,
    /// Lines/h and its standard deviation, from the planner's latest decision.
    pub reported_rate: Option<(f64, f64)>,
    pub load: LoadModel,
    pub zones: Vec<Zone>,
    pub services: Vec<usize>,
    pub stock: HashMap<String, Stock>,
    /// The pick zone of a SKU, when the WMS said.
    pub sku_zone: HashMap<String, String>,
    pub departures: BTreeMap<DepKey, Departure>,
    pub dep_by_id: HashMap<String, DepKey>,
    /// Dock doors: in service or not.
    pub doors: BTreeMap<String, bool>,
    /// Lines (SKUs) reported picked, by order, until the order is picked.
    pub picked_lines: HashMap<String, BTreeSet<String>>,
    /// Capacity by departure from `now` on; refreshed after every change.
    pub slots: Vec<Slot>,
    pub slots_now: Millis,
}

impl Site {
    fn new(cfg: &SiteConfig) -> Site {
        let zones = if cfg.zones.is_empty() {
            vec![Zone {
                id: "pick".into(),
                standard_lines_per_hour: cfg.lines_per_hour,
                headcount: 1,
                shifts: Vec::new(),
            }]
        } else {
            cfg.zones.clone()
        };
        Site {
            id: cfg.id.clone(),
            planned_rate: cfg.lines_per_hour,
            reported_rate: None,
            load: cfg.load,
            zones,
            services: Vec::new(),
            stock: HashMap::new(),
            sku_zone: HashMap::new(),
            departures: BTreeMap::new(),
            dep_by_id: HashMap::new(),
            doors: BTreeMap::new(),
            picked_lines: HashMap::new(),
            slots: Vec::new(),
            slots_now: Millis::MIN,
        }
    }

    /// Lines an hour the site picks.
    pub fn rate(&self) -> f64 {
        match self.reported_rate {
            Some((r, _)) if r > 0.0 => r,
            _ => self.planned_rate,
        }
    }

    /// Relative uncertainty of `rate()`.
    pub fn rate_cv(&self, default: f64) -> f64 {
        match self.reported_rate {
            Some((r, sd)) if r > 0.0 => (sd / r).clamp(0.0, 2.0),
            _ => default,
        }
    }

    /// Available to promise: on hand less reservations.
    pub fn atp(&self, sku: &str) -> i64 {
        self.stock
            .get(sku)
            .map(|s| s.on_hand - s.reserved)
            .unwrap_or(0)
    }

    /// Time from the last pick to the vehicle leaving, for `lines` lines.
    pub fn lead_ms(&self, lines: u64) -> Millis {
        self.load.staging_ms() + self.load.load_ms(lines)
    }

    pub fn doors_down(&self) -> bool {
        !self.doors.is_empty() && self.doors.values().all(|ok| !ok)
    }

    /// The pick zone a SKU's line goes to in the plan.
    pub fn zone_of(&self, sku: &str) -> &str {
        match self.sku_zone.get(sku) {
            Some(z) if self.zones.iter().any(|k| &k.id == z) => z,
            _ => &self.zones[0].id,
        }
    }

    /// Recompute `slots` for `now` (after a change of load or rate).
    pub fn refresh(&mut self, now: Millis) {
        let rate = self.rate();
        let lead = self.load.staging_ms() + self.load.load_ms(0);
        self.slots.clear();
        let mut cum = 0u64;
        for (key, d) in self.departures.range((now, 0)..) {
            cum += d.open_lines;
            self.slots.push(Slot {
                key: *key,
                cum_lines: cum,
                headroom: 0.0,
            });
        }
        let mut min = f64::INFINITY;
        for slot in self.slots.iter_mut().rev() {
            let avail_h = (slot.key.0 - lead - now).max(0) as f64 / HOUR_MS;
            min = min.min(rate * avail_h - slot.cum_lines as f64);
            slot.headroom = min;
        }
        self.slots_now = now;
    }

    /// Probability that `lines` more lines on the departure of `slot` are not
    /// ready by its cutoff: the work queued up to it against the time left,
    /// with the rate's uncertainty, or, if worse, the site's predicted ready
    /// time plus these lines' picking and loading, or the probability the
    /// site reported.
    pub fn p_late(&self, slot: &Slot, lines: u64, now: Millis, cv_default: f64) -> f64 {
        let d = &self.departures[&slot.key];
        let rate = self.rate();
        let work_h = (slot.cum_lines + lines) as f64 / rate;
        let avail_h = (slot.key.0 - self.lead_ms(lines) - now) as f64 / HOUR_MS;
        let sd_h = self.rate_cv(cv_default) * work_h + 0.1;
        let mut slack_h = avail_h - work_h;
        if let Some(ready) = d.predicted_ready {
            // The site knows its floor better than our queue model; lines we
            // added since its report are not counted here (our model counts
            // them, and the site re-reports if they make it late).
            let own_h = lines as f64 / rate
                + (self.load.load_ms(lines) - self.load.load_ms(0)) as f64 / HOUR_MS;
            slack_h = slack_h.min((slot.key.0 - ready) as f64 / HOUR_MS - own_h);
        }
        let mut p = crate::plan::forecast::normal_cdf(-slack_h / sd_h);
        if let Some((reported, _)) = d.risk {
            p = p.max(reported);
        }
        if self.doors_down() && slot.key.0 < now + DOORS_DOWN_HORIZON_MS {
            p = 1.0;
        }
        (p * 100.0).round() / 100.0
    }
}

/// What applying a site's event calls for.
#[derive(Debug, Clone, PartialEq)]
pub enum Follow {
    None,
    /// Stock went up: pending orders may fit now.
    StockUp,
    /// Shipment of `order` at the site is picked: lock it.
    Picked(String),
    /// Re-allocate orders off the departure.
    AtRisk(DepKey),
    /// Move one order off `from` (the site proposes `to`).
    Defer {
        order: String,
        from: DepKey,
    },
}

/// Every site, every carrier service, and how much of each carrier's daily
/// capacity is used.
#[derive(Debug, Clone)]
pub struct Network {
    pub sites: Vec<Site>,
    pub site_index: HashMap<String, usize>,
    pub services: Vec<Service>,
    /// Shipments by (service, day since 1970).
    pub usage: HashMap<(usize, i64), u32>,
    pub horizon_ms: Millis,
    /// Departures exist up to here.
    generated_to: Millis,
}

pub fn day_of(t: Millis) -> i64 {
    t.div_euclid(DAY_MS)
}

/// `carrier-YYYYMMDD-HHMM`: unique per site, readable on a dock.
fn departure_id(carrier: &str, cutoff: Millis) -> String {
    match chrono::DateTime::from_timestamp_millis(cutoff) {
        Some(t) => format!("{carrier}-{}", t.format("%Y%m%d-%H%M")),
        None => format!("{carrier}-{cutoff}"),
    }
}

impl Network {
    pub fn new(config: &CentralConfig) -> Network {
        let mut sites: Vec<Site> = config.sites.iter().map(Site::new).collect();
        let site_index: HashMap<String, usize> = sites
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let mut services = Vec::new();
        for c in &config.carriers {
            let Some(&site) = site_index.get(&c.site) else {
                continue; // validated config: never
            };
            sites[site].services.push(services.len());
            services.push(Service {
                carrier: c.carrier.clone(),
                site,
                tiers: c.tiers.clone(),
                cutoffs_min: c.cutoff_minutes(),
                day_mask: c.day_mask(),
                transit_ms: c
                    .transit_h
                    .iter()
                    .map(|(z, h)| (z.clone(), (h * HOUR_MS).round() as Millis))
                    .collect(),
                cost: c.cost_per_shipment,
                daily_capacity: c.daily_capacity,
            });
        }
        Network {
            sites,
            site_index,
            services,
            usage: HashMap::new(),
            horizon_ms: config.allocation.horizon_h as Millis * 3_600_000,
            generated_to: Millis::MIN,
        }
    }

    /// Make the departures up to `now + horizon` exist, drop empty ones past
    /// their cutoff, and refresh every site's capacity for `now`.
    pub fn advance(&mut self, now: Millis) {
        let to = now + self.horizon_ms;
        let from = self.generated_to.max(now - KEEP_AFTER_CUTOFF_MS);
        if to > from {
            for (si, svc) in self.services.iter().enumerate() {
                for day in day_of(from)..=day_of(to) {
                    // 1970-01-01 was a Thursday: Monday is bit 0.
                    let weekday = (day + 3).rem_euclid(7);
                    if svc.day_mask & (1 << weekday) == 0 {
                        continue;
                    }
                    for &m in &svc.cutoffs_min {
                        let cutoff = day * DAY_MS + m as Millis * 60_000;
                        if cutoff > from && cutoff <= to {
                            ensure_departure(&mut self.sites[svc.site], si, &svc.carrier, cutoff);
                        }
                    }
                }
            }
            self.generated_to = to;
        }
        for site in &mut self.sites {
            let stale: Vec<DepKey> = site
                .departures
                .range(..(now - KEEP_AFTER_CUTOFF_MS, 0))
                .filter(|(_, d)| d.orders.is_empty())
                .map(|(k, _)| *k)
                .collect();
            for k in stale {
                if let Some(d) = site.departures.remove(&k) {
                    site.dep_by_id.remove(&d.id);
                }
            }
            if site.slots_now != now {
                site.refresh(now);
            }
        }
        let today = day_of(now);
        self.usage.retain(|(_, day), _| *day >= today - 1);
    }

    /// The departure of `service` at `cutoff`, made if need be (a stored
    /// shipment may name one outside the current horizon).
    pub fn departure_key(&mut self, service: usize, cutoff: Millis) -> DepKey {
        let svc = &self.services[service];
        ensure_departure(&mut self.sites[svc.site], service, &svc.carrier, cutoff)
    }

    pub fn used(&self, service: usize, cutoff: Millis) -> u32 {
        self.usage
            .get(&(service, day_of(cutoff)))
            .copied()
            .unwrap_or(0)
    }

    /// Update the view with one of `site`'s events; says what it calls for.
    pub fn apply(&mut self, site: usize, body: &EventBody) -> Follow {
        let s = &mut self.sites[site];
        match body {
            EventBody::InventorySnapshot { sku, qty, zone, .. } => {
                let st = s.stock.entry(sku.clone()).or_default();
                let up = *qty > st.on_hand;
                st.on_hand = *qty;
                if let Some(z) = zone {
                    s.sku_zone.insert(sku.clone(), z.clone());
                }
                if up {
                    Follow::StockUp
                } else {
                    Follow::None
                }
            }
            EventBody::InventoryDelta { sku, qty, .. } => {
                s.stock.entry(sku.clone()).or_default().on_hand += qty;
                if *qty > 0 {
                    Follow::StockUp
                } else {
                    Follow::None
                }
            }
            EventBody::PickComplete { order, line, .. } => match line {
                None => {
                    // An empty set of picked lines means "all of it".
                    s.picked_lines.insert(order.clone(), BTreeSet::new());
                    Follow::Picked(order.clone())
                }
                Some(l) => {
                    s.picked_lines
                        .entry(order.clone())
                        .or_default()
                        .insert(l.clone());
                    Follow::Picked(order.clone())
                }
            },
            EventBody::OrderStatus { order, status, .. } => {
                if matches!(
                    status.to_ascii_lowercase().as_str(),
                    "picked" | "packed" | "staged" | "loaded" | "shipped" | "dispatched"
                ) {
                    s.picked_lines.insert(order.clone(), BTreeSet::new());
                    Follow::Picked(order.clone())
                } else {
                    Follow::None
                }
            }
            EventBody::WaveReleased { wave, .. } => {
                mark_released(s, wave);
                Follow::None
            }
            EventBody::DoorChanged { door, to, .. } => {
                s.doors.insert(
                    door.clone(),
                    !matches!(to, DoorState::Fault | DoorState::OutOfService),
                );
                Follow::None
            }
            EventBody::DeviceOffline { .. } | EventBody::DeviceOnline { .. } => {
                // Doors of an unreadable device arrive as door_changed to
                // out_of_service (and back), which is what counts here.
                Follow::None
            }
            EventBody::Scan { .. } | EventBody::VehicleArrived { .. } => Follow::None,
            EventBody::Decision(decision) => {
                let rates = decision.inputs().map_or(&[][..], |i| &i.rates[..]);
                if !rates.is_empty() {
                    let rate: f64 = rates
                        .iter()
                        .map(|r| r.lines_per_hour * r.pickers as f64)
                        .sum();
                    let sd: f64 = rates
                        .iter()
                        .map(|r| r.sd_lines_per_hour * r.pickers as f64)
                        .sum();
                    s.reported_rate = Some((rate, sd));
                }
                apply_decision(s, decision)
            }
        }
    }
}

fn ensure_departure(site: &mut Site, service: usize, carrier: &str, cutoff: Millis) -> DepKey {
    let key = (cutoff, service);
    if !site.departures.contains_key(&key) {
        let id = departure_id(carrier, cutoff);
        site.dep_by_id.insert(id.clone(), key);
        site.departures.insert(
            key,
            Departure {
                id,
                service,
                cutoff,
                open_lines: 0,
                orders: BTreeSet::new(),
                risk: None,
                predicted_ready: None,
                waves_released: 0,
            },
        );
        site.slots_now = Millis::MIN;
    }
    key
}

/// `{departure}-w{n}` released: new orders of that departure go to wave n+1.
fn mark_released(site: &mut Site, wave: &str) {
    let Some((dep, n)) = wave.rsplit_once("-w") else {
        return;
    };
    let (Some(key), Ok(n)) = (site.dep_by_id.get(dep), n.parse::<u32>()) else {
        return;
    };
    if let Some(d) = site.departures.get_mut(key) {
        d.waves_released = d.waves_released.max(n);
    }
}

fn apply_decision(s: &mut Site, decision: &Decision) -> Follow {
    match decision {
        Decision::WaveRelease { wave, .. } => {
            mark_released(s, wave);
            Follow::None
        }
        Decision::DepartureAtRisk {
            departure,
            status,
            probability,
            slack_ms,
            predicted_ready,
            ..
        } => {
            let Some(&key) = s.dep_by_id.get(departure) else {
                return Follow::None;
            };
            let d = s
                .departures
                .get_mut(&key)
                .expect("indexed departures exist");
            match status {
                RiskStatus::Raised => {
                    d.risk = Some((probability.clamp(0.0, 1.0), *slack_ms));
                    d.predicted_ready = Some(*predicted_ready);
                    Follow::AtRisk(key)
                }
                RiskStatus::Cleared => {
                    d.risk = None;
                    d.predicted_ready = None;
                    Follow::None
                }
            }
        }
        Decision::OrderDeferralProposed {
            order,
            from_departure,
            ..
        } => match s.dep_by_id.get(from_departure) {
            Some(&from) => Follow::Defer {
                order: order.clone(),
                from,
            },
            None => Follow::None,
        },
        Decision::DepartureRetimed {
            departure,
            scheduled_at,
            retimed_to,
            predicted_ready,
            ..
        } => {
            if let Some(d) = s
                .dep_by_id
                .get(departure)
                .and_then(|k| s.departures.get_mut(k))
            {
                // Back on schedule: the site has slack again.
                d.predicted_ready = (retimed_to != scheduled_at).then_some(*predicted_ready);
            }
            Follow::None
        }
        // Dock-door decisions are the site's own business.
        Decision::DockAssignment { .. }
        | Decision::CallVehicle { .. }
        | Decision::LoadingList { .. } => Follow::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::central::allocate::testing::{config, T0};

    #[test]
    fn departures_follow_the_calendar_days_and_horizon() {
        let mut net = Network::new(&config());
        net.advance(T0);
        let a = &net.sites[net.site_index["dc-a"]];
        // dc-a: "fast" at 12:00 and 17:00 every day, "cheap" at 16:00 weekdays.
        let ids: Vec<&str> = a
            .departures
            .values()
            .map(|d| d.id.as_str())
            .take(3)
            .collect();
        assert_eq!(
            ids,
            vec![
                "fast-20261125-1200",
                "cheap-20261125-1600",
                "fast-20261125-1700"
            ]
        );
        assert!(a
            .departures
            .keys()
            .all(|(cutoff, _)| *cutoff > T0 && *cutoff <= T0 + 72 * 3_600_000));
        // A day later the horizon reaches Saturday 2026-11-28: "cheap" runs
        // on weekdays only.
        net.advance(T0 + 24 * 3_600_000);
        let a = &net.sites[net.site_index["dc-a"]];
        assert!(a.dep_by_id.contains_key("fast-20261128-1700"));
        assert!(a.dep_by_id.contains_key("cheap-20261127-1600"));
        assert!(!a.dep_by_id.contains_key("cheap-20261128-1600"));
        // Departures past their cutoff by more than two hours, with no orders, go.
        assert!(!a.dep_by_id.contains_key("fast-20261125-1200"));
    }

    #[test]
    fn capacity_headroom_counts_earlier_departures_first() {
        let mut net = Network::new(&config());
        net.advance(T0);
        let a = net.site_index["dc-a"];
        let s = &mut net.sites[a];
        let first = s.slots[0];
        // 100 lines/h, 30 min lead, 08:00 now: 3.5 h to the 12:00 cutoff.
        assert!((first.headroom - 350.0).abs() < 1e-6, "{first:?}");
        let key = first.key;
        s.departures.get_mut(&key).expect("exists").open_lines = 300;
        s.refresh(T0);
        assert!((s.slots[0].headroom - 50.0).abs() < 1e-6);
        // The 16:00 departure has 7.5 h: 750 - 300 before it.
        assert!(
            (s.slots[1].headroom - 450.0).abs() < 1e-6,
            "{:?}",
            s.slots[1]
        );
    }

    #[test]
    fn inventory_events_set_and_change_stock() {
        let mut net = Network::new(&config());
        let snap = EventBody::InventorySnapshot {
            sku: "A".into(),
            qty: 10,
            zone: None,
            at: 0,
        };
        assert_eq!(net.apply(0, &snap), Follow::StockUp);
        let delta = EventBody::InventoryDelta {
            sku: "A".into(),
            qty: -4,
            at: 1,
        };
        assert_eq!(net.apply(0, &delta), Follow::None);
        assert_eq!(net.sites[0].atp("A"), 6);
        assert_eq!(net.sites[0].atp("B"), 0);
    }
}
