//! Sourcing and carrier choice for one order: which sites ship which lines,
//! on which departure. Fewest shipments first, then lowest cost: the
//! carrier's price plus the late penalty times the probability of being late.

use std::collections::HashSet;

use super::network::{DepKey, Network};
use super::order::{Line, Order};
use crate::domain::Millis;

/// What the sourcing needs to know about the order beyond its lines.
pub struct Terms<'a> {
    pub order: &'a Order,
    pub penalty: f64,
    /// Transit of each service to the order's zone, None where the service
    /// may not carry it (tier, tenant, zone).
    pub transit: Vec<Option<Millis>>,
    pub rate_cv: f64,
}

impl<'a> Terms<'a> {
    pub fn new(
        net: &Network,
        order: &'a Order,
        allowed_carriers: &[String],
        penalty: f64,
        rate_cv: f64,
    ) -> Terms<'a> {
        let transit = net
            .services
            .iter()
            .map(|s| {
                let allowed = s.serves_tier(&order.tier)
                    && (allowed_carriers.is_empty() || allowed_carriers.contains(&s.carrier));
                allowed
                    .then(|| s.transit_ms.get(&order.destination_zone).copied())
                    .flatten()
            })
            .collect();
        Terms {
            order,
            penalty,
            transit,
            rate_cv,
        }
    }
}

/// One way to ship some lines from one site.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub site: usize,
    pub dep: DepKey,
    pub delivery: Millis,
    pub on_time: bool,
    pub p_late: f64,
    pub ship_cost: f64,
    /// `ship_cost` plus the expected late penalty.
    pub cost: f64,
    pub lines: Vec<Line>,
}

impl Choice {
    /// Order of preference: cost (to the cent), then the earlier cutoff.
    fn rank(&self) -> (i64, Millis, usize, usize) {
        (
            (self.cost * 100.0).round() as i64,
            self.dep.0,
            self.site,
            self.dep.1,
        )
    }

    pub fn better_than(&self, other: &Choice) -> bool {
        self.rank() < other.rank()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only departures whose cutoff plus transit meets the promise.
    OnTime,
    /// Late ones too, costed by how late.
    Any,
}

/// The best departure at `site` for `lines` (stock is the caller's
/// business), skipping `exclude`.
pub fn best_at_site(
    net: &Network,
    site: usize,
    lines: &[Line],
    terms: &Terms<'_>,
    mode: Mode,
    now: Millis,
    exclude: Option<DepKey>,
) -> Option<Choice> {
    let s = &net.sites[site];
    let n = lines.len() as u64;
    let earliest = now + s.lead_ms(n);
    let promise = terms.order.promised_delivery;
    let mut best: Option<Choice> = None;
    for slot in &s.slots {
        let (cutoff, service) = slot.key;
        if cutoff < earliest || Some(slot.key) == exclude {
            continue;
        }
        let Some(transit) = terms.transit[service] else {
            continue;
        };
        let delivery = cutoff + transit;
        let on_time = delivery <= promise;
        if mode == Mode::OnTime && !on_time {
            continue;
        }
        if slot.headroom < n as f64 {
            continue;
        }
        let svc = &net.services[service];
        if net.used(service, cutoff) >= svc.daily_capacity {
            continue;
        }
        let p_late = if on_time {
            s.p_late(slot, n, now, terms.rate_cv)
        } else {
            1.0
        };
        let late_days = (delivery - promise).max(0) as f64 / 86_400_000.0;
        let expected = if on_time {
            p_late * terms.penalty
        } else {
            // Certainly late: the penalty, and a day's worth more per day late.
            terms.penalty * (1.0 + late_days)
        };
        let choice = Choice {
            site,
            dep: slot.key,
            delivery,
            on_time,
            p_late,
            ship_cost: svc.cost,
            cost: svc.cost + expected,
            lines: Vec::new(),
        };
        if best.as_ref().map_or(true, |b| choice.better_than(b)) {
            best = Some(choice);
        }
    }
    best.map(|mut c| {
        c.lines = lines.to_vec();
        c
    })
}

/// Which of the order's lines each site holds in full (bit i = line i).
fn coverage(net: &Network, lines: &[Line], skip: &HashSet<usize>) -> Vec<u64> {
    net.sites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if skip.contains(&i) {
                return 0;
            }
            lines
                .iter()
                .take(64)
                .enumerate()
                .filter(|(_, l)| s.atp(&l.sku) >= l.qty as i64)
                .fold(0u64, |m, (b, _)| m | 1 << b)
        })
        .collect()
}

/// Why an order could not be sourced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// Not enough stock in the network.
    Stock { sku: String, need: u32, have: i64 },
    /// Stock exists but no carrier service there may carry the order.
    NoService,
    /// Stock and carriers exist but no pick or carrier capacity is left.
    NoCapacity,
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shortfall::Stock { sku, need, have } => {
                write!(
                    f,
                    "not enough stock of {sku}: {need} needed, {have} available"
                )
            }
            Shortfall::NoService => write!(
                f,
                "no carrier allowed for the order serves its zone from a site with the stock"
            ),
            Shortfall::NoCapacity => write!(
                f,
                "no pick or carrier capacity left at the sites with the stock"
            ),
        }
    }
}

/// Source the whole order: one shipment if any site can take it on time,
/// else two, else as few as a greedy cover gives; only then late options.
/// `skip` lists sites not to use.
pub fn source(
    net: &Network,
    terms: &Terms<'_>,
    now: Millis,
    skip: &HashSet<usize>,
) -> Result<Vec<Choice>, Shortfall> {
    let lines = &terms.order.lines;
    let cover = coverage(net, lines, skip);
    for mode in [Mode::OnTime, Mode::Any] {
        if let Some(c) = single(net, terms, &cover, mode, now) {
            return Ok(vec![c]);
        }
        if lines.len() > 1 && lines.len() <= 64 {
            if let Some(p) = pair(net, terms, &cover, mode, now) {
                return Ok(p);
            }
        }
        if let Some(g) = greedy(net, terms, mode, now, skip) {
            return Ok(g);
        }
    }
    Err(shortfall(net, terms, skip))
}

/// The best single-site option, and the cost of the second best site (for
/// "most to lose" ordering).
pub fn best_two(net: &Network, terms: &Terms<'_>, now: Millis) -> (Option<Choice>, Option<f64>) {
    let lines = &terms.order.lines;
    let cover = coverage(net, lines, &HashSet::new());
    let full = full_mask(lines.len());
    let mut best: Option<Choice> = None;
    let mut second: Option<f64> = None;
    for (site, m) in cover.iter().enumerate() {
        if *m != full {
            continue;
        }
        if let Some(c) = best_at_site(net, site, lines, terms, Mode::Any, now, None) {
            match &best {
                Some(b) if !c.better_than(b) => {
                    second = Some(second.map_or(c.cost, |s| s.min(c.cost)));
                }
                _ => {
                    if let Some(b) = best.take() {
                        second = Some(second.map_or(b.cost, |s| s.min(b.cost)));
                    }
                    best = Some(c);
                }
            }
        }
    }
    (best, second)
}

fn full_mask(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

fn single(
    net: &Network,
    terms: &Terms<'_>,
    cover: &[u64],
    mode: Mode,
    now: Millis,
) -> Option<Choice> {
    let lines = &terms.order.lines;
    if lines.len() > 64 {
        return None;
    }
    let full = full_mask(lines.len());
    let mut best: Option<Choice> = None;
    for (site, m) in cover.iter().enumerate() {
        if *m != full {
            continue;
        }
        if let Some(c) = best_at_site(net, site, lines, terms, mode, now, None) {
            if best.as_ref().map_or(true, |b| c.better_than(b)) {
                best = Some(c);
            }
        }
    }
    best
}

/// Two sites that together hold every line: the cheapest pair by each
/// site's own best option; a line both hold goes to the cheaper site.
fn pair(
    net: &Network,
    terms: &Terms<'_>,
    cover: &[u64],
    mode: Mode,
    now: Millis,
) -> Option<Vec<Choice>> {
    let lines = &terms.order.lines;
    let full = full_mask(lines.len());
    let pick = |m: u64| -> Vec<Line> {
        lines
            .iter()
            .enumerate()
            .filter(|(b, _)| m & (1 << b) != 0)
            .map(|(_, l)| l.clone())
            .collect()
    };
    // Each partly covering site's own best option for what it holds.
    let mut sites: Vec<(usize, u64, f64)> = Vec::new();
    for (site, m) in cover.iter().enumerate() {
        if *m == 0 {
            continue;
        }
        if let Some(c) = best_at_site(net, site, &pick(*m), terms, mode, now, None) {
            sites.push((site, *m, c.cost));
        }
    }
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, a) in sites.iter().enumerate() {
        for (j, b) in sites.iter().enumerate().skip(i + 1) {
            if a.1 | b.1 == full {
                pairs.push((a.2 + b.2, i, j));
            }
        }
    }
    pairs.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    for (_, i, j) in pairs.into_iter().take(4) {
        let (a, b) = (sites[i], sites[j]);
        let (cheap, dear) = if a.2 <= b.2 { (a, b) } else { (b, a) };
        let dear_mask = dear.1 & !cheap.1;
        let first = best_at_site(net, cheap.0, &pick(cheap.1), terms, mode, now, None);
        let second = best_at_site(net, dear.0, &pick(dear_mask), terms, mode, now, None);
        if let (Some(x), Some(y)) = (first, second) {
            return Some(vec![x, y]);
        }
    }
    None
}

/// Cover the order site by site, each time the site that holds the most of
/// what is left (quantities may split across sites when no site has enough).
fn greedy(
    net: &Network,
    terms: &Terms<'_>,
    mode: Mode,
    now: Millis,
    skip: &HashSet<usize>,
) -> Option<Vec<Choice>> {
    let mut left: Vec<Line> = terms.order.lines.clone();
    let mut used: HashSet<usize> = skip.clone();
    let mut out = Vec::new();
    while !left.is_empty() {
        // (units it can give, site, its lines)
        let mut best: Option<(u64, usize, Vec<Line>)> = None;
        for (site, s) in net.sites.iter().enumerate() {
            if used.contains(&site) {
                continue;
            }
            let give: Vec<Line> = left
                .iter()
                .filter_map(|l| {
                    let q = s.atp(&l.sku).min(l.qty as i64);
                    (q > 0).then(|| Line {
                        sku: l.sku.clone(),
                        qty: q as u32,
                    })
                })
                .collect();
            let units: u64 = give.iter().map(|l| l.qty as u64).sum();
            if units > best.as_ref().map_or(0, |b| b.0) {
                best = Some((units, site, give));
            }
        }
        let (_, site, give) = best?;
        used.insert(site);
        let Some(choice) = best_at_site(net, site, &give, terms, mode, now, None) else {
            continue;
        };
        for g in &give {
            if let Some(l) = left.iter_mut().find(|l| l.sku == g.sku) {
                l.qty -= g.qty;
            }
        }
        left.retain(|l| l.qty > 0);
        out.push(choice);
    }
    Some(out)
}

fn shortfall(net: &Network, terms: &Terms<'_>, skip: &HashSet<usize>) -> Shortfall {
    for l in &terms.order.lines {
        let have: i64 = net
            .sites
            .iter()
            .enumerate()
            .filter(|(i, _)| !skip.contains(i))
            .map(|(_, s)| s.atp(&l.sku).max(0))
            .sum();
        if have < l.qty as i64 {
            return Shortfall::Stock {
                sku: l.sku.clone(),
                need: l.qty,
                have,
            };
        }
    }
    let served = net.sites.iter().enumerate().any(|(i, s)| {
        !skip.contains(&i)
            && s.services.iter().any(|&svc| terms.transit[svc].is_some())
            && terms.order.lines.iter().any(|l| s.atp(&l.sku) > 0)
    });
    if served {
        Shortfall::NoCapacity
    } else {
        Shortfall::NoService
    }
}
