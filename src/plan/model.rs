//! The planner's indexed view of a plan and of what has happened to it:
//! which lines are picked, which waves released. Rebuilt from the plan and
//! that progress whenever the plan changes; updated in place on each pick.

use std::collections::HashMap;

use crate::domain::plan::{LoadModel, Shift, SitePlan};
use crate::domain::Millis;

/// Progress that outlives plan versions, keyed by ids.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// order -> line -> when it was picked.
    pub picked: HashMap<String, HashMap<String, Millis>>,
    /// wave -> (released at, release sequence number).
    pub released: HashMap<String, (Millis, u64)>,
    pub next_release_seq: u64,
    /// Picks of orders not in the plan yet that named a code but no line:
    /// (order, code, at), matched to a line when the plan brings the order.
    pub unmatched: Vec<(String, String, Millis)>,
}

impl Progress {
    /// Record a wave released before the plan has it (a no-op if known).
    pub fn release_unknown(&mut self, wave: &str, at: Millis) {
        if !self.released.contains_key(wave) {
            self.released
                .insert(wave.to_owned(), (at, self.next_release_seq));
            self.next_release_seq += 1;
        }
    }

    /// Record a pick of an order the plan does not have yet.
    pub fn pick_unknown(
        &mut self,
        order: &str,
        line: Option<&str>,
        code: Option<&str>,
        at: Millis,
    ) {
        match (line, code) {
            (Some(line), _) => {
                self.picked
                    .entry(order.to_owned())
                    .or_default()
                    .entry(line.to_owned())
                    .or_insert(at);
            }
            (None, Some(code)) => self.unmatched.push((order.to_owned(), code.to_owned(), at)),
            (None, None) => {}
        }
    }

    /// Match picks by code to lines of orders the plan now has.
    fn resolve(&mut self, plan: &SitePlan) {
        if self.unmatched.is_empty() {
            return;
        }
        let orders: HashMap<&str, &crate::domain::plan::Order> = plan
            .waves
            .iter()
            .flat_map(|w| &w.orders)
            .map(|o| (o.id.as_str(), o))
            .collect();
        let mut left = Vec::new();
        for (order, code, at) in std::mem::take(&mut self.unmatched) {
            let Some(o) = orders.get(order.as_str()) else {
                left.push((order, code, at));
                continue;
            };
            let picked = self.picked.entry(order.clone()).or_default();
            if let Some(l) = o
                .lines
                .iter()
                .find(|l| l.sku.as_deref() == Some(code.as_str()) && !picked.contains_key(&l.id))
            {
                picked.insert(l.id.clone(), at);
            }
        }
        self.unmatched = left;
    }
}

#[derive(Debug, Clone)]
pub struct ZoneInfo {
    pub id: String,
    pub standard_lph: f64,
    pub headcount: u32,
    pub shifts: Vec<Shift>,
}

impl ZoneInfo {
    /// Pickers the labour plan has in the zone at `t`.
    pub fn planned_at(&self, t: Millis) -> u32 {
        if self.shifts.is_empty() {
            return self.headcount;
        }
        self.shifts
            .iter()
            .filter(|s| s.start <= t && t < s.end)
            .map(|s| s.headcount)
            .sum()
    }

    /// Start of the latest shift under way at `t` (None without shifts or between them).
    pub fn shift_start(&self, t: Millis) -> Option<Millis> {
        self.shifts
            .iter()
            .filter(|s| s.start <= t && t < s.end)
            .map(|s| s.start)
            .max()
    }

    /// End of the shift under way at `t` that ends first.
    pub fn shift_end(&self, t: Millis) -> Option<Millis> {
        self.shifts
            .iter()
            .filter(|s| s.start <= t && t < s.end)
            .map(|s| s.end)
            .min()
    }

    /// Times after `t` when the planned headcount may change, ascending.
    pub fn changes_after(&self, t: Millis) -> Vec<Millis> {
        let mut out: Vec<Millis> = self
            .shifts
            .iter()
            .flat_map(|s| [s.start, s.end])
            .filter(|&b| b > t)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[derive(Debug, Clone)]
pub struct DepartureInfo {
    pub id: String,
    pub carrier: String,
    pub scheduled_at: Millis,
    pub cutoff: Millis,
    pub door: Option<String>,
    pub vehicle_due: Option<Millis>,
    pub load: LoadModel,
    pub orders: Vec<usize>,
    /// All lines of its orders, picked or not (they all get loaded).
    pub lines_total: u64,
}

impl DepartureInfo {
    /// Staging plus loading of all its lines.
    pub fn after_pick_ms(&self) -> Millis {
        self.load.staging_ms() + self.load.load_ms(self.lines_total)
    }

    /// When its last pick must be done at the latest.
    pub fn pick_due(&self) -> Millis {
        self.cutoff - self.after_pick_ms()
    }

    /// When its last pick is needed to leave at the scheduled time.
    pub fn pick_needed(&self) -> Millis {
        self.scheduled_at - self.after_pick_ms()
    }
}

#[derive(Debug, Clone)]
pub struct WaveInfo {
    pub id: String,
    pub planned_release: Millis,
    pub orders: Vec<usize>,
    pub released: Option<(Millis, u64)>,
}

#[derive(Debug, Clone)]
pub struct LineInfo {
    pub id: String,
    pub sku: Option<String>,
    pub zone: usize,
    pub picked: bool,
}

#[derive(Debug, Clone)]
pub struct OrderInfo {
    pub id: String,
    pub departure: usize,
    pub wave: usize,
    pub stop: String,
    pub lines: Vec<LineInfo>,
    /// Lines still to pick per zone, only zones with some.
    pub remaining: Vec<(usize, u32)>,
    pub remaining_total: u32,
    pub last_pick: Option<Millis>,
}

/// A plan indexed for the planner, with progress applied.
#[derive(Debug, Clone)]
pub struct Model {
    pub site: String,
    pub version: u64,
    pub zones: Vec<ZoneInfo>,
    pub departures: Vec<DepartureInfo>,
    pub waves: Vec<WaveInfo>,
    pub orders: Vec<OrderInfo>,
    pub zone_ix: HashMap<String, usize>,
    pub departure_ix: HashMap<String, usize>,
    pub order_ix: HashMap<String, usize>,
    pub wave_ix: HashMap<String, usize>,
    /// Released lines not yet picked, per zone.
    pub backlog: Vec<u64>,
}

/// What a pick changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picked {
    pub zone: usize,
    /// The zone has no released work left.
    pub zone_idle: bool,
}

impl Model {
    /// Index a validated plan and apply progress to it.
    pub fn build(plan: &SitePlan, progress: &mut Progress) -> Model {
        progress.resolve(plan);
        let zones: Vec<ZoneInfo> = plan
            .zones
            .iter()
            .map(|z| ZoneInfo {
                id: z.id.clone(),
                standard_lph: z.standard_lines_per_hour,
                headcount: z.headcount,
                shifts: z.shifts.clone(),
            })
            .collect();
        let zone_ix: HashMap<String, usize> = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.id.clone(), i))
            .collect();
        let mut departures: Vec<DepartureInfo> = plan
            .departures
            .iter()
            .map(|d| DepartureInfo {
                id: d.id.clone(),
                carrier: d.carrier.clone(),
                scheduled_at: d.scheduled_at,
                cutoff: d.cutoff,
                door: d.door.clone(),
                vehicle_due: d.vehicle_due,
                load: d.load,
                orders: Vec::new(),
                lines_total: 0,
            })
            .collect();
        let departure_ix: HashMap<String, usize> = departures
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();
        let mut waves = Vec::with_capacity(plan.waves.len());
        let mut orders = Vec::new();
        let mut backlog = vec![0u64; zones.len()];
        for (wi, w) in plan.waves.iter().enumerate() {
            let released = progress.released.get(&w.id).copied();
            let mut wave_orders = Vec::with_capacity(w.orders.len());
            for o in &w.orders {
                let (Some(&dep), true) = (
                    departure_ix.get(&o.departure),
                    o.lines.iter().all(|l| zone_ix.contains_key(&l.zone)),
                ) else {
                    continue; // validate() rejects these; a model never panics on them
                };
                let mut lines = Vec::with_capacity(o.lines.len());
                let mut remaining: Vec<(usize, u32)> = Vec::new();
                let mut last_pick: Option<Millis> = None;
                let picked = progress.picked.get(&o.id);
                for l in &o.lines {
                    let zone = zone_ix[&l.zone];
                    let at = picked.and_then(|p| p.get(&l.id)).copied();
                    if let Some(at) = at {
                        last_pick = last_pick.max(Some(at));
                    } else {
                        match remaining.iter_mut().find(|(z, _)| *z == zone) {
                            Some((_, n)) => *n += 1,
                            None => remaining.push((zone, 1)),
                        }
                        if released.is_some() {
                            backlog[zone] += 1;
                        }
                    }
                    lines.push(LineInfo {
                        id: l.id.clone(),
                        sku: l.sku.clone(),
                        zone,
                        picked: at.is_some(),
                    });
                }
                let oi = orders.len();
                departures[dep].orders.push(oi);
                departures[dep].lines_total += lines.len() as u64;
                orders.push(OrderInfo {
                    id: o.id.clone(),
                    departure: dep,
                    wave: wi,
                    stop: o.stop.clone(),
                    remaining_total: remaining.iter().map(|(_, n)| n).sum(),
                    remaining,
                    lines,
                    last_pick,
                });
                wave_orders.push(oi);
            }
            waves.push(WaveInfo {
                id: w.id.clone(),
                planned_release: w.planned_release,
                orders: wave_orders,
                released,
            });
        }
        let order_ix = orders
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
        let wave_ix = waves
            .iter()
            .enumerate()
            .map(|(i, w)| (w.id.clone(), i))
            .collect();
        Model {
            site: plan.site.clone(),
            version: plan.version,
            zones,
            departures,
            waves,
            orders,
            zone_ix,
            departure_ix,
            order_ix,
            wave_ix,
            backlog,
        }
    }

    /// Mark a line picked. `line` by id, else the first unpicked line whose
    /// sku is `code`. None when nothing matched or it was already picked.
    pub fn pick(
        &mut self,
        order: usize,
        line: Option<&str>,
        code: Option<&str>,
        at: Millis,
        progress: &mut Progress,
    ) -> Option<Picked> {
        let o = self.orders.get(order)?;
        let li = match (line, code) {
            (Some(id), _) => o.lines.iter().position(|l| l.id == id)?,
            (None, Some(code)) => o
                .lines
                .iter()
                .position(|l| !l.picked && l.sku.as_deref() == Some(code))?,
            (None, None) => return None,
        };
        if o.lines[li].picked {
            return None;
        }
        let wave = o.wave;
        if self.waves[wave].released.is_none() {
            // Picking proves the wave was released, whoever released it.
            self.release(wave, at, progress);
        }
        let o = &mut self.orders[order];
        let line = &mut o.lines[li];
        line.picked = true;
        let zone = line.zone;
        progress
            .picked
            .entry(o.id.clone())
            .or_default()
            .insert(line.id.clone(), at);
        if let Some(pos) = o.remaining.iter().position(|(z, _)| *z == zone) {
            o.remaining[pos].1 -= 1;
            if o.remaining[pos].1 == 0 {
                o.remaining.swap_remove(pos);
            }
        }
        o.remaining_total = o.remaining_total.saturating_sub(1);
        o.last_pick = o.last_pick.max(Some(at));
        self.backlog[zone] = self.backlog[zone].saturating_sub(1);
        Some(Picked {
            zone,
            zone_idle: self.backlog[zone] == 0,
        })
    }

    /// Release a wave (no-op if released). Returns the zones that had no
    /// released work before it.
    pub fn release(&mut self, wave: usize, at: Millis, progress: &mut Progress) -> Vec<usize> {
        let Some(w) = self.waves.get_mut(wave) else {
            return Vec::new();
        };
        if w.released.is_some() {
            return Vec::new();
        }
        let mark = (at, progress.next_release_seq);
        progress.next_release_seq += 1;
        w.released = Some(mark);
        progress.released.insert(w.id.clone(), mark);
        let mut were_idle = Vec::new();
        for &oi in &self.waves[wave].orders {
            for &(z, n) in &self.orders[oi].remaining {
                if self.backlog[z] == 0 && !were_idle.contains(&z) {
                    were_idle.push(z);
                }
                self.backlog[z] += u64::from(n);
            }
        }
        were_idle
    }

    /// Lines still to pick in a wave, per zone.
    pub fn wave_remaining(&self, wave: usize) -> Vec<(usize, u64)> {
        let mut out: Vec<(usize, u64)> = Vec::new();
        for &oi in &self.waves[wave].orders {
            for &(z, n) in &self.orders[oi].remaining {
                match out.iter_mut().find(|(zz, _)| *zz == z) {
                    Some((_, m)) => *m += u64::from(n),
                    None => out.push((z, u64::from(n))),
                }
            }
        }
        out
    }

    /// Departures a wave's orders are for, in first-seen order.
    pub fn wave_departures(&self, wave: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for &oi in &self.waves[wave].orders {
            let d = self.orders[oi].departure;
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// Order lines not yet picked.
    pub fn open_lines(&self) -> u64 {
        self.orders
            .iter()
            .map(|o| u64::from(o.remaining_total))
            .sum()
    }
}
