//! Forecast per departure: when its last line is picked (with the work queued
//! ahead of it in each zone), then staged and loaded; its slack to the cutoff
//! and the probability of missing it.
//!
//! Each zone is a single server of capacity `pickers × rate` working through
//! its queue in order: released waves in release order, then waves not yet
//! released in the order they will be (see [`Sequencing`]).

use serde::{Deserialize, Serialize};

use super::model::Model;
use super::rates::RateEstimate;
use crate::domain::decision::RiskReason;
use crate::domain::Millis;

const MIN: f64 = 60_000.0;
/// Work that cannot be done (a zone without pickers) lands this far out.
const NEVER_MS: Millis = 7 * 24 * 3_600_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForecastConfig {
    /// Relative drift of a zone's rate: standard deviation per square root of an hour.
    pub drift_per_sqrt_h: f64,
    /// Standard deviation added to every ready time (staging and loading noise), minutes.
    pub floor_sd_min: f64,
    /// Standard deviation of a vehicle's estimated arrival, minutes.
    pub eta_sd_min: f64,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        ForecastConfig {
            drift_per_sqrt_h: 0.10,
            floor_sd_min: 4.0,
            eta_sd_min: 10.0,
        }
    }
}

/// A zone's picking capacity: pickers now and the labour plan's later changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneCapacity {
    pub rate: RateEstimate,
    /// Pickers now.
    pub pickers: u32,
    /// Later changes of headcount: (from, pickers), ascending.
    pub changes: Vec<(Millis, u32)>,
    /// Share of a picker's time spent picking (breaks, personal time).
    pub availability: f64,
    /// When the capacity was measured.
    pub now: Millis,
    /// Time constant of the move from the current rate to the long-run one.
    pub reversion_ms: f64,
    /// Cumulative lines from `now`: (time, lines), see `tabulate`.
    pub curve: Vec<(f64, f64)>,
    /// Rate after the end of `curve`.
    pub tail_lpm: f64,
    /// Bucket length behind `rate.bucket_rel_var`, minutes.
    pub bucket_min: f64,
}

/// The forecast steps through time in chunks this long where the rate moves.
const STEP_MS: f64 = 15.0 * MIN;

impl ZoneCapacity {
    /// Lines per minute per picker at `t`: the current rate moving towards
    /// the long-run one.
    fn per_picker_at(&self, t: f64) -> f64 {
        let r = &self.rate;
        let ahead = (t - self.now as f64).max(0.0);
        let w = (-ahead / self.reversion_ms.max(1.0)).exp();
        r.long_lpm + (r.per_picker_lpm - r.long_lpm) * w
    }

    /// Lines per minute for the whole zone now.
    pub fn lpm(&self) -> f64 {
        self.rate.per_picker_lpm * f64::from(self.pickers) * self.availability
    }

    /// Pickers at `t` and when that next changes.
    fn segment(&self, t: f64) -> (u32, f64) {
        let mut pickers = self.pickers;
        for &(from, p) in &self.changes {
            if (from as f64) > t {
                return (pickers, from as f64);
            }
            pickers = p;
        }
        (pickers, f64::INFINITY)
    }

    /// The zone's rate (lines/min) over a chunk from `t`, and the chunk's end.
    fn chunk(&self, t: f64) -> (f64, f64) {
        let (pickers, seg_end) = self.segment(t);
        let moving = (self.rate.per_picker_lpm - self.rate.long_lpm).abs() > 1e-9
            && t - (self.now as f64) < 6.0 * self.reversion_ms;
        let end = if moving {
            seg_end.min(t + STEP_MS)
        } else {
            seg_end
        };
        let mid = if end.is_finite() { (t + end) / 2.0 } else { t };
        let lpm = self.per_picker_at(mid) * f64::from(pickers) * self.availability;
        (lpm, end)
    }

    /// Tabulate cumulative capacity from `now` over `horizon_ms`, so that
    /// `finish` and `lines_between` are a binary search each.
    pub fn tabulate(&mut self, horizon_ms: f64) {
        let mut t = self.now as f64;
        let end = t + horizon_ms;
        let mut cum = 0.0;
        let mut curve = vec![(t, 0.0)];
        while t < end {
            let (lpm, chunk_end) = self.chunk(t);
            let stop = chunk_end.min(end);
            cum += lpm * (stop - t) / MIN;
            t = stop;
            curve.push((t, cum));
        }
        self.tail_lpm = self.chunk(t).0;
        self.curve = curve;
    }

    /// Lines the zone can pick from `now` to `t`.
    fn cum(&self, t: f64) -> f64 {
        let Some(&(last_t, last_c)) = self.curve.last() else {
            return 0.0;
        };
        if t >= last_t {
            return last_c + self.tail_lpm * (t - last_t) / MIN;
        }
        let i = self.curve.partition_point(|&(ti, _)| ti <= t);
        if i == 0 {
            return 0.0;
        }
        let (t0, c0) = self.curve[i - 1];
        let (t1, c1) = self.curve[i];
        c0 + (c1 - c0) * (t - t0) / (t1 - t0)
    }

    /// When `lines` started at `begin` (ms, not before `now`) are done; infinite if never.
    pub fn finish(&self, begin: f64, lines: f64) -> f64 {
        if lines <= 0.0 {
            return begin;
        }
        let target = self.cum(begin) + lines;
        let Some(&(last_t, last_c)) = self.curve.last() else {
            return f64::INFINITY;
        };
        if target > last_c {
            return if self.tail_lpm > 0.0 {
                last_t.max(begin) + (target - last_c) / self.tail_lpm * MIN
            } else {
                f64::INFINITY
            };
        }
        let i = self.curve.partition_point(|&(_, c)| c < target);
        let (t1, c1) = self.curve[i];
        if i == 0 {
            return t1;
        }
        let (t0, c0) = self.curve[i - 1];
        let t = t0 + (t1 - t0) * (target - c0) / (c1 - c0);
        t.max(begin)
    }

    /// Lines the zone can pick between `from` and `to` (ms, not before `now`).
    pub fn lines_between(&self, from: f64, to: f64) -> f64 {
        (self.cum(to) - self.cum(from)).max(0.0)
    }

    /// Relative variance of the zone's average rate over the next `t_min` minutes.
    fn rel_var(&self, t_min: f64, drift: f64) -> f64 {
        let t = t_min.max(self.bucket_min).max(1.0);
        self.rate.bucket_rel_var * self.bucket_min / t
            + drift * drift * t / 60.0
            + self.rate.estimate_rel_var
    }
}

/// In which order and from when waves not yet released will be picked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sequencing {
    /// The planner releases them: least slack first, each no earlier than
    /// `lead_ms` before its departure needs its last pick.
    Planner { lead_ms: Millis },
    /// Someone else releases them at their planned times.
    Planned,
}

/// Conditions outside picking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepartureExtras<'a> {
    /// When the vehicle is expected at the door (latest estimate).
    pub vehicle_at: Option<Millis>,
    /// The planned door and until when it cannot load.
    pub door_down: Option<(&'a str, Millis)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderForecast {
    /// When its last line is picked (its last pick if done).
    pub pick_done: Millis,
    /// Standard deviation of `pick_done`.
    pub sd_ms: f64,
    /// The zone finishing last, with lines queued ahead of it there.
    pub bottleneck: Option<(usize, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DepartureForecast {
    pub pick_done: Millis,
    pub ready: Millis,
    pub sd_ms: f64,
    pub slack_ms: i64,
    pub p_miss: f64,
    pub reason: RiskReason,
    pub remaining_lines: u64,
    /// Its latest order (the one that sets `pick_done`), if any is open.
    pub last_order: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub at: Millis,
    pub orders: Vec<OrderForecast>,
    pub departures: Vec<DepartureForecast>,
    /// Waves not yet released, in the order they will be picked, with their earliest start.
    pub pending: Vec<(usize, Millis)>,
}

/// Forecast every order and departure of `model` at `now`.
pub fn forecast<'a>(
    model: &'a Model,
    caps: &[ZoneCapacity],
    extras: &dyn Fn(usize) -> DepartureExtras<'a>,
    sequencing: Sequencing,
    config: &ForecastConfig,
    now: Millis,
) -> Forecast {
    let pending = pending_sequence(model, caps, sequencing, now);
    let mut released: Vec<(Millis, u64, usize)> = model
        .waves
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.released.map(|(at, seq)| (at, seq, i)))
        .collect();
    released.sort_unstable();

    let nz = model.zones.len();
    let mut t = vec![now as f64; nz];
    let mut ahead = vec![0u64; nz];
    let mut orders: Vec<OrderForecast> = model
        .orders
        .iter()
        .map(|o| OrderForecast {
            pick_done: o.last_pick.unwrap_or(now).min(now),
            sd_ms: 0.0,
            bottleneck: None,
        })
        .collect();
    let queue = released
        .iter()
        .map(|&(_, _, w)| (w, now))
        .chain(pending.iter().copied());
    for (w, start) in queue {
        for &oi in &model.waves[w].orders {
            let o = &model.orders[oi];
            if o.remaining.is_empty() {
                continue;
            }
            let mut done = f64::MIN;
            let mut best = None;
            for &(z, n) in &o.remaining {
                let begin = t[z].max(start as f64);
                t[z] = caps
                    .get(z)
                    .map_or(f64::INFINITY, |c| c.finish(begin, f64::from(n)))
                    .min((now + NEVER_MS) as f64);
                if t[z] > done {
                    done = t[z];
                    best = Some((z, ahead[z]));
                }
                ahead[z] += u64::from(n);
            }
            let (z, _) = best.expect("an open order has a zone with lines");
            let elapsed_min = (done - now as f64) / MIN;
            let rel_var = caps
                .get(z)
                .map_or(0.0, |c| c.rel_var(elapsed_min, config.drift_per_sqrt_h));
            orders[oi] = OrderForecast {
                pick_done: done.min((now + NEVER_MS) as f64) as Millis,
                sd_ms: elapsed_min.max(0.0) * MIN * rel_var.sqrt(),
                bottleneck: best,
            };
        }
    }

    let departures = model
        .departures
        .iter()
        .enumerate()
        .map(|(di, d)| departure_forecast(model, di, &orders, extras(di), config, now, d.cutoff))
        .collect();
    Forecast {
        at: now,
        orders,
        departures,
        pending,
    }
}

fn departure_forecast(
    model: &Model,
    di: usize,
    orders: &[OrderForecast],
    extras: DepartureExtras<'_>,
    config: &ForecastConfig,
    now: Millis,
    cutoff: Millis,
) -> DepartureForecast {
    let d = &model.departures[di];
    let mut pick_done = Millis::MIN;
    let mut sd_pick = 0.0;
    let mut last_order = None;
    let mut remaining = 0u64;
    for &oi in &d.orders {
        let o = &model.orders[oi];
        remaining += u64::from(o.remaining_total);
        let f = &orders[oi];
        if f.pick_done > pick_done || (f.pick_done == pick_done && o.remaining_total > 0) {
            pick_done = f.pick_done;
            sd_pick = f.sd_ms;
            last_order = (o.remaining_total > 0).then_some(oi);
        }
    }
    if pick_done == Millis::MIN {
        pick_done = now; // nothing planned on it yet
    }
    let load = d.load.load_ms(d.lines_total);
    let floor = config.floor_sd_min * MIN;
    // Three ways to be late: picking, the vehicle, the door.
    let pick_path = pick_done + d.load.staging_ms() + load;
    let pick_sd = (sd_pick * sd_pick + floor * floor).sqrt();
    let reason = match last_order.and_then(|oi| orders[oi].bottleneck) {
        Some((z, lines_ahead)) => RiskReason::Picking {
            zone: model.zones[z].id.clone(),
            remaining_lines: d
                .orders
                .iter()
                .flat_map(|&oi| &model.orders[oi].remaining)
                .filter(|(zz, _)| *zz == z)
                .map(|(_, n)| u64::from(*n))
                .sum(),
            lines_ahead,
        },
        None => RiskReason::Loading {
            lines: d.lines_total,
        },
    };
    let mut paths: Vec<(Millis, f64, RiskReason)> = vec![(pick_path, pick_sd, reason)];
    if let Some(eta) = extras.vehicle_at.filter(|&eta| eta > now) {
        let sd = config.eta_sd_min * MIN;
        paths.push((
            eta + load,
            (sd * sd + floor * floor).sqrt(),
            RiskReason::VehicleLate { eta },
        ));
    }
    if let Some((door, until)) = extras.door_down.filter(|&(_, until)| until > now) {
        paths.push((
            until + load,
            floor,
            RiskReason::DoorOutage {
                door: door.to_owned(),
                until,
            },
        ));
    }
    let p_make: f64 = paths
        .iter()
        .map(|(mean, sd, _)| normal_cdf((cutoff - mean) as f64 / sd.max(1.0)))
        .product();
    let (ready, sd_ms, reason) = paths
        .into_iter()
        .max_by_key(|(mean, _, _)| *mean)
        .expect("the picking path is always there");
    DepartureForecast {
        pick_done,
        ready,
        sd_ms,
        slack_ms: cutoff - ready,
        p_miss: (1.0 - p_make).clamp(0.0, 1.0),
        reason,
        remaining_lines: remaining,
        last_order,
    }
}

/// Waves not yet released with lines to pick, in the order they will be
/// picked, each with the earliest time it may start.
fn pending_sequence(
    model: &Model,
    caps: &[ZoneCapacity],
    sequencing: Sequencing,
    now: Millis,
) -> Vec<(usize, Millis)> {
    let mut keyed: Vec<(Millis, Millis, usize)> = Vec::new();
    for (wi, w) in model.waves.iter().enumerate() {
        if w.released.is_some() {
            continue;
        }
        let work = model.wave_remaining(wi);
        if work.is_empty() {
            continue;
        }
        match sequencing {
            Sequencing::Planned => keyed.push((w.planned_release, w.planned_release, wi)),
            Sequencing::Planner { lead_ms } => {
                let own_min = work
                    .iter()
                    .map(|&(z, n)| {
                        let done = caps
                            .get(z)
                            .map_or(f64::INFINITY, |c| c.finish(now as f64, n as f64));
                        (done - now as f64).min(NEVER_MS as f64) / MIN
                    })
                    .fold(0.0, f64::max);
                let deps = model.wave_departures(wi);
                let due = deps
                    .iter()
                    .map(|&d| model.departures[d].pick_due())
                    .min()
                    .expect("a wave with work has orders");
                let needed = deps
                    .iter()
                    .map(|&d| model.departures[d].pick_needed())
                    .min()
                    .expect("a wave with work has orders");
                // Least slack: the latest it can start and still make its cutoff.
                let latest_start = due - (own_min * MIN) as Millis;
                let start = (needed - lead_ms).max(now);
                keyed.push((latest_start, start, wi));
            }
        }
    }
    keyed.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| {
                model.waves[a.2]
                    .planned_release
                    .cmp(&model.waves[b.2].planned_release)
            })
            .then_with(|| model.waves[a.2].id.cmp(&model.waves[b.2].id))
    });
    keyed
        .into_iter()
        .map(|(_, start, wi)| (wi, start.max(now)))
        .collect()
}

/// Standard normal cumulative distribution.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Complementary error function, fractional error below 1.2e-7 (Numerical Recipes `erfcc`).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((normal_cdf(-1.959_964) - 0.025).abs() < 1e-6);
    }
}
