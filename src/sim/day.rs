//! Simulated DC days: a seeded generator of realistic days and a player that
//! runs one in simulated time, picking line by line, through the real
//! [`Planner`] (or the static baseline), and records what really happened.
//!
//! The ground truth comes from the simulated picking, staging and loading,
//! never from the planner's forecast: a departure is late when its last
//! order is picked, staged and loaded (after its vehicle and door are there)
//! after its cutoff.
//!
//! Both policies see the same day: each line's work content, each picker's
//! speed, breaks and absences, each vehicle's arrival are drawn when the day
//! is generated, so differences in outcome come from the decisions alone.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::plan::{
    Departure, LoadModel, Order, OrderLine, Shift, SitePlan, Stop, Wave, Zone,
};
use crate::domain::{Decision, EventBody, Millis, PlanSignal, ScanAction};
use crate::plan::{Planner, PlannerConfig, PlannerInput};

const MIN: Millis = 60_000;
const HOUR: Millis = 60 * MIN;

/// Ranges a day is drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct DayConfig {
    pub doors: (u32, u32),
    pub departures: (u32, u32),
    pub lines: (u32, u32),
    pub zones: (u32, u32),
    /// True mean pick rate per picker, lines per hour, per zone.
    pub rate_lph: (f64, f64),
    /// Planned utilisation of pickers (work / capacity) per shift.
    pub utilisation: (f64, f64),
    /// Incidents (slowdowns, absences, door outages, late vehicles) per day.
    pub incidents: (u32, u32),
}

impl DayConfig {
    /// The ranges of issue 6: 20–60 doors, 50–300 departures, 5,000–50,000 lines,
    /// 40–150 lines an hour per picker.
    pub fn realistic() -> DayConfig {
        DayConfig {
            doors: (20, 60),
            departures: (50, 300),
            lines: (5_000, 50_000),
            zones: (3, 6),
            rate_lph: (40.0, 150.0),
            utilisation: (0.75, 0.95),
            incidents: (0, 5),
        }
    }

    /// A small day for tests.
    pub fn small() -> DayConfig {
        DayConfig {
            doors: (6, 10),
            departures: (12, 20),
            lines: (1_200, 2_000),
            zones: (2, 3),
            rate_lph: (60.0, 120.0),
            utilisation: (0.6, 0.7),
            incidents: (0, 0),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimZone {
    pub id: String,
    /// The labour standard the plan carries.
    pub standard_lph: f64,
    /// The zone's real mean rate per picker.
    pub true_lph: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimPicker {
    pub id: String,
    pub zone: usize,
    pub lph: f64,
    pub shift: (Millis, Millis),
    /// (start, length), in time order.
    pub breaks: Vec<(Millis, Millis)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimOrder {
    pub order: Order,
    pub arrival: Millis,
    /// Work content of each line, in units of one mean pick.
    pub work: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimWave {
    pub id: String,
    /// When it enters the plan (its orders are in).
    pub built_at: Millis,
    pub planned_release: Millis,
    pub orders: Vec<usize>,
}

/// What happens to a departure outside picking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepartureTruth {
    pub vehicle_arrival: Millis,
    pub staging_factor: f64,
    pub load_factor: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Incident {
    /// Picks in `zone` take `1 / factor` times as long.
    Slowdown {
        zone: usize,
        from: Millis,
        until: Millis,
        factor: f64,
    },
    /// A picker is away (finishes the line in hand first).
    Absence {
        picker: usize,
        from: Millis,
        until: Millis,
    },
    DoorOutage {
        door: String,
        from: Millis,
        until: Millis,
    },
    /// The vehicle comes `delay` after it was due; the site hears at `known_at`.
    LateVehicle {
        departure: usize,
        delay: Millis,
        known_at: Millis,
    },
}

/// One generated day.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub seed: u64,
    pub site: String,
    /// Start of the first shift.
    pub start: Millis,
    pub doors: Vec<String>,
    pub zones: Vec<SimZone>,
    pub departures: Vec<Departure>,
    pub truth: Vec<DepartureTruth>,
    pub orders: Vec<SimOrder>,
    pub waves: Vec<SimWave>,
    pub pickers: Vec<SimPicker>,
    /// The labour plan: (shift start, shift end, zone, pickers).
    pub headcounts: Vec<(Millis, Millis, usize, u32)>,
    pub incidents: Vec<Incident>,
}

const ZONES: [&str; 6] = [
    "ambient",
    "chilled",
    "bulky",
    "small-parts",
    "frozen",
    "high-value",
];
const CARRIERS: [&str; 8] = ["DHL", "DPD", "UPS", "GLS", "TNT", "FedEx", "Royal", "Yodel"];

fn midnight() -> Millis {
    crate::domain::time::parse_rfc3339("2026-11-25T00:00:00Z").expect("a valid constant")
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(1e-12..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Mean 1, coefficient of variation `cv`.
fn lognormal(rng: &mut ChaCha8Rng, cv: f64) -> f64 {
    let s2 = (1.0 + cv * cv).ln();
    (normal(rng) * s2.sqrt() - s2 / 2.0).exp()
}

fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let u: f64 = rng.gen_range(1e-12..1.0);
    -u.ln() * mean
}

fn between(rng: &mut ChaCha8Rng, (lo, hi): (Millis, Millis)) -> Millis {
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..=hi)
    }
}

fn round_up(t: Millis, step: Millis) -> Millis {
    (t + step - 1).div_euclid(step) * step
}

impl Day {
    /// Generate the day for `seed`. The same seed gives the same day on every platform.
    pub fn generate(seed: u64, config: &DayConfig) -> Day {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let m0 = midnight();
        let start = m0 + 5 * HOUR;
        let mid_shift = m0 + 13 * HOUR + 30 * MIN;
        let end = m0 + 22 * HOUR;

        let n_doors = rng.gen_range(config.doors.0..=config.doors.1) as usize;
        let doors: Vec<String> = (1..=n_doors).map(|i| format!("D{i:02}")).collect();
        let n_zones = rng.gen_range(config.zones.0..=config.zones.1) as usize;
        let zones: Vec<SimZone> = ZONES[..n_zones.min(ZONES.len())]
            .iter()
            .map(|id| {
                let true_lph = rng.gen_range(config.rate_lph.0..=config.rate_lph.1);
                SimZone {
                    id: (*id).to_owned(),
                    true_lph,
                    standard_lph: (true_lph * rng.gen_range(0.9..1.1)).round(),
                }
            })
            .collect();
        let zone_weights: Vec<f64> = zones.iter().map(|_| rng.gen_range(0.3..1.0)).collect();

        // Routes: a carrier and its stops, run one to four times a day.
        let n_dep = rng.gen_range(config.departures.0..=config.departures.1) as usize;
        let n_carriers = rng.gen_range(3..=CARRIERS.len());
        let mut departures = Vec::with_capacity(n_dep);
        let mut route = 0;
        while departures.len() < n_dep {
            route += 1;
            let carrier = CARRIERS[rng.gen_range(0..n_carriers)];
            let stops: Vec<Stop> = (0..rng.gen_range(1..=8))
                .map(|s| Stop {
                    id: format!("R{route}-S{s}"),
                    name: None,
                })
                .collect();
            let runs = rng.gen_range(1..=3).min(n_dep - departures.len());
            let mut t = between(&mut rng, (m0 + 9 * HOUR, m0 + 16 * HOUR));
            for run in 0..runs {
                if t > end {
                    break;
                }
                let scheduled = round_up(t, 5 * MIN);
                let cutoff = scheduled + 5 * MIN * rng.gen_range(3..=9);
                let load = LoadModel {
                    staging_s: f64::from(rng.gen_range(5..=15) * 60),
                    fixed_s: f64::from(rng.gen_range(10..=20) * 60),
                    per_line_s: f64::from(rng.gen_range(4..=10)) / 2.0,
                };
                departures.push(Departure {
                    id: format!("{carrier}-R{route}-{}", run + 1),
                    carrier: carrier.to_owned(),
                    scheduled_at: scheduled,
                    cutoff,
                    door: None,
                    vehicle_due: Some(scheduled - HOUR),
                    stops: stops.clone(),
                    load,
                });
                t += between(&mut rng, (3 * HOUR, 5 * HOUR));
            }
        }
        departures.sort_by(|a, b| a.scheduled_at.cmp(&b.scheduled_at).then(a.id.cmp(&b.id)));
        for (i, d) in departures.iter_mut().enumerate() {
            d.door = Some(doors[i % doors.len()].clone());
        }
        let truth: Vec<DepartureTruth> = departures
            .iter()
            .map(|d| DepartureTruth {
                vehicle_arrival: d.vehicle_due.unwrap_or(d.scheduled_at)
                    + between(&mut rng, (-15 * MIN, 15 * MIN)),
                staging_factor: rng.gen_range(0.85..1.2),
                load_factor: rng.gen_range(0.85..1.2),
            })
            .collect();

        // Lines: shared out over departures by a skewed weight; orders of
        // 1-12 lines arriving with a peak before each departure's order cutoff.
        let total_lines = rng.gen_range(config.lines.0..=config.lines.1) as usize;
        let weights: Vec<f64> = departures
            .iter()
            .map(|_| lognormal(&mut rng, 0.8))
            .collect();
        let wsum: f64 = weights.iter().sum();
        let mut orders: Vec<SimOrder> = Vec::new();
        let mut waves: Vec<SimWave> = Vec::new();
        for (di, d) in departures.iter().enumerate() {
            let target = ((total_lines as f64) * weights[di] / wsum).round().max(1.0) as usize;
            let order_cutoff = d.scheduled_at - between(&mut rng, (150 * MIN, 210 * MIN));
            let mix: Vec<f64> = zone_weights
                .iter()
                .map(|w| w * rng.gen_range(0.5..1.5))
                .collect();
            let first = orders.len();
            let mut lines = 0;
            let mut n = 0;
            while lines < target {
                let count = (1 + exponential(&mut rng, 2.5) as usize)
                    .min(12)
                    .min(target - lines);
                let stop = d
                    .stops
                    .choose(&mut rng)
                    .expect("routes have stops")
                    .id
                    .clone();
                let order_lines: Vec<OrderLine> = (0..count)
                    .map(|l| {
                        let zone = pick_weighted(&mut rng, &mix);
                        OrderLine {
                            id: format!("{}", l + 1),
                            sku: Some(format!("SKU{:06}", rng.gen_range(0..1_000_000))),
                            zone: zones[zone].id.clone(),
                            qty: rng.gen_range(1..=6),
                        }
                    })
                    .collect();
                let work = (0..count).map(|_| lognormal(&mut rng, 0.6)).collect();
                let ahead = (exponential(&mut rng, 100.0) as Millis).min(14 * 60) * MIN;
                orders.push(SimOrder {
                    order: Order {
                        id: format!("O-{}-{n}", d.id),
                        departure: d.id.clone(),
                        stop,
                        lines: order_lines,
                        locked: false,
                    },
                    arrival: order_cutoff - ahead,
                    work,
                });
                n += 1;
                lines += count;
            }
            // Waves built at the order cutoff and every two hours before it.
            let n_waves = if lines > 400 {
                3
            } else if lines > 120 {
                2
            } else {
                1
            };
            let mut mine: Vec<usize> = (first..orders.len()).collect();
            mine.sort_by_key(|&o| (orders[o].arrival, o));
            for k in (0..n_waves).rev() {
                let built = (order_cutoff - k as Millis * 2 * HOUR).max(start);
                let members: Vec<usize> = mine
                    .iter()
                    .copied()
                    .filter(|&o| orders[o].arrival <= built)
                    .collect();
                if members.is_empty() {
                    continue;
                }
                mine.retain(|o| !members.contains(o));
                // The static schedule: every half hour, whatever has been
                // built, but not more than four hours ahead of the vehicle.
                let planned = round_up(built, 30 * MIN).max(d.scheduled_at - 4 * HOUR);
                waves.push(SimWave {
                    id: format!("W-{}-{}", d.id, n_waves - k),
                    built_at: built,
                    planned_release: planned,
                    orders: members,
                });
            }
        }
        waves.sort_by(|a, b| a.built_at.cmp(&b.built_at).then(a.id.cmp(&b.id)));

        // Staff each shift for the day's deadlines: enough pickers that the
        // work due by any time, started at the shift's start (less what the
        // early shift did), is done by then with breaks allowed for, at the
        // day's planned utilisation. Work due counts an hour before its vehicle leaves.
        let utilisation = rng.gen_range(config.utilisation.0..=config.utilisation.1);
        let shifts = [(start, mid_shift), (mid_shift, end)];
        let mut due_work: Vec<Vec<(Millis, f64)>> = vec![Vec::new(); zones.len()];
        for o in &orders {
            let d = departures
                .iter()
                .find(|d| d.id == o.order.departure)
                .expect("orders name generated departures");
            for l in &o.order.lines {
                let z = zones
                    .iter()
                    .position(|z| z.id == l.zone)
                    .expect("known zone");
                due_work[z].push((d.scheduled_at - HOUR, 1.0 / zones[z].true_lph));
            }
        }
        let working = 0.92; // 45 minutes of breaks in a shift of eight and a half hours
        let hours =
            |a: Millis, b: Millis, min: f64| ((b - a) as f64 / HOUR as f64).max(min) * working;
        let mut needed = vec![[0.0f64; 2]; zones.len()];
        for (z, list) in due_work.iter_mut().enumerate() {
            list.sort_by_key(|w| w.0);
            let mut cum = 0.0;
            let mut early = 0.0f64;
            for &(due, h) in list.iter() {
                cum += h;
                if due <= mid_shift {
                    early = early.max(cum / hours(start, due, 1.0));
                }
            }
            early = early.max(
                cum.min(
                    list.iter()
                        .filter(|w| w.0 <= mid_shift)
                        .map(|w| w.1)
                        .sum::<f64>(),
                ) / hours(start, mid_shift, 1.0),
            );
            let done_early = early * hours(start, mid_shift, 0.0);
            let mut late = 0.0f64;
            let mut cum = 0.0;
            for &(due, h) in list.iter() {
                cum += h;
                if due > mid_shift {
                    late = late.max((cum - done_early).max(0.0) / hours(mid_shift, due, 1.5));
                }
            }
            late = late.max((cum - done_early).max(0.0) / hours(mid_shift, end, 1.0));
            needed[z] = [early, late];
        }
        let mut pickers = Vec::new();
        let mut headcounts = Vec::new();
        for (z, zone) in zones.iter().enumerate() {
            for (s, &(from, to)) in shifts.iter().enumerate() {
                let count = (needed[z][s] / utilisation).ceil().max(1.0) as u32;
                headcounts.push((from, to, z, count));
                for i in 0..count {
                    let speed = (1.0 + 0.12 * normal(&mut rng)).clamp(0.7, 1.3);
                    let b1 = from + 2 * HOUR + between(&mut rng, (-30 * MIN, 30 * MIN));
                    let b2 = from + 4 * HOUR + 30 * MIN + between(&mut rng, (-30 * MIN, 30 * MIN));
                    pickers.push(SimPicker {
                        id: format!("{}-{}{:02}", zone.id, ["e", "l"][s], i + 1),
                        zone: z,
                        lph: zone.true_lph * speed,
                        shift: (from, to),
                        breaks: vec![(b1, 15 * MIN), (b2, 30 * MIN)],
                    });
                }
            }
        }

        let n_incidents = rng.gen_range(config.incidents.0..=config.incidents.1);
        let mut incidents = Vec::new();
        for _ in 0..n_incidents {
            let incident = match rng.gen_range(0..4) {
                0 => {
                    let from = between(&mut rng, (start + HOUR, end - 3 * HOUR));
                    Incident::Slowdown {
                        zone: rng.gen_range(0..zones.len()),
                        from,
                        until: from + between(&mut rng, (HOUR, 3 * HOUR)),
                        factor: rng.gen_range(0.45..0.75),
                    }
                }
                1 => {
                    // Some of a zone's pickers of one shift are away for hours.
                    let z = rng.gen_range(0..zones.len());
                    let s = rng.gen_range(0..2);
                    let (from, to) = shifts[s];
                    let crew: Vec<usize> = (0..pickers.len())
                        .filter(|&p| pickers[p].zone == z && pickers[p].shift.0 == from)
                        .collect();
                    let away = ((crew.len() as f64 * rng.gen_range(0.2..0.45)).ceil() as usize)
                        .min(crew.len().saturating_sub(1))
                        .max(1)
                        .min(crew.len());
                    let at = between(&mut rng, (from, to - 2 * HOUR));
                    let until = (at + between(&mut rng, (2 * HOUR, 6 * HOUR))).min(to);
                    for &p in crew.iter().take(away) {
                        incidents.push(Incident::Absence {
                            picker: p,
                            from: at,
                            until,
                        });
                    }
                    continue;
                }
                2 => {
                    let d = rng.gen_range(0..departures.len());
                    let due = truth[d].vehicle_arrival;
                    let from = due - between(&mut rng, (0, HOUR));
                    Incident::DoorOutage {
                        door: departures[d]
                            .door
                            .clone()
                            .expect("every departure has a door"),
                        from,
                        until: from + between(&mut rng, (45 * MIN, 150 * MIN)),
                    }
                }
                _ => {
                    let d = rng.gen_range(0..departures.len());
                    let due = departures[d]
                        .vehicle_due
                        .unwrap_or(departures[d].scheduled_at);
                    Incident::LateVehicle {
                        departure: d,
                        delay: between(&mut rng, (20 * MIN, 120 * MIN)),
                        known_at: (due - between(&mut rng, (15 * MIN, 90 * MIN))).max(start),
                    }
                }
            };
            incidents.push(incident);
        }
        let mut truth = truth;
        for i in &incidents {
            if let Incident::LateVehicle {
                departure, delay, ..
            } = i
            {
                let d = &departures[*departure];
                truth[*departure].vehicle_arrival = d.vehicle_due.unwrap_or(d.scheduled_at) + delay;
            }
        }

        Day {
            seed,
            site: format!("sim-{seed}"),
            start,
            doors,
            zones,
            departures,
            truth,
            orders,
            waves,
            pickers,
            headcounts,
            incidents,
        }
    }

    /// Order lines in the day.
    pub fn line_count(&self) -> usize {
        self.orders.iter().map(|o| o.order.lines.len()).sum()
    }

    /// The plan with every wave of the day in it (as if all were built).
    pub fn full_plan(&self) -> SitePlan {
        let mut plan = self.empty_plan(1);
        for w in &self.waves {
            plan.waves.push(self.plan_wave(w));
        }
        plan
    }

    fn empty_plan(&self, version: u64) -> SitePlan {
        SitePlan {
            site: self.site.clone(),
            version,
            generated_at: self.start,
            zones: self
                .zones
                .iter()
                .enumerate()
                .map(|(z, zone)| Zone {
                    id: zone.id.clone(),
                    standard_lines_per_hour: zone.standard_lph,
                    headcount: self.headcounts.iter().find(|h| h.2 == z).map_or(1, |h| h.3),
                    shifts: self
                        .headcounts
                        .iter()
                        .filter(|h| h.2 == z)
                        .map(|&(start, end, _, headcount)| Shift {
                            start,
                            end,
                            headcount,
                        })
                        .collect(),
                })
                .collect(),
            departures: self.departures.clone(),
            waves: Vec::new(),
        }
    }

    fn plan_wave(&self, w: &SimWave) -> Wave {
        Wave {
            id: w.id.clone(),
            planned_release: w.planned_release,
            orders: w
                .orders
                .iter()
                .map(|&o| self.orders[o].order.clone())
                .collect(),
        }
    }

    /// Signals the site receives during the day, in time order.
    pub fn signals(&self) -> Vec<PlanSignal> {
        let mut out: Vec<PlanSignal> = Vec::new();
        for i in &self.incidents {
            match i {
                Incident::DoorOutage { door, from, until } => out.push(PlanSignal::DoorOutage {
                    door: door.clone(),
                    until: *until,
                    at: *from,
                }),
                Incident::LateVehicle {
                    departure,
                    known_at,
                    ..
                } => out.push(PlanSignal::VehicleEta {
                    departure: self.departures[*departure].id.clone(),
                    eta: self.truth[*departure].vehicle_arrival,
                    at: *known_at,
                }),
                _ => {}
            }
        }
        out.sort_by_key(PlanSignal::at);
        out
    }

    fn slowdown(&self, zone: usize, at: Millis) -> f64 {
        self.incidents
            .iter()
            .filter_map(|i| match i {
                Incident::Slowdown {
                    zone: z,
                    from,
                    until,
                    factor,
                } if *z == zone && (*from..*until).contains(&at) => Some(1.0 / factor),
                _ => None,
            })
            .product()
    }

    fn absent_until(&self, picker: usize, at: Millis) -> Option<Millis> {
        self.incidents.iter().find_map(|i| match i {
            Incident::Absence {
                picker: p,
                from,
                until,
            } if *p == picker && (*from..*until).contains(&at) => Some(*until),
            _ => None,
        })
    }

    fn door_free(&self, door: Option<&str>, at: Millis) -> Millis {
        let Some(door) = door else { return at };
        self.incidents
            .iter()
            .filter_map(|i| match i {
                Incident::DoorOutage {
                    door: d,
                    from,
                    until,
                } if d == door && (*from..*until).contains(&at) => Some(*until),
                _ => None,
            })
            .max()
            .unwrap_or(at)
    }
}

fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.gen_range(0.0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// Who releases waves.
#[derive(Debug, Clone)]
pub enum Policy {
    /// Waves at their planned times, no triage, no planner.
    Static,
    /// The static release, with the planner watching and advising (its
    /// decisions are recorded, none is acted on).
    Advisory(PlannerConfig),
    /// The planner releases waves; the site accepts its deferral proposals.
    Planner(PlannerConfig),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlayOptions {
    /// Time between decision rounds.
    pub round_ms: Millis,
    /// Central sends a new plan version (with the waves built since) this often.
    pub plan_every_ms: Millis,
    /// Keep every planner input in the outcome (for replay).
    pub record_inputs: bool,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            round_ms: 2 * MIN,
            plan_every_ms: 10 * MIN,
            record_inputs: false,
        }
    }
}

/// What really happened to a departure.
#[derive(Debug, Clone, PartialEq)]
pub struct DepartureOutcome {
    pub id: String,
    pub scheduled_at: Millis,
    pub cutoff: Millis,
    /// Orders it carried in the end.
    pub orders: usize,
    pub lines: u64,
    /// Its last pick (None: never finished).
    pub pick_done: Option<Millis>,
    pub ready: Millis,
    pub left_at: Millis,
    pub late: bool,
    /// First time the planner raised it at risk.
    pub first_raised: Option<Millis>,
}

impl DepartureOutcome {
    /// Raised at least `lead` before its cutoff.
    pub fn flagged(&self, lead: Millis) -> bool {
        self.first_raised.is_some_and(|t| t <= self.cutoff - lead)
    }
}

/// One decision round's cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundStat {
    pub at: Millis,
    pub open_lines: u64,
    pub micros: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DayOutcome {
    pub departures: Vec<DepartureOutcome>,
    pub decisions: Vec<Decision>,
    pub rounds: Vec<RoundStat>,
    pub orders_deferred: usize,
    pub lines_picked: u64,
    /// The planner's inputs in order, when recorded.
    pub inputs: Vec<PlannerInput>,
}

impl DayOutcome {
    /// Departures that carried orders.
    pub fn served(&self) -> impl Iterator<Item = &DepartureOutcome> {
        self.departures.iter().filter(|d| d.orders > 0)
    }

    pub fn late(&self) -> usize {
        self.served().filter(|d| d.late).count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Signal(usize),
    Build(usize),
    StaticRelease(usize),
    PickDone(usize, usize, usize),
    PickerCheck(usize),
    Round,
}

#[derive(Debug, Clone, Copy, Default)]
struct PickerState {
    busy: bool,
    idle: bool,
    breaks_taken: usize,
}

struct World<'d> {
    day: &'d Day,
    plan: SitePlan,
    dirty: bool,
    order_ix: HashMap<String, usize>,
    /// The departure each order is on now.
    departure_of: Vec<usize>,
    picked: Vec<Vec<Option<Millis>>>,
    open_lines: u64,
    built: usize,
    released: HashSet<String>,
    queues: Vec<VecDeque<(usize, usize)>>,
    pickers: Vec<PickerState>,
    heap: BinaryHeap<Reverse<(Millis, u64, Ev)>>,
    seq: u64,
    planner: Option<Planner>,
    decisions: Vec<Decision>,
    rounds: Vec<RoundStat>,
    deferred: usize,
    lines_picked: u64,
    inputs: Option<Vec<PlannerInput>>,
    /// Under a live driver: what happened, for it to publish.
    happened: Option<Vec<Happening>>,
    signals: Vec<PlanSignal>,
    acts: bool,
    next_plan: Millis,
    options: PlayOptions,
}

/// What the world did, for a live driver ([`LiveDay`]) to make known over
/// the site's real links.
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    /// A picker confirmed a line.
    Picked {
        picker: String,
        order: String,
        line: String,
        sku: String,
        qty: u32,
        at: Millis,
    },
    /// A wave was built: the plan changed.
    WaveBuilt { wave: String, at: Millis },
    /// A signal reached the site (a door outage starts, a vehicle's new ETA).
    Signal(PlanSignal),
}

impl World<'_> {
    /// Give the planner an input (recording it if asked).
    fn feed(&mut self, input: PlannerInput) -> Vec<Decision> {
        let Some(planner) = self.planner.as_mut() else {
            return Vec::new();
        };
        let decisions = match planner.apply(&input) {
            Ok(d) => d,
            Err(e) => panic!("the simulated plan is invalid: {e}"),
        };
        if let Some(log) = self.inputs.as_mut() {
            log.push(input);
        }
        decisions
    }

    fn push(&mut self, at: Millis, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn release(&mut self, wave_id: &str, at: Millis) {
        if !self.released.insert(wave_id.to_owned()) {
            return;
        }
        let Some(w) = self.plan.waves.iter().find(|w| w.id == wave_id) else {
            return;
        };
        let zone_ix = |z: &str| self.day.zones.iter().position(|zz| zz.id == z);
        let mut woke = HashSet::new();
        for o in &w.orders {
            let oi = self.order_ix[&o.id];
            for (li, l) in o.lines.iter().enumerate() {
                if self.picked[oi][li].is_none() {
                    let z = zone_ix(&l.zone).expect("generated zones");
                    self.queues[z].push_back((oi, li));
                    woke.insert(z);
                }
            }
        }
        for p in 0..self.pickers.len() {
            if self.pickers[p].idle && woke.contains(&self.day.pickers[p].zone) {
                self.pickers[p].idle = false;
                self.push(at, Ev::PickerCheck(p));
            }
        }
    }

    fn picker_check(&mut self, p: usize, t: Millis) {
        let sp = &self.day.pickers[p];
        let st = self.pickers[p];
        if st.busy {
            return;
        }
        if t < sp.shift.0 {
            self.push(sp.shift.0, Ev::PickerCheck(p));
            return;
        }
        if t >= sp.shift.1 {
            return;
        }
        if let Some(until) = self.day.absent_until(p, t) {
            self.push(until, Ev::PickerCheck(p));
            return;
        }
        if let Some(&(b, len)) = sp.breaks.get(st.breaks_taken) {
            if b <= t {
                self.pickers[p].breaks_taken += 1;
                self.push(t + len, Ev::PickerCheck(p));
                return;
            }
        }
        let Some((oi, li)) = self.queues[sp.zone].pop_front() else {
            self.pickers[p].idle = true;
            return;
        };
        let secs = self.day.orders[oi].work[li] * 3600.0 / sp.lph * self.day.slowdown(sp.zone, t);
        self.pickers[p].busy = true;
        self.push(t + (secs * 1000.0) as Millis, Ev::PickDone(p, oi, li));
    }

    fn pick_done(&mut self, p: usize, oi: usize, li: usize, t: Millis) {
        self.pickers[p].busy = false;
        self.picked[oi][li] = Some(t);
        self.open_lines -= 1;
        self.lines_picked += 1;
        if let Some(out) = self.happened.as_mut() {
            let o = &self.day.orders[oi].order;
            let l = &o.lines[li];
            out.push(Happening::Picked {
                picker: self.day.pickers[p].id.clone(),
                order: o.id.clone(),
                line: l.id.clone(),
                sku: l.sku.clone().unwrap_or_default(),
                qty: l.qty,
                at: t,
            });
        }
        if self.planner.is_some() {
            let o = &self.day.orders[oi].order;
            let l = &o.lines[li];
            let event = EventBody::Scan {
                scanner: self.day.pickers[p].id.clone(),
                code: l.sku.clone().unwrap_or_default(),
                action: ScanAction::Pick,
                order: Some(o.id.clone()),
                wave: None,
                line: Some(l.id.clone()),
                qty: Some(i64::from(l.qty)),
                at: t,
            };
            self.feed(PlannerInput::Event { at: t, event });
        }
        self.picker_check(p, t);
    }

    fn round(&mut self, t: Millis, acts: bool, plan_due: bool) {
        if self.planner.is_none() {
            return;
        }
        if self.dirty && plan_due {
            self.plan.version += 1;
            self.plan.generated_at = t;
            let plan = self.plan.clone();
            self.feed(PlannerInput::Plan { at: t, plan });
            self.dirty = false;
        }
        let open = self
            .planner
            .as_ref()
            .and_then(Planner::model)
            .map_or(0, |m| m.open_lines());
        let started = std::time::Instant::now();
        let decisions = self.feed(PlannerInput::Decide { at: t });
        self.rounds.push(RoundStat {
            at: t,
            open_lines: open,
            micros: started.elapsed().as_micros() as u64,
        });
        if acts {
            for d in &decisions {
                match d {
                    Decision::WaveRelease { wave, .. } => self.release(wave, t),
                    Decision::OrderDeferralProposed {
                        order,
                        to_departure,
                        ..
                    } => {
                        self.defer(order, to_departure, t);
                    }
                    _ => {}
                }
            }
        }
        self.decisions.extend(decisions);
    }

    /// The site accepts a deferral: the order moves unless its wave is out.
    fn defer(&mut self, order: &str, to_departure: &str, t: Millis) -> bool {
        let released = &self.released;
        let Some(&oi) = self.order_ix.get(order) else {
            return false;
        };
        let Some(to) = self
            .day
            .departures
            .iter()
            .position(|d| d.id == to_departure)
        else {
            return false;
        };
        if !self
            .plan
            .move_order(order, to_departure, |w| released.contains(w))
        {
            return false;
        }
        self.departure_of[oi] = to;
        self.deferred += 1;
        // The WMS confirms; central's next plan has it too.
        let signal = PlanSignal::OrderMoved {
            order: order.to_owned(),
            departure: to_departure.to_owned(),
            at: t,
        };
        self.feed(PlannerInput::Signal { at: t, signal });
        self.dirty = true;
        true
    }

    /// Handle one event of the day at its time `t`.
    fn handle(&mut self, t: Millis, ev: Ev) {
        match ev {
            Ev::Signal(i) => {
                let signal = self.signals[i].clone();
                if let Some(out) = self.happened.as_mut() {
                    out.push(Happening::Signal(signal.clone()));
                }
                self.feed(PlannerInput::Signal { at: t, signal });
            }
            Ev::Build(i) => {
                let day = self.day;
                self.built += 1;
                let wave = day.plan_wave(&day.waves[i]);
                if let Some(out) = self.happened.as_mut() {
                    out.push(Happening::WaveBuilt {
                        wave: wave.id.clone(),
                        at: t,
                    });
                }
                self.plan.waves.push(wave);
                self.dirty = true;
                if !self.acts && self.happened.is_none() {
                    self.push(day.waves[i].planned_release.max(t), Ev::StaticRelease(i));
                }
            }
            Ev::StaticRelease(i) => {
                let id = self.day.waves[i].id.clone();
                self.release(&id, t);
                let event = EventBody::WaveReleased { wave: id, at: t };
                self.feed(PlannerInput::Event { at: t, event });
            }
            Ev::PickDone(p, oi, li) => self.pick_done(p, oi, li, t),
            Ev::PickerCheck(p) => self.picker_check(p, t),
            Ev::Round => {
                let plan_due = t >= self.next_plan;
                if plan_due {
                    self.next_plan = t + self.options.plan_every_ms;
                }
                self.round(t, self.acts, plan_due);
                if !self.finished() {
                    self.push(t + self.options.round_ms, Ev::Round);
                }
            }
        }
    }

    fn finished(&self) -> bool {
        self.built == self.day.waves.len()
            && self.open_lines == 0
            && self
                .plan
                .waves
                .iter()
                .all(|w| self.released.contains(&w.id))
    }
}

/// Play `day` under `policy` in simulated time.
pub fn play(day: &Day, policy: &Policy, options: &PlayOptions) -> DayOutcome {
    let (planner, acts) = match policy {
        Policy::Static => (None, false),
        Policy::Advisory(c) => {
            let mut c = c.clone();
            c.controls_release = false;
            (Some(Planner::new(c)), false)
        }
        Policy::Planner(c) => {
            let mut c = c.clone();
            c.controls_release = true;
            (Some(Planner::new(c)), true)
        }
    };
    let mut w = World::new(day, planner, acts, options, false);
    while let Some(Reverse((t, _, ev))) = w.heap.pop() {
        if t > w.horizon() {
            break;
        }
        w.handle(t, ev);
        if w.finished() && w.planner.is_none() {
            break;
        }
    }
    outcome(w)
}

/// A day played live: the world's picking, signals and plan changes, with
/// waves released (and deferrals accepted) from outside — by the real agent
/// over MQTT in the demo. The same world as [`play`]'s, so its outcome is
/// comparable with a played day's.
pub struct LiveDay<'d> {
    world: World<'d>,
}

impl<'d> LiveDay<'d> {
    pub fn new(day: &'d Day) -> LiveDay<'d> {
        LiveDay {
            world: World::new(day, None, false, &PlayOptions::default(), true),
        }
    }

    /// The plan as built so far (for central to send the site).
    pub fn plan(&self) -> &SitePlan {
        &self.world.plan
    }

    /// True once, after the plan changed (then false until it changes again).
    pub fn take_plan_change(&mut self) -> bool {
        std::mem::take(&mut self.world.dirty)
    }

    /// When the world next does something on its own.
    pub fn next_at(&self) -> Option<Millis> {
        self.world.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Run the world up to `until`; what happened, in time order.
    pub fn advance(&mut self, until: Millis) -> Vec<Happening> {
        while let Some(&Reverse((t, _, ev))) = self.world.heap.peek() {
            if t > until || t > self.world.horizon() {
                break;
            }
            self.world.heap.pop();
            self.world.handle(t, ev);
        }
        self.world.happened.replace(Vec::new()).unwrap_or_default()
    }

    /// The site releases a wave (false: unknown or already out).
    pub fn release(&mut self, wave: &str, at: Millis) -> bool {
        let known = self.world.plan.waves.iter().any(|w| w.id == wave);
        let fresh = !self.world.released.contains(wave);
        self.world.release(wave, at);
        known && fresh
    }

    /// The site accepts a deferral (false: the order's wave is already out).
    pub fn defer(&mut self, order: &str, to_departure: &str, at: Millis) -> bool {
        self.world.defer(order, to_departure, at)
    }

    /// Every wave built and released, every line picked.
    pub fn finished(&self) -> bool {
        self.world.finished()
    }

    pub fn lines_picked(&self) -> u64 {
        self.world.lines_picked
    }

    /// What really happened to each departure.
    pub fn outcome(self) -> DayOutcome {
        outcome(self.world)
    }
}

impl<'d> World<'d> {
    fn new(
        day: &'d Day,
        planner: Option<Planner>,
        acts: bool,
        options: &PlayOptions,
        live: bool,
    ) -> World<'d> {
        let mut w = World {
            day,
            plan: day.empty_plan(0),
            dirty: true,
            order_ix: day
                .orders
                .iter()
                .enumerate()
                .map(|(i, o)| (o.order.id.clone(), i))
                .collect(),
            departure_of: day
                .orders
                .iter()
                .map(|o| {
                    day.departures
                        .iter()
                        .position(|d| d.id == o.order.departure)
                        .expect("generated orders name generated departures")
                })
                .collect(),
            picked: day
                .orders
                .iter()
                .map(|o| vec![None; o.order.lines.len()])
                .collect(),
            open_lines: day.line_count() as u64,
            built: 0,
            released: HashSet::new(),
            queues: vec![VecDeque::new(); day.zones.len()],
            pickers: vec![PickerState::default(); day.pickers.len()],
            heap: BinaryHeap::new(),
            seq: 0,
            planner,
            decisions: Vec::new(),
            rounds: Vec::new(),
            deferred: 0,
            lines_picked: 0,
            inputs: options.record_inputs.then(Vec::new),
            happened: live.then(Vec::new),
            signals: day.signals(),
            acts,
            next_plan: day.start,
            options: options.clone(),
        };
        for i in 0..w.signals.len() {
            w.push(w.signals[i].at(), Ev::Signal(i));
        }
        for (i, wave) in day.waves.iter().enumerate() {
            w.push(wave.built_at, Ev::Build(i));
        }
        for p in 0..day.pickers.len() {
            w.push(day.pickers[p].shift.0, Ev::PickerCheck(p));
        }
        if w.planner.is_some() {
            w.push(day.start, Ev::Round);
        }
        w
    }

    fn horizon(&self) -> Millis {
        self.day
            .departures
            .iter()
            .map(|d| d.cutoff)
            .max()
            .unwrap_or(self.day.start)
            + 4 * HOUR
    }
}

/// What really happened to each departure of a played (or live) day.
fn outcome(w: World<'_>) -> DayOutcome {
    let day = w.day;
    let horizon = w.horizon();
    let mut first_raised: HashMap<&str, Millis> = HashMap::new();
    for d in &w.decisions {
        if let Decision::DepartureAtRisk {
            departure,
            status: crate::domain::decision::RiskStatus::Raised,
            at,
            ..
        } = d
        {
            first_raised.entry(departure.as_str()).or_insert(*at);
        }
    }
    let departures = day
        .departures
        .iter()
        .enumerate()
        .map(|(di, d)| {
            let mine: Vec<usize> = (0..day.orders.len())
                .filter(|&o| w.departure_of[o] == di)
                .collect();
            let lines: u64 = mine
                .iter()
                .map(|&o| day.orders[o].order.lines.len() as u64)
                .sum();
            let mut pick_done = Some(Millis::MIN);
            for &o in &mine {
                for p in &w.picked[o] {
                    pick_done = match (pick_done, p) {
                        (Some(a), Some(b)) => Some(a.max(*b)),
                        _ => None,
                    };
                }
            }
            let truth = &day.truth[di];
            let load = (d.load.load_ms(lines) as f64 * truth.load_factor) as Millis;
            let staging = (d.load.staging_ms() as f64 * truth.staging_factor) as Millis;
            let ready = match pick_done {
                Some(p) if !mine.is_empty() => {
                    let start = (p + staging).max(truth.vehicle_arrival);
                    day.door_free(d.door.as_deref(), start) + load
                }
                Some(_) => d.scheduled_at,
                None => horizon.max(d.cutoff + 1),
            };
            let left_at = ready.max(d.scheduled_at);
            DepartureOutcome {
                id: d.id.clone(),
                scheduled_at: d.scheduled_at,
                cutoff: d.cutoff,
                orders: mine.len(),
                lines,
                pick_done: pick_done.filter(|_| !mine.is_empty()),
                ready,
                left_at,
                late: !mine.is_empty() && left_at > d.cutoff,
                first_raised: first_raised.get(d.id.as_str()).copied(),
            }
        })
        .collect();
    DayOutcome {
        departures,
        decisions: w.decisions,
        rounds: w.rounds,
        orders_deferred: w.deferred,
        lines_picked: w.lines_picked,
        inputs: w.inputs.unwrap_or_default(),
    }
}
