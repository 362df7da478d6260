//! An exact reference for small instances: branch and bound over every
//! semi-active schedule. Vehicles are appended to doors in order of start
//! time (ties by door), so each schedule is built exactly once; a branch is
//! cut when a lower bound on its cost — what is placed, plus each open
//! vehicle finishing as early as any door could let it — is no better than
//! the best schedule known. Exponential: meant for about 10 vehicles.

use super::timing::{vehicle_cost, Cost, Schedule};
use super::DockProblem;
use crate::domain::Millis;

/// The optimal schedule, starting from `incumbent` (any valid schedule, e.g.
/// the heuristic's, which prunes from the start). `None` when more than
/// `max_nodes` nodes would be needed.
pub fn solve(p: &DockProblem, incumbent: Schedule, max_nodes: u64) -> Option<Schedule> {
    let best_cost = incumbent.cost(p);
    let mut bb = Bb {
        p,
        best: incumbent,
        best_cost,
        schedule: Schedule::empty(p.doors.len()),
        free: p.doors.iter().map(|d| d.open_from).collect(),
        placed: vec![false; p.vehicles.len()],
        nodes: 0,
        max_nodes,
    };
    // Frozen vehicles go first on their doors, as every rule places them.
    let mut frozen: Vec<usize> = (0..p.vehicles.len())
        .filter(|&v| p.vehicles[v].frozen)
        .collect();
    frozen.sort_by_key(|&v| (p.vehicles[v].release, v));
    let mut cost = Cost::default();
    for v in frozen {
        let k = p.vehicles[v].current_door.expect("validated");
        cost += bb.push(v, k);
    }
    bb.branch(cost, (Millis::MIN, 0));
    (bb.nodes <= bb.max_nodes).then_some(bb.best)
}

struct Bb<'a> {
    p: &'a DockProblem,
    best: Schedule,
    best_cost: Cost,
    schedule: Schedule,
    free: Vec<Millis>,
    placed: Vec<bool>,
    nodes: u64,
    max_nodes: u64,
}

impl Bb<'_> {
    fn push(&mut self, v: usize, k: usize) -> Cost {
        let start = self.free[k].max(self.p.vehicles[v].release);
        let (slot, c) = vehicle_cost(self.p, v, k, start);
        self.free[k] = slot.end;
        self.schedule.doors[k].push(v);
        self.placed[v] = true;
        c
    }

    /// `cost`: of what is placed; `last`: (start, door) of the last vehicle
    /// appended (every later one starts no earlier).
    fn branch(&mut self, cost: Cost, last: (Millis, usize)) {
        self.nodes += 1;
        if self.nodes > self.max_nodes {
            return;
        }
        if self.placed.iter().all(|p| *p) {
            if cost < self.best_cost {
                self.best_cost = cost;
                self.best = self.schedule.clone();
            }
            return;
        }
        if cost + self.bound(last.0) >= self.best_cost {
            return;
        }
        let p = self.p;
        for v in 0..p.vehicles.len() {
            if self.placed[v] {
                continue;
            }
            for k in 0..p.doors.len() {
                if p.load(v, k).is_none() {
                    continue;
                }
                let start = self.free[k].max(p.vehicles[v].release);
                if (start, k) < last {
                    continue;
                }
                let saved = self.free[k];
                let c = self.push(v, k);
                self.branch(cost + c, (start, k));
                self.schedule.doors[k].pop();
                self.placed[v] = false;
                self.free[k] = saved;
            }
        }
    }

    /// A lower bound, component by component, on what the open vehicles add.
    fn bound(&self, not_before: Millis) -> Cost {
        let p = self.p;
        let mut total = Cost::default();
        for v in 0..p.vehicles.len() {
            if self.placed[v] {
                continue;
            }
            let veh = &p.vehicles[v];
            let mut least: Option<Cost> = None;
            for k in 0..p.doors.len() {
                if p.load(v, k).is_none() {
                    continue;
                }
                let start = self.free[k].max(veh.release).max(not_before);
                let c = vehicle_cost(p, v, k, start).1;
                least = Some(match least {
                    None => c,
                    Some(l) => Cost {
                        overrun: l.overrun.min(c.overrun),
                        late: l.late.min(c.late),
                        tardiness_ms: l.tardiness_ms.min(c.tardiness_ms),
                        dwell_ms: l.dwell_ms.min(c.dwell_ms),
                        changes: l.changes.min(c.changes),
                    },
                });
            }
            total += least.expect("validated: every vehicle has a door");
        }
        total
    }
}
