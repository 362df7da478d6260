//! Wave planner figures (issue 6) over generated days.
//!
//! `cargo bench --bench waves` plays BENCH_DAYS (default 50) generated days,
//! seeds BENCH_SEED (default 1) onwards, each twice:
//! - the static baseline (waves at their planned times, no triage) with the
//!   planner watching in advisory mode: its risk flags against what really
//!   happened give recall and precision of the prediction;
//! - the planner in control (releases waves, its deferrals accepted).
//!
//! Then decision-round latency on one core with about 50,000 open lines: 300
//! rounds a minute apart (the agent's default `round_s`), 10 picks between
//! rounds, so the open lines stay between about 47,000 and 50,003 throughout;
//! the range actually measured is printed. BENCH_DAYS=0 skips the simulated
//! days and prints the latency row alone. Prints a markdown table.

use std::time::Instant;

use dockside::domain::{EventBody, ScanAction};
use dockside::plan::{Planner, PlannerConfig};
use dockside::sim::day::{play, Day, DayConfig, DayOutcome, PlayOptions, Policy};

const LEAD_MS: i64 = 30 * 60_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Tally {
    departures: usize,
    late: usize,
    flagged: usize,
    flagged_late: usize,
    orders_deferred: usize,
    orders_on_late: usize,
}

impl Tally {
    fn add(&mut self, o: &DayOutcome) {
        for d in o.served() {
            self.departures += 1;
            let flagged = d.flagged(LEAD_MS);
            self.late += usize::from(d.late);
            self.flagged += usize::from(flagged);
            self.flagged_late += usize::from(flagged && d.late);
            if d.late {
                self.orders_on_late += d.orders;
            }
        }
        self.orders_deferred += o.orders_deferred;
    }

    fn recall(&self) -> f64 {
        ratio(self.flagged_late, self.late)
    }

    fn precision(&self) -> f64 {
        ratio(self.flagged_late, self.flagged)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Rounds timed, a minute of simulated time apart.
const ROUNDS: usize = 300;
const ROUND_MS: i64 = 60_000;
/// Picks between rounds: one per scanner, so every scanner's interval is a
/// minute (60 lines an hour, within the simulated days' 40–150) and the whole
/// run picks 3,000 of the 50,000 lines.
const PICKS_PER_ROUND: i64 = 10;

/// Decide rounds with about 50,000 open lines: the full plan of a 50,000-line
/// day, some waves released, picks fed between rounds. Returns the open lines
/// at the first and the last timed round and the rounds' times (µs, sorted).
fn latency_50k(config: &PlannerConfig) -> ((u64, u64), Vec<u64>) {
    let mut day_config = DayConfig::realistic();
    day_config.lines = (50_000, 50_000);
    day_config.departures = (300, 300);
    let day = Day::generate(424_242, &day_config);
    let plan = day.full_plan();
    let mut planner = Planner::new(config.clone());
    let mut now = day.start;
    planner
        .set_plan(plan.clone(), now)
        .expect("generated plans are valid");
    let open_at_start = planner.model().map_or(0, |m| m.open_lines());
    // Warm up: let the planner release its first waves.
    planner.decide(now);
    let lines: Vec<(String, String, String)> = plan
        .waves
        .iter()
        .flat_map(|w| &w.orders)
        .flat_map(|o| {
            o.lines
                .iter()
                .map(move |l| (o.id.clone(), l.id.clone(), l.zone.clone()))
        })
        .collect();
    let mut times = Vec::new();
    let (mut open_max, mut open_min) = (0, u64::MAX);
    let mut next = 0;
    for round in 0..ROUNDS {
        // A minute of picking: one line from each of 10 scanners.
        for k in 0..PICKS_PER_ROUND {
            let (order, line, zone) = &lines[next % lines.len()];
            next += 1;
            planner.observe(
                &EventBody::Scan {
                    scanner: format!("{zone}-{k}"),
                    code: String::new(),
                    action: ScanAction::Pick,
                    order: Some(order.clone()),
                    wave: None,
                    line: Some(line.clone()),
                    qty: Some(1),
                    at: now + k * (ROUND_MS / PICKS_PER_ROUND),
                },
                now,
            );
        }
        now += ROUND_MS;
        let open = planner.model().map_or(0, |m| m.open_lines());
        open_max = open_max.max(open);
        open_min = open_min.min(open);
        let t = Instant::now();
        let decisions = planner.decide(now);
        times.push(t.elapsed().as_micros() as u64);
        std::hint::black_box(decisions);
        if round == 0 {
            assert!(open_at_start >= 49_000);
        }
    }
    times.sort_unstable();
    ((open_max, open_min), times)
}

fn latency_row(open: (u64, u64), times: &[u64]) -> String {
    format!(
        "| decision round with {} to {} open lines (p50 / p99 / max, {} rounds a minute apart, {} picks between) | {:.2} / {:.2} / {:.2} ms | ≤ 50 ms |",
        open.0,
        open.1,
        times.len(),
        PICKS_PER_ROUND,
        percentile(times, 0.5) as f64 / 1000.0,
        percentile(times, 0.99) as f64 / 1000.0,
        times.last().copied().unwrap_or(0) as f64 / 1000.0
    )
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let days = env_or("BENCH_DAYS", 50);
    let seed0 = env_or("BENCH_SEED", 1);
    let config = PlannerConfig::default();
    let options = PlayOptions::default();
    let day_config = DayConfig::realistic();

    let mut advisory = Tally::default();
    let mut planned = Tally::default();
    let mut round_times: Vec<u64> = Vec::new();
    let mut lines = 0usize;
    let mut departures = 0usize;
    let started = Instant::now();
    for seed in seed0..seed0 + days {
        let day = Day::generate(seed, &day_config);
        lines += day.line_count();
        departures += day.departures.len();
        let base = play(&day, &Policy::Advisory(config.clone()), &options);
        let ctrl = play(&day, &Policy::Planner(config.clone()), &options);
        advisory.add(&base);
        planned.add(&ctrl);
        round_times.extend(ctrl.rounds.iter().map(|r| r.micros));
        eprintln!(
            "day {seed}: {} departures, {} lines, {} incidents; late: static {} / planner {}; flagged {} of {} (advisory), deferred {}",
            day.departures.len(),
            day.line_count(),
            day.incidents.len(),
            base.late(),
            ctrl.late(),
            base.served().filter(|d| d.flagged(LEAD_MS) && d.late).count(),
            base.late(),
            ctrl.orders_deferred,
        );
    }
    round_times.sort_unstable();
    let (open, times) = latency_50k(&config);
    if days == 0 {
        println!("| figure | value | target |");
        println!("| --- | --- | --- |");
        println!("{}", latency_row(open, &times));
        return;
    }

    println!(
        "\n## Wave planner over {days} generated days (seeds {seed0}..{})\n",
        seed0 + days - 1
    );
    println!(
        "{} departures, {} order lines in all; simulated in {:.0} s.\n",
        departures,
        lines,
        started.elapsed().as_secs_f64()
    );
    println!("| figure | value | target |");
    println!("| --- | --- | --- |");
    println!(
        "| recall: misses flagged ≥ 30 min before cutoff (advisory, on the static run) | {:.1}% ({} of {}) | ≥ 90% |",
        100.0 * advisory.recall(),
        advisory.flagged_late,
        advisory.late
    );
    println!(
        "| precision of those flags (advisory) | {:.1}% ({} of {}) | ≥ 50% |",
        100.0 * advisory.precision(),
        advisory.flagged_late,
        advisory.flagged
    );
    println!(
        "| recall with the planner in control | {:.1}% ({} of {}) | |",
        100.0 * planned.recall(),
        planned.flagged_late,
        planned.late
    );
    println!(
        "| precision with the planner in control (flags acted on) | {:.1}% ({} of {}) | |",
        100.0 * planned.precision(),
        planned.flagged_late,
        planned.flagged
    );
    println!(
        "| late departures: static baseline | {} of {} | |",
        advisory.late, advisory.departures
    );
    println!(
        "| late departures: planner | {} of {} | |",
        planned.late, planned.departures
    );
    println!(
        "| fewer late departures than the baseline | {:.1}% | ≥ 30% |",
        100.0 * (1.0 - ratio(planned.late, advisory.late))
    );
    println!(
        "| orders on late departures: static / planner | {} / {} | |",
        advisory.orders_on_late, planned.orders_on_late
    );
    println!(
        "| orders deferred to a later departure (planner) | {} | |",
        planned.orders_deferred
    );
    println!(
        "| decision round, simulated days (p50 / p99 / max) | {:.2} / {:.2} / {:.2} ms | |",
        percentile(&round_times, 0.5) as f64 / 1000.0,
        percentile(&round_times, 0.99) as f64 / 1000.0,
        round_times.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!("{}", latency_row(open, &times));
}
