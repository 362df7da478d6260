//! Constructive rules. Each places frozen vehicles first, on their doors in
//! release order, then the rest one at a time at the end of a door.

use super::timing::{vehicle_cost, Schedule};
use super::{DockProblem, Rule};
use crate::domain::Millis;

/// ATC's look-ahead: how many mean load times of slack still count.
const ATC_K: f64 = 2.0;

struct Builder<'a> {
    p: &'a DockProblem,
    schedule: Schedule,
    /// When each door is next free.
    free: Vec<Millis>,
}

impl<'a> Builder<'a> {
    fn new(p: &'a DockProblem) -> Builder<'a> {
        let mut b = Builder {
            p,
            schedule: Schedule::empty(p.doors.len()),
            free: p.doors.iter().map(|d| d.open_from).collect(),
        };
        let mut frozen: Vec<usize> = (0..p.vehicles.len())
            .filter(|&v| p.vehicles[v].frozen)
            .collect();
        frozen.sort_by_key(|&v| (p.vehicles[v].release, v));
        for v in frozen {
            let k = p.vehicles[v]
                .current_door
                .expect("validated: a frozen vehicle has its door");
            b.place(v, k);
        }
        b
    }

    fn place(&mut self, v: usize, k: usize) {
        let start = self.free[k].max(self.p.vehicles[v].release);
        self.free[k] = vehicle_cost(self.p, v, k, start).0.end;
        self.schedule.doors[k].push(v);
    }

    fn thawed(&self) -> Vec<usize> {
        (0..self.p.vehicles.len())
            .filter(|&v| !self.p.vehicles[v].frozen)
            .collect()
    }

    /// The door where `v` would finish first (a door it fits in before it
    /// closes first), with its start and end.
    fn earliest_completion(&self, v: usize) -> (usize, Millis, Millis) {
        let veh = &self.p.vehicles[v];
        (0..self.p.doors.len())
            .filter_map(|k| {
                let load = veh.load_ms[k]?;
                let start = self.free[k].max(veh.release);
                let end = start + load;
                let overruns = self.p.doors[k].open_until.is_some_and(|u| end > u);
                Some((overruns, end, k, start))
            })
            .min()
            .map(|(_, end, k, start)| (k, start, end))
            .expect("validated: every vehicle has a door")
    }
}

/// The better of EDD and ATC (EDD on a tie): where the search starts.
pub fn best_rule(p: &DockProblem) -> (Rule, Schedule) {
    let edd = edd(p);
    let atc = atc(p);
    if atc.cost(p) < edd.cost(p) {
        (Rule::Atc, atc)
    } else {
        (Rule::Edd, edd)
    }
}

/// Earliest due date first, each to the door where it finishes first.
pub fn edd(p: &DockProblem) -> Schedule {
    let mut b = Builder::new(p);
    let mut order = b.thawed();
    order.sort_by_key(|&v| (p.vehicles[v].due, p.vehicles[v].release, v));
    for v in order {
        let (k, _, _) = b.earliest_completion(v);
        b.place(v, k);
    }
    b.schedule
}

/// First come, first served: by arrival, each to the door free first
/// (ties: the first door). The plain yard practice, and the baseline.
pub fn fcfs(p: &DockProblem) -> Schedule {
    let mut b = Builder::new(p);
    let mut order = b.thawed();
    order.sort_by_key(|&v| (p.vehicles[v].arrival, v));
    for v in order {
        let k = (0..p.doors.len())
            .filter(|&k| p.load(v, k).is_some())
            .min_by_key(|&k| (b.free[k], k))
            .expect("validated: every vehicle has a door");
        b.place(v, k);
    }
    b.schedule
}

/// Apparent tardiness cost: repeatedly place the vehicle with the highest
/// `w/p · exp(−max(d − p − t, 0) / (K·p̄))` at its earliest-completion door,
/// where `t` is when it could start there.
pub fn atc(p: &DockProblem) -> Schedule {
    let mut b = Builder::new(p);
    let mut open = b.thawed();
    let mean_load = mean_load(p).max(1.0);
    while !open.is_empty() {
        let (i, k) = open
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (k, start, end) = b.earliest_completion(v);
                let veh = &p.vehicles[v];
                let load = (end - start).max(1) as f64;
                let slack = (veh.due - end).max(0) as f64;
                let index = veh.weight as f64 / load * (-slack / (ATC_K * mean_load)).exp();
                (i, k, index, veh.due, v)
            })
            .max_by(|a, b| a.2.total_cmp(&b.2).then(b.3.cmp(&a.3)).then(b.4.cmp(&a.4)))
            .map(|(i, k, ..)| (i, k))
            .expect("open is not empty");
        let v = open.swap_remove(i);
        b.place(v, k);
    }
    b.schedule
}

/// Mean over vehicles of their mean load time at the doors they can use.
fn mean_load(p: &DockProblem) -> f64 {
    if p.vehicles.is_empty() {
        return 0.0;
    }
    let sum: f64 = p
        .vehicles
        .iter()
        .map(|v| {
            let (s, n) = v
                .load_ms
                .iter()
                .flatten()
                .fold((0i64, 0i64), |(s, n), l| (s + l, n + 1));
            s as f64 / n.max(1) as f64
        })
        .sum();
    sum / p.vehicles.len() as f64
}
