//! Dock-door sequencing figures (one core):
//! - replan time on generated sites: 60 doors with 80 vehicles, and a day of 300;
//! - the public benchmark (Tadumadze et al. 2020): feasibility and tardiness
//!   per instance (BENCH_RESULTS=FILE writes the per-instance table), by family;
//! - the gap to the exact optimum on instances of 10 vehicles;
//! - stress: doors out of service and cutoffs tightened, against EDD and the
//!   best schedule found offline;
//! - generated DC days (src/sim/day.rs), with waves at their planned times and
//!   with the wave planner in control, replanned as vehicles arrive, against
//!   first come, first served at the doors and a bound no schedule beats:
//!   late departures and dwell, and how busy the doors are;
//! - the same days at busy doors: the same vehicles and staging at fewer
//!   doors (the most at which FCFS's busiest hour is 85% loading, and a
//!   quarter more and a fifth fewer), the same figures.
//!
//! `cargo bench --bench docks`; BENCH_SEED, BENCH_DAYS (10), BENCH_CSV (the
//! benchmark's CSV; default ../shared/benchmarks/tadumadze2020/instances.csv),
//! BENCH_ONLY (sections to run, comma-separated: replan, exact, public,
//! days; default all).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use dockside::domain::Millis;
use dockside::plan::docks::timing::{Cost, Figures, Schedule};
use dockside::plan::docks::{
    construct, exact, search, tadumadze, Budget, DockDoor, DockProblem, DockVehicle, Rounds,
};
use dockside::sim::day::{self, Day, DayConfig, PlayOptions, Policy};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MIN: Millis = 60_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The search as the agent runs it: at most `rounds`, at most `ms`.
fn solve(p: &DockProblem, seed: u64, rounds: u32, ms: u64) -> Schedule {
    let deadline = Instant::now() + Duration::from_millis(ms);
    let mut r = Rounds(rounds);
    let mut budget = || r.exhausted() || Instant::now() >= deadline;
    search::iterate(p, construct::best_rule(p).1, seed, &mut budget)
}

/// A site's doors and vehicles: load time grows with the door's distance
/// from the staging lanes; a sixth of the vehicles are reefers that only
/// the reefer doors (the first quarter) can take.
fn site(seed: u64, doors: usize, vehicles: usize, span: Millis) -> DockProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let factor: Vec<f64> = (0..doors).map(|_| rng.gen_range(0.85..1.3)).collect();
    let reefer_doors = (doors / 4).max(1);
    let vehicles = (0..vehicles)
        .map(|j| {
            let arrival = rng.gen_range(0..span);
            let release = arrival + rng.gen_range(0..90) * MIN;
            let base = rng.gen_range(25..75) as f64 * MIN as f64;
            let reefer = rng.gen_bool(1.0 / 6.0);
            DockVehicle {
                id: format!("V{j}"),
                weight: if rng.gen_bool(0.2) { 3 } else { 1 },
                arrival,
                release,
                due: release + (base * 1.3) as Millis + rng.gen_range(0..120) * MIN,
                load_ms: (0..doors)
                    .map(|k| (!reefer || k < reefer_doors).then_some((base * factor[k]) as Millis))
                    .collect(),
                current_door: None,
                frozen: false,
            }
        })
        .collect();
    DockProblem {
        doors: (0..doors)
            .map(|k| DockDoor {
                id: format!("D{k:02}"),
                open_from: 0,
                open_until: None,
            })
            .collect(),
        vehicles,
        change_penalty_ms: 10 * MIN,
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn replan_times(seed: u64) {
    println!("## Replan time (one core)\n");
    println!("| instance | rules + descent to a local optimum, p50 / p99 / max | perturbation rounds in 100 ms, p50 | late vehicles: EDD / local optimum / after 100 ms |");
    println!("| --- | --- | --- | --- |");
    for (label, doors, vehicles, span) in [
        ("60 doors, 80 vehicles arriving over 3 h", 60, 80, 180 * MIN),
        ("30 doors, 300 vehicles over a day", 30, 300, 20 * 60 * MIN),
    ] {
        let (mut times, mut rounds) = (Vec::new(), Vec::new());
        let (mut late_edd, mut late_lo, mut late_full) = (0, 0, 0);
        for i in 0..20 {
            let p = site(seed * 1000 + i, doors, vehicles, span);
            let t = Instant::now();
            let lo = search::descend(&p, construct::best_rule(&p).1, seed);
            times.push(ms_since(t));
            let mut asked = 0u32;
            let deadline = Instant::now() + Duration::from_millis(100);
            let mut budget = || {
                asked += 1;
                Instant::now() >= deadline
            };
            let full = search::iterate(&p, construct::best_rule(&p).1, seed, &mut budget);
            rounds.push(asked as f64);
            late_edd += Figures::of(&p, &construct::edd(&p)).late;
            late_lo += Figures::of(&p, &lo).late;
            late_full += Figures::of(&p, &full).late;
        }
        times.sort_by(f64::total_cmp);
        rounds.sort_by(f64::total_cmp);
        println!(
            "| {label}, 20 instances | {:.1} / {:.1} / {:.1} ms | {:.0} | {late_edd} / {late_lo} / {late_full} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or(0.0),
            percentile(&rounds, 0.5),
        );
    }
    println!();
}

fn family(name: &str) -> String {
    if name.starts_with("R_") {
        name.split('_').take(2).collect::<Vec<_>>().join("_")
    } else if name.starts_with("ITWS") {
        "ITWS_DC".into()
    } else if let Some((f, _)) = name.split_once('-') {
        format!("{f} (berths)")
    } else {
        "i01–i30 (berths)".into()
    }
}

/// A family's totals: sequencer, EDD, FCFS.
#[derive(Default)]
struct Family {
    instances: usize,
    feasible: [usize; 3],
    tardiness: [f64; 3],
    max_ms: f64,
}

fn public_benchmark(csv: &str) -> Vec<tadumadze::Instance> {
    let text = match std::fs::read_to_string(csv) {
        Ok(t) => t,
        Err(e) => {
            println!("(public benchmark skipped: cannot read {csv}: {e})\n");
            return Vec::new();
        }
    };
    let all = tadumadze::parse(&text).expect("the benchmark's CSV parses");
    println!(
        "## Public benchmark: Tadumadze, Emde & Diefenbach (2020), {} instances, 100 ms each\n",
        all.len()
    );
    let mut rows = String::from("| id | instance | doors | vehicles | feasible | late | weighted tardiness | EDD feasible | EDD tardiness | FCFS feasible | FCFS tardiness | ms |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    let mut fam: BTreeMap<String, Family> = BTreeMap::new();
    let unit = tadumadze::UNIT_MS as f64;
    for inst in &all {
        let p = &inst.problem;
        let t = Instant::now();
        let s = solve(p, 1, 400, 100);
        let ms = ms_since(t);
        let f = Figures::of(p, &s);
        let e = Figures::of(p, &construct::edd(p));
        let c = Figures::of(p, &construct::fcfs(p));
        let _ = writeln!(
            rows,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            inst.id,
            inst.name,
            p.doors.len(),
            p.vehicles.len(),
            f.feasible,
            f.late,
            f.weighted_tardiness_ms as f64 / unit,
            e.feasible,
            e.weighted_tardiness_ms as f64 / unit,
            c.feasible,
            c.weighted_tardiness_ms as f64 / unit,
            ms
        );
        let r = fam.entry(family(&inst.name)).or_default();
        r.instances += 1;
        for (i, fig) in [&f, &e, &c].into_iter().enumerate() {
            r.feasible[i] += fig.feasible as usize;
            r.tardiness[i] += fig.weighted_tardiness_ms as f64 / unit;
        }
        r.max_ms = r.max_ms.max(ms);
    }
    println!("| family | instances | feasible: sequencer / EDD / FCFS | total weighted tardiness: sequencer / EDD / FCFS | max ms |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, r) in &fam {
        println!(
            "| {name} | {} | {} / {} / {} | {} / {} / {} | {:.0} |",
            r.instances,
            r.feasible[0],
            r.feasible[1],
            r.feasible[2],
            r.tardiness[0],
            r.tardiness[1],
            r.tardiness[2],
            r.max_ms
        );
    }
    println!();
    if let Ok(path) = std::env::var("BENCH_RESULTS") {
        std::fs::write(&path, rows).expect("write BENCH_RESULTS");
        println!("(per-instance table written to {path})\n");
    }
    all
}

fn exact_gap(seed: u64) {
    println!(
        "## Against the exact optimum (branch and bound), 30 instances of 10 vehicles on 3 doors\n"
    );
    let (mut same, mut tried, mut solved) = (0, 0, 0);
    let (mut late_h, mut late_x, mut tard_h, mut tard_x, mut dwell_h, mut dwell_x) =
        (0, 0, 0, 0, 0, 0);
    let mut bb_ms = Vec::new();
    for i in 0..30 {
        // Tight: 10 vehicles within 2 h on 3 doors.
        let p = site(seed * 7919 + i, 3, 10, 120 * MIN);
        tried += 1;
        let h = solve(&p, 1, 400, 100);
        let t = Instant::now();
        let Some(x) = exact::solve(&p, h.clone(), 200_000_000) else {
            continue;
        };
        bb_ms.push(ms_since(t));
        solved += 1;
        let (ch, cx): (Cost, Cost) = (h.cost(&p), x.cost(&p));
        same += (ch == cx) as usize;
        late_h += ch.late;
        late_x += cx.late;
        tard_h += ch.tardiness_ms;
        tard_x += cx.tardiness_ms;
        dwell_h += ch.dwell_ms;
        dwell_x += cx.dwell_ms;
    }
    bb_ms.sort_by(f64::total_cmp);
    println!("| figure | heuristic (100 ms) | optimum |\n| --- | --- | --- |");
    println!("| instances solved to optimality | {solved} of {tried} | |");
    println!("| heuristic equal to the optimum | {same} of {solved} | |");
    println!("| weighted late departures (sum) | {late_h} | {late_x} |");
    println!(
        "| weighted tardiness (sum, min) | {} | {} |",
        tard_h / MIN,
        tard_x / MIN
    );
    println!(
        "| dwell incl. change penalties (sum, min) | {} | {} (gap {:.2}%) |",
        dwell_h / MIN,
        dwell_x / MIN,
        if dwell_x > 0 {
            100.0 * (dwell_h - dwell_x) as f64 / dwell_x as f64
        } else {
            0.0
        }
    );
    if !bb_ms.is_empty() {
        println!(
            "| branch and bound time p50 / max | | {:.0} / {:.0} ms |",
            percentile(&bb_ms, 0.5),
            bb_ms.last().copied().unwrap_or(0.0)
        );
    }
    println!();
}

/// Take `share` of the doors out of service and tighten every cutoff by
/// `tighten` of its window (a vehicle left with no door keeps its first).
fn stressed(p: &DockProblem, share: f64, tighten: f64, seed: u64) -> DockProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..p.doors.len()).collect();
    order.shuffle(&mut rng);
    let out = ((p.doors.len() as f64 * share).round() as usize).min(p.doors.len() - 1);
    let mut keep: Vec<usize> = order[out..].to_vec();
    keep.sort();
    let mut q = p.clone();
    q.doors = keep.iter().map(|&k| p.doors[k].clone()).collect();
    for v in &mut q.vehicles {
        let window = (v.due - v.release) as f64;
        v.due = v.release + (window * (1.0 - tighten)) as Millis;
        let mut loads: Vec<Option<Millis>> = keep.iter().map(|&k| v.load_ms[k]).collect();
        if loads.iter().all(Option::is_none) {
            let first = v
                .load_ms
                .iter()
                .position(Option::is_some)
                .expect("had a door");
            loads[0] = v.load_ms[first];
        }
        v.load_ms = loads;
    }
    q
}

fn stress(instances: &[tadumadze::Instance], seed: u64) {
    println!("## Stress: doors out of service, cutoffs tightened (every 5th public instance)\n");
    println!("| doors out | cutoffs | instances | late vehicles: EDD / sequencer / best offline | worse than EDD | gap of weighted tardiness to best offline |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (share, tighten) in [(0.2, 0.1), (0.3, 0.2), (0.4, 0.3)] {
        let (mut n, mut worse) = (0, 0);
        let (mut le, mut ls, mut lb, mut ts, mut tb) = (0, 0, 0, 0i64, 0i64);
        for inst in instances.iter().step_by(5) {
            let p = stressed(&inst.problem, share, tighten, seed + inst.id as u64);
            let edd = construct::edd(&p);
            let e = edd.cost(&p);
            let seq = solve(&p, 1, 400, 100);
            let s = seq.cost(&p);
            // Offline: three seeds, 300 ms each, keep the best.
            let b = (1..=3)
                .map(|sd| solve(&p, 100 + sd, 100_000, 300).cost(&p))
                .chain([s])
                .min()
                .expect("some");
            n += 1;
            worse += (s > e) as usize;
            le += e.late;
            ls += s.late;
            lb += b.late;
            ts += s.tardiness_ms;
            tb += b.tardiness_ms;
        }
        println!(
            "| {:.0}% | −{:.0}% | {n} | {le} / {ls} / {lb} (weighted) | {worse} | {} |",
            share * 100.0,
            tighten * 100.0,
            if tb > 0 {
                format!("{:.1}%", 100.0 * (ts - tb) as f64 / tb as f64)
            } else {
                format!("{} vs {} min", ts / MIN, tb / MIN)
            }
        );
    }
    println!();
}

/// A played day's vehicles at its first `doors` doors (all of them: the
/// site as generated): released when the vehicle is in and its goods are
/// staged (the simulated picking's real times), due at the cutoff, loading
/// at the day's load model times the door's distance. The draws do not
/// depend on `doors`: every door's distance factor and every vehicle's
/// reefer draw are the same at any door count, the kept doors keep their
/// factors, and the reefer doors are the first quarter of the doors kept.
fn day_problem(d: &Day, out: &day::DayOutcome, seed: u64, doors: usize) -> DockProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let factor: Vec<f64> = d.doors.iter().map(|_| rng.gen_range(0.85..1.3)).collect();
    let doors = doors.clamp(1, d.doors.len());
    let reefer_doors = (doors / 4).max(1);
    let vehicles = d
        .departures
        .iter()
        .zip(&d.truth)
        .zip(&out.departures)
        .filter_map(|((dep, truth), o)| {
            let pick_done = o.pick_done?;
            let staged =
                pick_done + (dep.load.staging_ms() as f64 * truth.staging_factor) as Millis;
            let load = dep.load.load_ms(o.lines) as f64 * truth.load_factor;
            let reefer = rng.gen_bool(1.0 / 6.0);
            Some(DockVehicle {
                id: dep.id.clone(),
                weight: 1,
                arrival: truth.vehicle_arrival,
                release: staged.max(truth.vehicle_arrival),
                due: dep.cutoff,
                load_ms: (0..doors)
                    .map(|k| (!reefer || k < reefer_doors).then_some((load * factor[k]) as Millis))
                    .collect(),
                current_door: None,
                frozen: false,
            })
        })
        .collect();
    DockProblem {
        doors: d.doors[..doors]
            .iter()
            .map(|id| DockDoor {
                id: id.clone(),
                open_from: d.start,
                open_until: None,
            })
            .collect(),
        vehicles,
        change_penalty_ms: 10 * MIN,
    }
}

/// Replan at every arrival, knowing the vehicles due within `lookahead`
/// (their ready times as the simulated picking gives them); vehicles that
/// start before the next replan are committed. Returns each vehicle's
/// (door, start, end).
fn rolling(p: &DockProblem, lookahead: Millis) -> Vec<(usize, Millis, Millis)> {
    let n = p.vehicles.len();
    let mut done: Vec<Option<(usize, Millis, Millis)>> = vec![None; n];
    let mut free: Vec<Millis> = p.doors.iter().map(|d| d.open_from).collect();
    let mut events: Vec<Millis> = p.vehicles.iter().map(|v| v.arrival).collect();
    events.sort();
    events.dedup();
    for (i, &now) in events.iter().enumerate() {
        let next = events.get(i + 1).copied().unwrap_or(Millis::MAX);
        let open: Vec<usize> = (0..n)
            .filter(|&v| done[v].is_none() && p.vehicles[v].arrival <= now + lookahead)
            .collect();
        if open.is_empty() {
            continue;
        }
        let sub = DockProblem {
            doors: p
                .doors
                .iter()
                .enumerate()
                .map(|(k, d)| DockDoor {
                    open_from: free[k].max(now),
                    ..d.clone()
                })
                .collect(),
            vehicles: open.iter().map(|&v| p.vehicles[v].clone()).collect(),
            change_penalty_ms: 0,
        };
        let s = solve(&sub, 1, 200, 100);
        for (j, (k, slot)) in s.slots(&sub).into_iter().enumerate() {
            if slot.start < next {
                done[open[j]] = Some((k, slot.start, slot.end));
                free[k] = free[k].max(slot.end);
            }
        }
    }
    done.into_iter()
        .map(|d| d.expect("the last replan commits everything"))
        .collect()
}

/// A schedule as each vehicle's (door, start, end).
fn slots_of(p: &DockProblem, s: &Schedule) -> Vec<(usize, Millis, Millis)> {
    s.slots(p)
        .into_iter()
        .map(|(k, slot)| (k, slot.start, slot.end))
        .collect()
}

/// First ready, first served: by the time the vehicle is in and its goods
/// are staged, each to the door free first (ties: the first door). Not the
/// baseline (that is `construct::fcfs`, by gate-in, as the yard calls
/// vehicles today); a reference for busy doors, where calling by gate-in
/// holds a door for a vehicle whose goods are not staged yet.
fn fcfs_ready(p: &DockProblem) -> Schedule {
    let mut s = Schedule::empty(p.doors.len());
    let mut free: Vec<Millis> = p.doors.iter().map(|d| d.open_from).collect();
    let mut order: Vec<usize> = (0..p.vehicles.len()).collect();
    order.sort_by_key(|&v| (p.vehicles[v].release, p.vehicles[v].arrival, v));
    for v in order {
        let k = (0..p.doors.len())
            .filter(|&k| p.load(v, k).is_some())
            .min_by_key(|&k| (free[k], k))
            .expect("every vehicle has a door");
        let start = free[k].max(p.vehicles[v].release);
        free[k] = start + p.load(v, k).expect("eligible");
        s.doors[k].push(v);
    }
    s
}

/// How busy a schedule keeps the doors.
#[derive(Default, Clone, Copy)]
struct DoorUse {
    /// Loading time over doors × the open span (first gate-in to last loaded).
    mean: f64,
    /// The busiest hour (starting on a 5-minute grid): loading time in it
    /// over doors × 1 h.
    peak_hour: f64,
    /// Vehicles that waited for a door after they were in and staged.
    waited: usize,
    /// Their total wait for a door, ms.
    wait_ms: i64,
}

fn door_use(p: &DockProblem, slots: &[(usize, Millis, Millis)]) -> DoorUse {
    let doors = p.doors.len() as f64;
    let first = p.vehicles.iter().map(|v| v.arrival).min().unwrap_or(0);
    let last = slots.iter().map(|s| s.2).max().unwrap_or(first);
    let busy: i64 = slots.iter().map(|s| s.2 - s.1).sum();
    let mut peak = 0i64;
    let mut t = first;
    while t < last {
        let in_hour: i64 = slots
            .iter()
            .map(|s| (s.2.min(t + 60 * MIN) - s.1.max(t)).max(0))
            .sum();
        peak = peak.max(in_hour);
        t += 5 * MIN;
    }
    let waits = slots
        .iter()
        .zip(&p.vehicles)
        .map(|(s, v)| s.1 - v.release)
        .filter(|&w| w > 0);
    DoorUse {
        mean: busy as f64 / (doors * (last - first).max(1) as f64),
        peak_hour: peak as f64 / (doors * (60 * MIN) as f64),
        waited: waits.clone().count(),
        wait_ms: waits.sum(),
    }
}

/// The busy site's door count, fixed before any dwell was looked at: the
/// most doors (at most the site's) at which first come, first served keeps
/// its busiest hour's doors at least 85% loading. Door use that high in the
/// peak is where a site calls its doors busy and a queue forms at them;
/// the rule is the same for every day and reads no sequencer output, only
/// FCFS's door use at each door count.
const BUSY_PEAK: f64 = 0.85;

fn busy_doors(d: &Day, out: &day::DayOutcome, seed: u64) -> usize {
    (1..=d.doors.len())
        .rev()
        .find(|&n| {
            let p = day_problem(d, out, seed, n);
            door_use(&p, &slots_of(&p, &construct::fcfs(&p))).peak_hour >= BUSY_PEAK
        })
        .unwrap_or(1)
}

/// Door counts a day is sequenced at.
#[derive(Clone, Copy)]
enum Doors {
    /// The site's, as generated (the first table).
    Site,
    /// The busy count of [`busy_doors`] times this (rounded, at least 1).
    Busy(f64),
}

impl Doors {
    fn count(self, d: &Day, out: &day::DayOutcome, seed: u64) -> usize {
        match self {
            Doors::Site => d.doors.len(),
            Doors::Busy(x) => {
                ((busy_doors(d, out, seed) as f64 * x).round() as usize).clamp(1, d.doors.len())
            }
        }
    }
}

/// One policy's totals over the generated days at one door count.
#[derive(Default)]
struct DayTotals {
    days: usize,
    vehicles: usize,
    /// Doors summed over the days, and the site's.
    doors: usize,
    site_doors: usize,
    /// FCFS, the sequencer replanning at arrivals, the bound, first ready
    /// first served.
    late: [usize; 4],
    dwell: [i64; 4],
    /// Door use of FCFS and of the sequencer, summed over days (mean,
    /// peak hour) and over vehicles (waits).
    used: [DoorUse; 2],
    /// Time on the yard waiting for the goods (release minus arrival).
    waiting: i64,
    replan_ms: f64,
}

/// Dwell and lateness no schedule can beat: every vehicle at its fastest
/// door the moment it is released (door contention ignored).
fn bound(p: &DockProblem) -> (usize, i64) {
    p.vehicles.iter().fold((0, 0), |(late, dwell), v| {
        let end = v.release + v.load_ms.iter().flatten().min().expect("has a door");
        (late + (end > v.due) as usize, dwell + end - v.arrival)
    })
}

/// The days of `seed`.. played once under `policy` (picking and staging
/// are the same at every door count).
fn play_days(seed: u64, count: u64, policy: &Policy) -> Vec<(Day, day::DayOutcome)> {
    (0..count)
        .map(|i| {
            let d = Day::generate(seed + i, &DayConfig::realistic());
            let out = day::play(&d, policy, &PlayOptions::default());
            (d, out)
        })
        .collect()
}

fn sequence_days(seed: u64, played: &[(Day, day::DayOutcome)], doors: Doors) -> DayTotals {
    let mut t = DayTotals::default();
    for (i, (d, out)) in played.iter().enumerate() {
        let s = seed + i as u64;
        let p = day_problem(d, out, s, doors.count(d, out, s));
        t.days += 1;
        t.doors += p.doors.len();
        t.site_doors += d.doors.len();
        let started = Instant::now();
        let plan = rolling(&p, 120 * MIN);
        t.replan_ms += ms_since(started);
        t.vehicles += p.vehicles.len();
        for (v, &(_, _, end)) in plan.iter().enumerate() {
            t.late[1] += (end > p.vehicles[v].due) as usize;
            t.dwell[1] += end - p.vehicles[v].arrival;
            t.waiting += p.vehicles[v].release - p.vehicles[v].arrival;
        }
        let fcfs = construct::fcfs(&p);
        let ff = Figures::of(&p, &fcfs);
        t.late[0] += ff.late;
        t.dwell[0] += ff.total_dwell_ms;
        let (late, dwell) = bound(&p);
        t.late[2] += late;
        t.dwell[2] += dwell;
        let fr = Figures::of(&p, &fcfs_ready(&p));
        t.late[3] += fr.late;
        t.dwell[3] += fr.total_dwell_ms;
        for (u, slots) in t.used.iter_mut().zip([slots_of(&p, &fcfs), plan]) {
            let x = door_use(&p, &slots);
            u.mean += x.mean;
            u.peak_hour += x.peak_hour;
            u.waited += x.waited;
            u.wait_ms += x.wait_ms;
        }
    }
    t
}

const WAVES: [&str; 2] = ["waves at their planned times", "wave planner in control"];

fn policies() -> [Policy; 2] {
    [
        Policy::Static,
        Policy::Planner(dockside::plan::PlannerConfig::default()),
    ]
}

fn mean_min(t: &DayTotals, x: i64) -> f64 {
    x as f64 / t.vehicles.max(1) as f64 / MIN as f64
}

fn vs_fcfs(t: &DayTotals, i: usize) -> f64 {
    100.0 * (t.dwell[i] - t.dwell[0]) as f64 / t.dwell[0].max(1) as f64
}

type Row<'a> = (&'a str, Box<dyn Fn(&DayTotals) -> String + 'a>);

/// Print a table: one column per `totals`, one row per figure.
fn table(head: &[String], totals: &[&DayTotals], rows: Vec<Row>) {
    println!("| figure | {} |", head.join(" | "));
    println!("|{}", " --- |".repeat(head.len() + 1));
    for (name, f) in rows {
        let cells: Vec<String> = totals.iter().map(|t| f(t)).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}

/// The figures of the first table, in its order.
fn dwell_rows<'a>() -> Vec<Row<'a>> {
    vec![
        (
            "days / vehicles",
            Box::new(|t| format!("{} / {}", t.days, t.vehicles)),
        ),
        (
            "late departures: FCFS / sequencer / bound",
            Box::new(|t| format!("{} / {} / {}", t.late[0], t.late[1], t.late[2])),
        ),
        (
            "mean dwell (gate-in to loaded), FCFS, min",
            Box::new(|t| format!("{:.1}", mean_min(t, t.dwell[0]))),
        ),
        (
            "mean dwell, sequencer, min (vs FCFS)",
            Box::new(|t| format!("{:.1} ({:+.1}%)", mean_min(t, t.dwell[1]), vs_fcfs(t, 1))),
        ),
        (
            "mean dwell, bound, min (vs FCFS)",
            Box::new(|t| format!("{:.1} ({:+.1}%)", mean_min(t, t.dwell[2]), vs_fcfs(t, 2))),
        ),
        (
            "of which waiting on the yard for the goods, min",
            Box::new(|t| format!("{:.1}", mean_min(t, t.waiting))),
        ),
        (
            "sequencer time for all replans of a day, mean",
            Box::new(|t| format!("{:.0} ms", t.replan_ms / t.days.max(1) as f64)),
        ),
    ]
}

/// How busy the doors are: FCFS, then the sequencer.
fn door_use_rows<'a>() -> Vec<Row<'a>> {
    let pct = |t: &DayTotals, x: f64| 100.0 * x / t.days.max(1) as f64;
    let used = move |t: &DayTotals, u: &DoorUse| {
        format!("{:.0}% / {:.0}%", pct(t, u.mean), pct(t, u.peak_hour))
    };
    let waits = |t: &DayTotals, u: &DoorUse| {
        format!(
            "{} ({:.1}%), {:.1} min",
            u.waited,
            100.0 * u.waited as f64 / t.vehicles.max(1) as f64,
            mean_min(t, u.wait_ms)
        )
    };
    vec![
        (
            "doors, mean per day (site's)",
            Box::new(|t| {
                format!(
                    "{:.1} ({:.1})",
                    t.doors as f64 / t.days.max(1) as f64,
                    t.site_doors as f64 / t.days.max(1) as f64
                )
            }),
        ),
        (
            "door use, FCFS: over the day / busiest hour, mean of days",
            Box::new(move |t| used(t, &t.used[0])),
        ),
        (
            "door use, sequencer: over the day / busiest hour",
            Box::new(move |t| used(t, &t.used[1])),
        ),
        (
            "vehicles waiting for a door once in and staged, FCFS (share), mean wait per vehicle",
            Box::new(move |t| waits(t, &t.used[0])),
        ),
        (
            "the same, sequencer",
            Box::new(move |t| waits(t, &t.used[1])),
        ),
    ]
}

fn days(seed: u64, count: u64) -> Vec<Vec<(Day, day::DayOutcome)>> {
    println!(
        "## Generated days: sequencer replanning at each arrival vs first come, first served\n"
    );
    let played: Vec<_> = policies()
        .iter()
        .map(|policy| play_days(seed, count, policy))
        .collect();
    let totals: Vec<DayTotals> = played
        .iter()
        .map(|p| sequence_days(seed, p, Doors::Site))
        .collect();
    let head = WAVES.map(String::from);
    let cols: Vec<&DayTotals> = totals.iter().collect();
    table(&head, &cols, dwell_rows());
    println!(
        "\nThe bound puts every vehicle at its fastest door the moment its goods are staged \
         and it is in (door contention ignored): no schedule does better.\n"
    );
    println!("Door use on these days, at the site's doors:\n");
    table(&head, &cols, door_use_rows());
    println!();
    played
}

/// The same days at fewer doors: the busy count of [`busy_doors`], and a
/// quarter more and a fifth fewer, so the trend shows, not one point.
fn busy_days(seed: u64, played: &[Vec<(Day, day::DayOutcome)>]) {
    println!("## Generated days at busy doors: the same days, vehicles and staging, fewer doors\n");
    let counts = [
        ("busy × 1.25", Doors::Busy(1.25)),
        ("busy (FCFS peak hour ≥ 85%)", Doors::Busy(1.0)),
        ("busy × 0.8", Doors::Busy(0.8)),
    ];
    let head: Vec<String> = counts.iter().map(|(h, _)| h.to_string()).collect();
    for (wave, played) in WAVES.iter().zip(played) {
        let totals: Vec<DayTotals> = counts
            .iter()
            .map(|&(_, doors)| sequence_days(seed, played, doors))
            .collect();
        let cols: Vec<&DayTotals> = totals.iter().collect();
        println!("{wave}:\n");
        let mut rows = door_use_rows();
        rows.truncate(1);
        rows.extend(dwell_rows());
        rows.push((
            "for reference: first ready, first served: late / mean dwell, min (vs FCFS)",
            Box::new(|t| {
                format!(
                    "{} / {:.1} ({:+.1}%)",
                    t.late[3],
                    mean_min(t, t.dwell[3]),
                    vs_fcfs(t, 3)
                )
            }),
        ));
        rows.extend(door_use_rows().into_iter().skip(1));
        table(&head, &cols, rows);
        println!();
    }
    println!(
        "The bound ignores door contention, so at busy doors it is loose: the gap from the \
         sequencer to it is an upper limit on what is left, not what is left.\n"
    );
}

/// Whether `section` runs: all do unless BENCH_ONLY names some
/// (`BENCH_ONLY=days`: the generated days, at the site's doors and busy).
fn runs(section: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s == section))
}

fn main() {
    let seed = env("BENCH_SEED", 1);
    let csv = std::env::var("BENCH_CSV")
        .unwrap_or_else(|_| "../shared/benchmarks/tadumadze2020/instances.csv".into());
    if runs("replan") {
        replan_times(seed);
    }
    if runs("exact") {
        exact_gap(seed);
    }
    if runs("public") {
        let instances = public_benchmark(&csv);
        if !instances.is_empty() {
            stress(&instances, seed);
        }
    }
    if runs("days") {
        let played = days(seed, env("BENCH_DAYS", 10));
        busy_days(seed, &played);
    }
}
