//! Pick-rate estimator per zone: lines per minute per active picker.
//!
//! Each picker's consecutive picks in one zone give an interval; intervals
//! longer than a break threshold (a break, a walk to another zone, no work)
//! are dropped, the rest feed exponentially decayed sums of lines and busy
//! time, whose ratio is the observed rate. Rates of fixed-length buckets give
//! a variance. The sums start from the zone's labour standard, worth
//! `prior_lines` lines, which decays like any observation: it dominates
//! while data are thin and fades after a few half-lives of picking.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::Millis;

const MIN: f64 = 60_000.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Half-life of the decayed sums, in minutes of event time.
    pub half_life_min: f64,
    /// Half-life of the long-run rate that a forecast reverts to.
    pub long_half_life_min: f64,
    /// How fast a forecast moves from the current rate to the long-run one
    /// (time constant, minutes): slowdowns pass, so a forecast hours ahead
    /// should not assume today's worst half hour lasts.
    pub reversion_min: f64,
    /// An interval at least this long is a break and is dropped.
    pub break_gap_s: f64,
    /// ...as is one longer than this many times the zone's mean interval per picker.
    pub break_factor: f64,
    /// Weight of the labour standard, in lines, when observation starts.
    pub prior_lines: f64,
    /// Relative standard deviation assumed for the labour standard.
    pub standard_cv: f64,
    /// Bucket length for the variance of the rate.
    pub bucket_min: f64,
    /// Weight of each new bucket in the variance estimate.
    pub bucket_alpha: f64,
    /// A picker counts as active in a zone this long after a pick there
    /// (longer than a break, so a lunch does not look like a smaller crew).
    pub active_window_min: f64,
    /// Share of an active picker's time spent picking: the rate excludes
    /// breaks, the crew's capacity does not.
    pub availability: f64,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            half_life_min: 20.0,
            long_half_life_min: 240.0,
            reversion_min: 90.0,
            break_gap_s: 300.0,
            break_factor: 5.0,
            prior_lines: 30.0,
            standard_cv: 0.25,
            bucket_min: 5.0,
            bucket_alpha: 0.2,
            active_window_min: 45.0,
            availability: 0.9,
        }
    }
}

/// A zone's rate as the forecast uses it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateEstimate {
    /// Lines per minute per active picker, observed blended with the standard.
    pub per_picker_lpm: f64,
    /// The same over the long half-life: where a forecast reverts to.
    pub long_lpm: f64,
    /// Relative variance of a bucket's rate around the mean (short-term noise).
    pub bucket_rel_var: f64,
    /// Relative variance of the estimate itself (large while data are thin).
    pub estimate_rel_var: f64,
    /// Decayed count of observed lines behind the estimate.
    pub observed_lines: f64,
}

/// Exponentially decayed sums of observed lines and busy minutes, with the
/// labour standard's remaining weight as pseudo-lines.
#[derive(Debug, Clone, Copy)]
struct Sums {
    lines: f64,
    busy_min: f64,
    prior: f64,
}

impl Sums {
    fn decayed(self, f: f64) -> Sums {
        Sums {
            lines: self.lines * f,
            busy_min: self.busy_min * f,
            prior: self.prior * f,
        }
    }

    /// Lines per minute: observations plus `prior` lines at the standard rate.
    fn rate(self, standard_lpm: f64) -> f64 {
        let standard = standard_lpm.max(1e-9);
        (self.lines + self.prior) / (self.busy_min + self.prior / standard).max(1e-12)
    }
}

#[derive(Debug, Clone)]
struct ZoneRate {
    standard_lpm: f64,
    fast: Sums,
    slow: Sums,
    decayed_at: Option<Millis>,
    bucket_start: Option<Millis>,
    bucket_lines: f64,
    bucket_busy_min: f64,
    bucket_mean: f64,
    bucket_var: f64,
    buckets: u32,
    /// Last pick per picker in this zone, for the active count.
    seen: HashMap<String, Millis>,
}

/// Where a picker picked last.
#[derive(Debug, Clone, Copy)]
struct Last {
    zone: usize,
    at: Millis,
    /// False after the zone ran out of work: the next interval includes waiting.
    counts: bool,
}

/// Estimators for all zones of a site, fed pick observations in event time.
#[derive(Debug, Clone)]
pub struct Rates {
    config: RateConfig,
    zones: Vec<ZoneRate>,
    pickers: HashMap<String, Last>,
}

impl Rates {
    /// `standard_lph`: each zone's labour standard, lines per hour per picker.
    pub fn new(config: RateConfig, standard_lph: &[f64]) -> Rates {
        let zones = standard_lph
            .iter()
            .map(|&lph| ZoneRate {
                standard_lpm: lph / 60.0,
                fast: Sums {
                    lines: 0.0,
                    busy_min: 0.0,
                    prior: config.prior_lines,
                },
                slow: Sums {
                    lines: 0.0,
                    busy_min: 0.0,
                    prior: config.prior_lines,
                },
                decayed_at: None,
                bucket_start: None,
                bucket_lines: 0.0,
                bucket_busy_min: 0.0,
                bucket_mean: 0.0,
                bucket_var: 0.0,
                buckets: 0,
                seen: HashMap::new(),
            })
            .collect();
        Rates {
            config,
            zones,
            pickers: HashMap::new(),
        }
    }

    pub fn zone_count(&self) -> usize {
        self.zones.len()
    }

    /// Change a zone's labour standard (a new plan) without losing observations.
    pub fn set_standard(&mut self, zone: usize, lph: f64) {
        if let Some(z) = self.zones.get_mut(zone) {
            z.standard_lpm = lph / 60.0;
        }
    }

    /// Add zones up to `n` (a plan that adds zones), with their standards.
    pub fn ensure_zones(&mut self, standard_lph: &[f64]) {
        for (i, &lph) in standard_lph.iter().enumerate() {
            if i >= self.zones.len() {
                let mut fresh = Rates::new(self.config.clone(), &[lph]);
                self.zones.append(&mut fresh.zones);
            } else {
                self.set_standard(i, lph);
            }
        }
    }

    /// One line picked in `zone` by `picker` at `at`.
    pub fn pick(&mut self, zone: usize, picker: &str, at: Millis) {
        if zone >= self.zones.len() {
            return;
        }
        let prev = self.pickers.insert(
            picker.to_owned(),
            Last {
                zone,
                at,
                counts: true,
            },
        );
        let threshold_ms = self.break_threshold_ms(zone);
        let z = &mut self.zones[zone];
        z.seen.insert(picker.to_owned(), at);
        let Some(prev) = prev else { return };
        let dt = at - prev.at;
        if prev.zone != zone || !prev.counts || dt <= 0 || dt as f64 >= threshold_ms {
            return;
        }
        let dt_min = dt as f64 / MIN;
        z.decay_to(at, &self.config);
        for sums in [&mut z.fast, &mut z.slow] {
            sums.lines += 1.0;
            sums.busy_min += dt_min;
        }
        z.bucket(at, dt_min, &self.config);
    }

    /// A zone ran out of released work: intervals now include waiting for
    /// work, so the next pick of each of its pickers starts afresh.
    pub fn zone_idle(&mut self, zone: usize) {
        for last in self.pickers.values_mut() {
            if last.zone == zone {
                last.counts = false;
            }
        }
    }

    /// Pickers with a pick in `zone` within the active window before `now`,
    /// and not before `since` (the start of the shift).
    pub fn active_pickers(&self, zone: usize, now: Millis, since: Millis) -> u32 {
        let from = since.max(now - (self.config.active_window_min * MIN) as Millis);
        self.zones.get(zone).map_or(0, |z| {
            z.seen.values().filter(|&&t| t <= now && t >= from).count() as u32
        })
    }

    /// The zone's rate per picker as of `now`.
    pub fn estimate(&self, zone: usize, now: Millis) -> RateEstimate {
        let c = &self.config;
        let Some(z) = self.zones.get(zone) else {
            return RateEstimate {
                per_picker_lpm: 0.0,
                long_lpm: 0.0,
                bucket_rel_var: 0.0,
                estimate_rel_var: c.standard_cv * c.standard_cv,
                observed_lines: 0.0,
            };
        };
        let fast = z.fast.decayed(z.decay_factor(now, c.half_life_min));
        let slow = z.slow.decayed(z.decay_factor(now, c.long_half_life_min));
        let (n, prior) = (fast.lines, fast.prior);
        let w_prior = if n + prior > 0.0 {
            prior / (n + prior)
        } else {
            1.0
        };
        let bucket_rel_var = if z.buckets >= 2 && z.bucket_mean > 0.0 {
            z.bucket_var / (z.bucket_mean * z.bucket_mean)
        } else {
            c.standard_cv * c.standard_cv
        };
        RateEstimate {
            per_picker_lpm: fast.rate(z.standard_lpm),
            long_lpm: slow.rate(z.standard_lpm),
            bucket_rel_var,
            estimate_rel_var: c.standard_cv * c.standard_cv * w_prior,
            observed_lines: n,
        }
    }

    fn break_threshold_ms(&self, zone: usize) -> f64 {
        let c = &self.config;
        let lpm = self
            .zones
            .get(zone)
            .map_or(1.0, |z| z.fast.rate(z.standard_lpm))
            .max(1e-6);
        (c.break_gap_s * 1000.0).max(c.break_factor * MIN / lpm)
    }
}

impl ZoneRate {
    fn decay_factor(&self, now: Millis, half_life_min: f64) -> f64 {
        match self.decayed_at {
            Some(t) if now > t => 0.5f64.powf((now - t) as f64 / MIN / half_life_min),
            _ => 1.0,
        }
    }

    fn decay_to(&mut self, at: Millis, c: &RateConfig) {
        self.fast = self.fast.decayed(self.decay_factor(at, c.half_life_min));
        self.slow = self
            .slow
            .decayed(self.decay_factor(at, c.long_half_life_min));
        match self.decayed_at {
            Some(t) if t >= at => {}
            _ => self.decayed_at = Some(at),
        }
    }

    fn bucket(&mut self, at: Millis, dt_min: f64, c: &RateConfig) {
        let len = (c.bucket_min * MIN) as Millis;
        let start = *self.bucket_start.get_or_insert(at);
        if at - start >= len {
            // Close the bucket if it saw enough work to say something.
            if self.bucket_busy_min >= c.bucket_min * 0.5 {
                let x = self.bucket_lines / self.bucket_busy_min;
                if self.buckets == 0 {
                    self.bucket_mean = x;
                } else {
                    let d = x - self.bucket_mean;
                    self.bucket_mean += c.bucket_alpha * d;
                    self.bucket_var =
                        (1.0 - c.bucket_alpha) * (self.bucket_var + c.bucket_alpha * d * d);
                }
                self.buckets += 1;
            }
            self.bucket_start = Some(at);
            self.bucket_lines = 0.0;
            self.bucket_busy_min = 0.0;
        }
        self.bucket_lines += 1.0;
        self.bucket_busy_min += dt_min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const H: Millis = 3_600_000;

    /// `pickers` pickers each picking at `lph` lines/h with exponential
    /// intervals, from `start` for `hours`; returns the end time.
    fn stream(
        rates: &mut Rates,
        rng: &mut ChaCha8Rng,
        zone: usize,
        pickers: usize,
        lph: f64,
        start: Millis,
        hours: f64,
    ) -> Millis {
        let end = start + (hours * H as f64) as Millis;
        let mut next: Vec<Millis> = vec![start; pickers];
        loop {
            let (p, &t) = next
                .iter()
                .enumerate()
                .min_by_key(|(_, &t)| t)
                .expect("pickers");
            if t >= end {
                return end;
            }
            rates.pick(zone, &format!("p{p}"), t);
            let u: f64 = rng.gen_range(1e-9..1.0);
            next[p] = t + (-u.ln() * H as f64 / lph) as Millis;
        }
    }

    #[test]
    fn the_estimate_converges_to_a_known_rate() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut rates = Rates::new(RateConfig::default(), &[60.0, 90.0]);
        let end = stream(&mut rates, &mut rng, 0, 6, 120.0, 0, 2.0);
        let est = rates.estimate(0, end);
        let lph = est.per_picker_lpm * 60.0;
        assert!(
            (lph - 120.0).abs() < 12.0,
            "estimated {lph} lines/h, true 120"
        );
        assert!(est.observed_lines > 100.0);
        assert_eq!(rates.active_pickers(0, end, 0), 6);
        assert_eq!(
            rates.active_pickers(0, end, end + 1),
            0,
            "none yet in a new shift"
        );
        // The other zone saw nothing: its standard stands.
        assert!((rates.estimate(1, end).per_picker_lpm * 60.0 - 90.0).abs() < 1e-9);
    }

    #[test]
    fn a_small_slow_zone_converges_too() {
        // Two pickers at half the standard: few lines an hour, so each
        // estimate is noisy, but the standard must not hold them up once
        // the zone has been watched for a few half-lives.
        let days = 50;
        let mut sum = 0.0;
        for seed in 0..days {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut rates = Rates::new(RateConfig::default(), &[60.0]);
            let end = stream(&mut rates, &mut rng, 0, 2, 30.0, 0, 1.5);
            sum += rates.estimate(0, end).per_picker_lpm * 60.0;
        }
        let mean = sum / days as f64;
        assert!(
            (mean - 30.0).abs() < 3.0,
            "mean estimate {mean} lines/h, true 30"
        );
    }

    #[test]
    fn with_thin_data_the_standard_dominates() {
        let mut rates = Rates::new(RateConfig::default(), &[60.0]);
        // Three quick picks at 600 lines/h.
        for i in 0..3 {
            rates.pick(0, "p", i * 6_000);
        }
        let lph = rates.estimate(0, 12_000).per_picker_lpm * 60.0;
        assert!(lph < 120.0, "two intervals moved the rate to {lph}");
        assert!(lph > 60.0);
    }

    #[test]
    fn breaks_do_not_lower_the_rate() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut rates = Rates::new(RateConfig::default(), &[90.0]);
        let t = stream(&mut rates, &mut rng, 0, 4, 90.0, 0, 1.5);
        // Everyone takes a 30-minute lunch, then carries on.
        let t = stream(&mut rates, &mut rng, 0, 4, 90.0, t + H / 2, 0.5);
        let lph = rates.estimate(0, t).per_picker_lpm * 60.0;
        assert!(
            (lph - 90.0).abs() < 12.0,
            "estimated {lph} lines/h, true 90"
        );
    }

    #[test]
    fn a_slowdown_shows_within_the_half_life() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut rates = Rates::new(RateConfig::default(), &[100.0]);
        let t = stream(&mut rates, &mut rng, 0, 5, 100.0, 0, 2.0);
        let t = stream(&mut rates, &mut rng, 0, 5, 50.0, t, 0.75);
        let lph = rates.estimate(0, t).per_picker_lpm * 60.0;
        assert!(
            lph < 72.0 && lph > 45.0,
            "45 minutes into a halving (100 to 50) the estimate is {lph}"
        );
    }

    #[test]
    fn waiting_for_work_is_not_slow_picking() {
        // Two zones see the same picks; only zone 0 is told it ran out of work.
        let mut rates = Rates::new(RateConfig::default(), &[60.0, 60.0]);
        let mut t = 0;
        let feed = |rates: &mut Rates, n: usize, t: &mut Millis| {
            for _ in 0..n {
                rates.pick(0, "a", *t);
                rates.pick(1, "b", *t);
                *t += 30_000; // 120 lines/h
            }
        };
        feed(&mut rates, 60, &mut t);
        let before = rates.estimate(0, t).per_picker_lpm;
        rates.zone_idle(0);
        // Four minutes without work (under the break threshold), then on.
        t += 4 * 60_000;
        feed(&mut rates, 5, &mut t);
        let told = rates.estimate(0, t).per_picker_lpm;
        let untold = rates.estimate(1, t).per_picker_lpm;
        assert!(told >= before * 0.97, "{told} vs {before} before the gap");
        assert!(
            untold < told * 0.95,
            "the untold zone counts the wait: {untold} vs {told}"
        );
    }
}
