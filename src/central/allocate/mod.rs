//! The allocator: which site ships each order, with which carrier and on
//! which departure, and how that changes when a site reports risk. Pure and
//! deterministic: no I/O, no clock (`now` is an argument), no hash-order
//! iteration where the order matters.
//!
//! - `network`: the sites' stock, capacity, departures and reported risks.
//! - `source`: sourcing and carrier choice for one order.
//! - `replan`: moving orders off departures at risk, deferred or missed.
//! - `site_plan`: each site's plan, holding only its own orders.

pub mod network;
pub mod order;
mod replan;
mod site_plan;
pub mod source;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::config::{AllocationConfig, CentralConfig};
use crate::domain::{EventBody, Millis};
use network::{DepKey, Follow, Network, KEEP_AFTER_CUTOFF_MS};
pub use order::{Line, Order};
use source::{Choice, Mode, Terms};

/// One site's part of an order: its lines, carrier and departure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub site: String,
    pub carrier: String,
    pub departure: String,
    pub cutoff: Millis,
    /// Cutoff plus the carrier's transit to the order's zone.
    pub delivery: Millis,
    pub lines: Vec<Line>,
    pub wave: String,
    pub ship_cost: f64,
    /// Probability of missing the departure, when allocated.
    pub p_late: f64,
    /// Picked at the site: its carrier and departure are final.
    #[serde(default)]
    pub locked: bool,
    #[serde(skip)]
    site_idx: usize,
    #[serde(skip)]
    dep: DepKey,
}

/// Where an order stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OrderState {
    Allocated {
        shipments: Vec<Shipment>,
    },
    /// Could not be allocated yet (tried again when stock arrives).
    Pending {
        reason: String,
    },
}

struct Entry {
    order: Order,
    state: OrderState,
    priority: i32,
}

/// Per-site figures for `dockside central sites`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SiteFigures {
    pub site: String,
    /// Shipments allocated and not yet shipped.
    pub allocated: u64,
    /// Of them, picked (carrier locked).
    pub picked: u64,
    /// On a departure the site reports at risk, or likely (p >= 0.5) to miss.
    pub at_risk: u64,
    /// Delivering after the promise, or past their cutoff unpicked.
    pub late: u64,
    pub open_lines: u64,
    pub lines_per_hour: f64,
    pub rate_reported: bool,
    pub skus_in_stock: u64,
    pub departures_at_risk: Vec<String>,
    pub doors: u64,
    pub doors_in_service: u64,
}

pub struct Allocator {
    cfg: AllocationConfig,
    tenants: HashMap<String, (i32, Vec<String>)>,
    net: Network,
    orders: HashMap<String, Entry>,
    /// Orders waiting for stock: highest priority, then oldest, first.
    pending: BTreeSet<(Reverse<i32>, Millis, String)>,
    dirty: BTreeSet<usize>,
    changed: BTreeSet<String>,
    now: Millis,
}

impl Allocator {
    pub fn new(config: &CentralConfig) -> Allocator {
        Allocator {
            cfg: config.allocation.clone(),
            tenants: config
                .tenants
                .iter()
                .map(|t| (t.client.clone(), (t.priority, t.allowed_carriers.clone())))
                .collect(),
            net: Network::new(config),
            orders: HashMap::new(),
            pending: BTreeSet::new(),
            dirty: BTreeSet::new(),
            changed: BTreeSet::new(),
            now: Millis::MIN,
        }
    }

    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Move the clock: departures within the horizon exist, capacity is as
    /// of `now`.
    pub fn advance(&mut self, now: Millis) {
        self.now = now;
        self.net.advance(now);
    }

    pub fn knows(&self, order: &str) -> bool {
        self.orders.contains_key(order)
    }

    pub fn order(&self, id: &str) -> Option<(&Order, &OrderState)> {
        self.orders.get(id).map(|e| (&e.order, &e.state))
    }

    /// Sites whose plan may have changed since the last call.
    pub fn take_dirty_sites(&mut self) -> Vec<String> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|i| self.net.sites[i].id.clone())
            .collect()
    }

    pub fn has_dirty_sites(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Orders whose state changed since the last call.
    pub fn take_changed_orders(&mut self) -> Vec<String> {
        std::mem::take(&mut self.changed).into_iter().collect()
    }

    pub fn site_ids(&self) -> impl Iterator<Item = &str> {
        self.net.sites.iter().map(|s| s.id.as_str())
    }

    /// Put back an order as stored (at start-up), without re-deciding it.
    pub fn restore(&mut self, order: Order, state: OrderState) {
        let priority = self.priority(&order);
        let mut state = state;
        match &mut state {
            OrderState::Allocated { shipments } => {
                for sh in shipments.iter_mut() {
                    self.resolve(sh);
                    let shipped = sh.locked && sh.cutoff < self.now - KEEP_AFTER_CUTOFF_MS;
                    if !shipped {
                        self.hold(&order.id, sh);
                    }
                }
            }
            OrderState::Pending { .. } => {
                self.pending
                    .insert((Reverse(priority), order.received_at, order.id.clone()));
            }
        }
        self.orders.insert(
            order.id.clone(),
            Entry {
                order,
                state,
                priority,
            },
        );
    }

    /// Replay a stored event of `site` at start-up: the view only; what it
    /// caused then is already in the stored orders.
    pub fn replay(&mut self, site: &str, body: &EventBody) {
        let Some(&si) = self.net.site_index.get(site) else {
            return;
        };
        if let Follow::Picked(order) = self.net.apply(si, body) {
            self.pick(si, &order);
        }
    }

    /// After start-up: every site's plan is rebuilt once, nothing is new.
    pub fn settle(&mut self) {
        self.changed.clear();
        self.dirty = (0..self.net.sites.len()).collect();
        for s in &mut self.net.sites {
            s.refresh(self.now);
        }
    }

    /// Allocate new orders. In a batch, the orders with the most to lose go
    /// first: higher client priority, then the bigger cost of losing their
    /// best option, then the earlier promise.
    pub fn allocate(&mut self, orders: Vec<Order>, now: Millis) {
        self.advance(now);
        let mut keyed: Vec<(Reverse<i32>, Reverse<i64>, Millis, usize)> = Vec::new();
        let batch: Vec<Order> = orders
            .into_iter()
            .filter(|o| !self.orders.contains_key(&o.id))
            .collect();
        if batch.len() > 1 {
            for (i, o) in batch.iter().enumerate() {
                let (allowed, penalty) = self.terms_of(o);
                let terms = Terms::new(&self.net, o, &allowed, penalty, self.cfg.rate_cv);
                let regret = match source::best_two(&self.net, &terms, now) {
                    (Some(b), Some(second)) => second - b.cost,
                    (Some(_), None) => penalty,
                    _ => 0.0,
                };
                keyed.push((
                    Reverse(self.priority(o)),
                    Reverse((regret * 100.0).round() as i64),
                    o.promised_delivery,
                    i,
                ));
            }
            keyed.sort();
        } else {
            keyed = (0..batch.len())
                .map(|i| (Reverse(0), Reverse(0), 0, i))
                .collect();
        }
        let mut slots: Vec<Option<Order>> = batch.into_iter().map(Some).collect();
        for (_, _, _, i) in keyed {
            let o = slots[i].take().expect("each index once");
            let priority = self.priority(&o);
            let id = o.id.clone();
            self.orders.insert(
                id.clone(),
                Entry {
                    order: o,
                    state: OrderState::Pending {
                        reason: String::new(),
                    },
                    priority,
                },
            );
            self.try_allocate(&id);
            // Recorded even if it ends where it started (pending): the
            // store then no longer holds it as `new`.
            self.changed.insert(id);
        }
    }

    /// Source and commit one known order; pending with the reason if it
    /// cannot be.
    fn try_allocate(&mut self, id: &str) {
        let entry = self.orders.get(id).expect("known order");
        let (allowed, penalty) = self.terms_of(&entry.order);
        let terms = Terms::new(&self.net, &entry.order, &allowed, penalty, self.cfg.rate_cv);
        let result = source::source(&self.net, &terms, self.now, &HashSet::new());
        let key = (
            Reverse(entry.priority),
            entry.order.received_at,
            id.to_owned(),
        );
        match result {
            Ok(choices) => {
                self.pending.remove(&key);
                let shipments = choices.into_iter().map(|c| self.commit(id, c)).collect();
                self.set_state(id, OrderState::Allocated { shipments });
            }
            Err(why) => {
                self.pending.insert(key);
                self.set_state(
                    id,
                    OrderState::Pending {
                        reason: why.to_string(),
                    },
                );
            }
        }
    }

    fn set_state(&mut self, id: &str, state: OrderState) {
        let e = self.orders.get_mut(id).expect("known order");
        if e.state != state {
            e.state = state;
            self.changed.insert(id.to_owned());
        }
    }

    /// Apply a batch of `site`'s new events: update the view, lock picked
    /// orders, re-allocate off departures at risk or deferred, and retry
    /// waiting orders when stock arrived.
    pub fn apply_events<'a>(
        &mut self,
        site: &str,
        events: impl IntoIterator<Item = &'a EventBody>,
        now: Millis,
    ) {
        self.advance(now);
        let Some(&si) = self.net.site_index.get(site) else {
            return;
        };
        let mut stock_up = false;
        let mut at_risk: Vec<DepKey> = Vec::new();
        let mut deferred: Vec<(String, DepKey)> = Vec::new();
        for body in events {
            match self.net.apply(si, body) {
                Follow::None => {}
                Follow::StockUp => stock_up = true,
                Follow::Picked(order) => self.pick(si, &order),
                Follow::AtRisk(key) => at_risk.push(key),
                Follow::Defer { order, from } => deferred.push((order, from)),
            }
        }
        self.net.sites[si].refresh(now);
        at_risk.dedup();
        for key in at_risk {
            self.replan_departure(si, key, false);
        }
        for (order, from) in deferred {
            self.defer(si, &order, from);
        }
        if stock_up {
            self.retry_pending();
        }
    }

    /// Time-driven work: departures whose cutoff passed with orders not
    /// picked give them up; shipped departures leave the view; waiting
    /// orders are tried again.
    pub fn tick(&mut self, now: Millis) {
        self.advance(now);
        for si in 0..self.net.sites.len() {
            let missed: Vec<DepKey> = self.net.sites[si]
                .departures
                .range(..(now, 0))
                .filter(|(_, d)| !d.orders.is_empty())
                .map(|(k, _)| *k)
                .collect();
            for key in missed {
                self.replan_departure(si, key, true);
                if key.0 < now - KEEP_AFTER_CUTOFF_MS {
                    self.retire(si, key);
                }
            }
        }
        self.retry_pending();
    }

    fn retry_pending(&mut self) {
        let waiting: Vec<String> = self.pending.iter().map(|k| k.2.clone()).collect();
        for id in waiting {
            self.try_allocate(&id);
        }
    }

    /// Locked orders on a departure long gone are shipped: out of the view.
    fn retire(&mut self, si: usize, key: DepKey) {
        let s = &mut self.net.sites[si];
        if let Some(d) = s.departures.get_mut(&key) {
            d.orders.clear();
            d.open_lines = 0;
            self.dirty.insert(si);
        }
    }

    fn priority(&self, o: &Order) -> i32 {
        o.client
            .as_ref()
            .and_then(|c| self.tenants.get(c))
            .map_or(0, |t| t.0)
    }

    /// Carriers the order may use (empty: any) and its late penalty.
    fn terms_of(&self, o: &Order) -> (Vec<String>, f64) {
        let allowed = o
            .client
            .as_ref()
            .and_then(|c| self.tenants.get(c))
            .map(|t| t.1.clone())
            .unwrap_or_default();
        (allowed, self.cfg.penalty(&o.tier))
    }

    /// Reserve what a choice needs and record it as a shipment of `order`.
    fn commit(&mut self, order: &str, c: Choice) -> Shipment {
        let s = &self.net.sites[c.site];
        let d = &s.departures[&c.dep];
        let svc = &self.net.services[c.dep.1];
        let mut sh = Shipment {
            site: s.id.clone(),
            carrier: svc.carrier.clone(),
            departure: d.id.clone(),
            cutoff: c.dep.0,
            delivery: c.delivery,
            lines: c.lines,
            wave: d.wave_id(),
            ship_cost: c.ship_cost,
            p_late: c.p_late,
            locked: false,
            site_idx: c.site,
            dep: c.dep,
        };
        self.hold(order, &mut sh);
        sh
    }

    /// Count a shipment in the view: stock reserved (until picked), lines on
    /// its departure, a place in the carrier's day.
    fn hold(&mut self, order: &str, sh: &mut Shipment) {
        let s = &mut self.net.sites[sh.site_idx];
        if !sh.locked {
            for l in &sh.lines {
                s.stock.entry(l.sku.clone()).or_default().reserved += l.qty as i64;
            }
        }
        if let Some(d) = s.departures.get_mut(&sh.dep) {
            if !sh.locked {
                d.open_lines += sh.lines.len() as u64;
            }
            d.orders.insert(order.to_owned());
        }
        s.refresh(self.now);
        *self
            .net
            .usage
            .entry((sh.dep.1, network::day_of(sh.dep.0)))
            .or_default() += 1;
        self.dirty.insert(sh.site_idx);
    }

    /// Undo `hold`.
    fn release(&mut self, order: &str, sh: &Shipment) {
        let s = &mut self.net.sites[sh.site_idx];
        if !sh.locked {
            for l in &sh.lines {
                if let Some(st) = s.stock.get_mut(&l.sku) {
                    st.reserved -= l.qty as i64;
                }
            }
        }
        if let Some(d) = s.departures.get_mut(&sh.dep) {
            if !sh.locked {
                d.open_lines = d.open_lines.saturating_sub(sh.lines.len() as u64);
            }
            d.orders.remove(order);
        }
        s.refresh(self.now);
        if let Some(n) = self
            .net
            .usage
            .get_mut(&(sh.dep.1, network::day_of(sh.dep.0)))
        {
            *n = n.saturating_sub(1);
        }
        self.dirty.insert(sh.site_idx);
    }

    /// A stored shipment's indices in the view (its departure made if the
    /// calendar no longer has it).
    fn resolve(&mut self, sh: &mut Shipment) {
        let Some(&si) = self.net.site_index.get(&sh.site) else {
            return;
        };
        let service = self.net.sites[si]
            .services
            .iter()
            .copied()
            .find(|&x| self.net.services[x].carrier == sh.carrier);
        sh.site_idx = si;
        if let Some(service) = service {
            sh.dep = self.net.departure_key(service, sh.cutoff);
        }
    }

    /// The site reported `order` picked (or some of its lines): lock its
    /// shipment there once every line is.
    fn pick(&mut self, si: usize, order: &str) {
        let s = &self.net.sites[si];
        let Some(picked) = s.picked_lines.get(order) else {
            return;
        };
        let Some(entry) = self.orders.get(order) else {
            return;
        };
        let OrderState::Allocated { shipments } = &entry.state else {
            return;
        };
        let Some(pos) = shipments
            .iter()
            .position(|sh| sh.site_idx == si && !sh.locked)
        else {
            return;
        };
        let sh = &shipments[pos];
        let all = picked.is_empty() || sh.lines.iter().all(|l| picked.contains(&l.sku));
        if !all {
            return;
        }
        let mut sh = sh.clone();
        self.release(order, &sh);
        sh.locked = true;
        self.hold(order, &mut sh);
        self.net.sites[si].picked_lines.remove(order);
        let Some(Entry {
            state: OrderState::Allocated { shipments },
            ..
        }) = self.orders.get_mut(order)
        else {
            return;
        };
        shipments[pos] = sh;
        self.changed.insert(order.to_owned());
    }

    /// Figures by site, as of `now`.
    pub fn figures(&self, now: Millis) -> Vec<SiteFigures> {
        let mut out: Vec<SiteFigures> = self
            .net
            .sites
            .iter()
            .map(|s| SiteFigures {
                site: s.id.clone(),
                lines_per_hour: s.rate(),
                rate_reported: s.reported_rate.is_some_and(|r| r.0 > 0.0),
                skus_in_stock: s.stock.values().filter(|st| st.on_hand > 0).count() as u64,
                departures_at_risk: s
                    .departures
                    .values()
                    .filter(|d| d.risk.is_some())
                    .map(|d| d.id.clone())
                    .collect(),
                doors: s.doors.len() as u64,
                doors_in_service: s.doors.values().filter(|ok| **ok).count() as u64,
                ..SiteFigures::default()
            })
            .collect();
        let mut ids: Vec<&String> = self.orders.keys().collect();
        ids.sort();
        for id in ids {
            let e = &self.orders[id];
            let OrderState::Allocated { shipments } = &e.state else {
                continue;
            };
            for sh in shipments {
                let s = &self.net.sites[sh.site_idx];
                let Some(d) = s.departures.get(&sh.dep) else {
                    continue; // shipped
                };
                if !d.orders.contains(id) {
                    continue;
                }
                let f = &mut out[sh.site_idx];
                f.allocated += 1;
                if sh.locked {
                    f.picked += 1;
                } else {
                    f.open_lines += sh.lines.len() as u64;
                }
                if !sh.locked && (d.risk.is_some() || sh.p_late >= 0.5) {
                    f.at_risk += 1;
                }
                if sh.delivery > e.order.promised_delivery || (!sh.locked && sh.cutoff < now) {
                    f.late += 1;
                }
            }
        }
        out
    }

    /// Every order, by id, for inspection.
    pub fn orders(&self) -> impl Iterator<Item = (&Order, &OrderState)> {
        self.orders.values().map(|e| (&e.order, &e.state))
    }

    /// The best single-site option for `lines` of `order`, not on `exclude`
    /// and not at the sites in `skip`.
    fn best_single(
        &self,
        order: &Order,
        lines: &[Line],
        exclude: DepKey,
        exclude_site: usize,
        skip: &HashSet<usize>,
    ) -> Option<Choice> {
        let (allowed, penalty) = self.terms_of(order);
        let terms = Terms::new(&self.net, order, &allowed, penalty, self.cfg.rate_cv);
        for mode in [Mode::OnTime, Mode::Any] {
            let mut best: Option<Choice> = None;
            for (si, s) in self.net.sites.iter().enumerate() {
                if skip.contains(&si) || lines.iter().any(|l| s.atp(&l.sku) < l.qty as i64) {
                    continue;
                }
                let ex = (si == exclude_site).then_some(exclude);
                if let Some(c) =
                    source::best_at_site(&self.net, si, lines, &terms, mode, self.now, ex)
                {
                    if best.as_ref().map_or(true, |b| c.better_than(b)) {
                        best = Some(c);
                    }
                }
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }
}
