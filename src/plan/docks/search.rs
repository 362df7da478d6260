//! Local search: relocate a vehicle (to another door, or another place on its
//! own door: insertion) and swap two vehicles, first improvement in a seeded
//! order, then perturb the best schedule and descend again (iterated local
//! search) until the budget runs out. Only the doors a move touches are
//! re-timed, and only from the first position it changes.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::timing::{tail_cost, vehicle_cost, Cost, Schedule};
use super::{Budget, DockProblem};
use crate::domain::Millis;

/// One door's sequence with its timing: `ends[i]` is when position `i`
/// finishes, `prefix[i]` the cost of positions before `i`.
#[derive(Clone)]
struct Door {
    seq: Vec<usize>,
    ends: Vec<Millis>,
    prefix: Vec<Cost>,
    /// Frozen vehicles at the front: nothing moves into or out of them.
    frozen: usize,
}

#[derive(Clone)]
struct State<'a> {
    p: &'a DockProblem,
    doors: Vec<Door>,
    /// Where each vehicle is: (door, position).
    at: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, Copy)]
enum Move {
    /// Take the vehicle at (door, pos) and insert it at `to_pos` of `to`
    /// (a position in `to`'s sequence without the vehicle).
    Relocate {
        from: usize,
        pos: usize,
        to: usize,
        to_pos: usize,
    },
    Swap {
        a: (usize, usize),
        b: (usize, usize),
    },
}

impl<'a> State<'a> {
    fn new(p: &'a DockProblem, s: &Schedule) -> State<'a> {
        let mut st = State {
            p,
            doors: s
                .doors
                .iter()
                .map(|seq| Door {
                    frozen: seq.iter().take_while(|&&v| p.vehicles[v].frozen).count(),
                    seq: seq.clone(),
                    ends: Vec::new(),
                    prefix: Vec::new(),
                })
                .collect(),
            at: vec![(0, 0); p.vehicles.len()],
        };
        for k in 0..st.doors.len() {
            st.retime(k);
        }
        st
    }

    fn retime(&mut self, k: usize) {
        let p = self.p;
        let d = &mut self.doors[k];
        d.ends.clear();
        d.prefix.clear();
        let mut c = Cost::default();
        let mut t = p.doors[k].open_from;
        d.prefix.push(c);
        for (i, &v) in d.seq.iter().enumerate() {
            let (slot, vc) = vehicle_cost(p, v, k, t.max(p.vehicles[v].release));
            t = slot.end;
            c += vc;
            d.ends.push(t);
            d.prefix.push(c);
            self.at[v] = (k, i);
        }
    }

    fn free_before(&self, k: usize, pos: usize) -> Millis {
        if pos == 0 {
            self.p.doors[k].open_from
        } else {
            self.doors[k].ends[pos - 1]
        }
    }

    fn door_cost(&self, k: usize) -> Cost {
        *self.doors[k]
            .prefix
            .last()
            .expect("prefix holds the empty start")
    }

    fn total(&self) -> Cost {
        (0..self.doors.len())
            .map(|k| self.door_cost(k))
            .fold(Cost::default(), |a, b| a + b)
    }

    /// The doors' new costs minus their old costs under `m`.
    fn delta(&self, m: Move, buf: &mut Vec<usize>) -> Cost {
        let p = self.p;
        match m {
            Move::Relocate {
                from,
                pos,
                to,
                to_pos,
            } => {
                let v = self.doors[from].seq[pos];
                if from != to {
                    let a = &self.doors[from];
                    let new_a = a.prefix[pos]
                        + tail_cost(
                            p,
                            from,
                            self.free_before(from, pos),
                            a.seq[pos + 1..].iter().copied(),
                        );
                    let b = &self.doors[to];
                    let new_b = b.prefix[to_pos]
                        + tail_cost(
                            p,
                            to,
                            self.free_before(to, to_pos),
                            std::iter::once(v).chain(b.seq[to_pos..].iter().copied()),
                        );
                    new_a + new_b - self.door_cost(from) - self.door_cost(to)
                } else {
                    let d = &self.doors[from];
                    buf.clear();
                    buf.extend_from_slice(&d.seq);
                    buf.remove(pos);
                    buf.insert(to_pos, v);
                    let first = pos.min(to_pos);
                    d.prefix[first]
                        + tail_cost(
                            p,
                            from,
                            self.free_before(from, first),
                            buf[first..].iter().copied(),
                        )
                        - self.door_cost(from)
                }
            }
            Move::Swap { a, b } => {
                let va = self.doors[a.0].seq[a.1];
                let vb = self.doors[b.0].seq[b.1];
                if a.0 != b.0 {
                    let side = |(k, i): (usize, usize), incoming: usize| {
                        let d = &self.doors[k];
                        d.prefix[i]
                            + tail_cost(
                                p,
                                k,
                                self.free_before(k, i),
                                std::iter::once(incoming).chain(d.seq[i + 1..].iter().copied()),
                            )
                    };
                    side(a, vb) + side(b, va) - self.door_cost(a.0) - self.door_cost(b.0)
                } else {
                    let d = &self.doors[a.0];
                    buf.clear();
                    buf.extend_from_slice(&d.seq);
                    buf.swap(a.1, b.1);
                    let first = a.1.min(b.1);
                    d.prefix[first]
                        + tail_cost(
                            p,
                            a.0,
                            self.free_before(a.0, first),
                            buf[first..].iter().copied(),
                        )
                        - self.door_cost(a.0)
                }
            }
        }
    }

    fn apply(&mut self, m: Move) {
        match m {
            Move::Relocate {
                from,
                pos,
                to,
                to_pos,
            } => {
                let v = self.doors[from].seq.remove(pos);
                self.doors[to].seq.insert(to_pos, v);
                self.retime(from);
                if to != from {
                    self.retime(to);
                }
            }
            Move::Swap { a, b } => {
                let va = self.doors[a.0].seq[a.1];
                let vb = self.doors[b.0].seq[b.1];
                self.doors[a.0].seq[a.1] = vb;
                self.doors[b.0].seq[b.1] = va;
                self.retime(a.0);
                if b.0 != a.0 {
                    self.retime(b.0);
                }
            }
        }
    }

    /// The best improving relocation of vehicle `v`, if any.
    fn best_relocation(&self, v: usize, buf: &mut Vec<usize>) -> Option<(Cost, Move)> {
        let (from, pos) = self.at[v];
        let mut best: Option<(Cost, Move)> = None;
        for to in 0..self.doors.len() {
            if self.p.load(v, to).is_none() {
                continue;
            }
            let d = &self.doors[to];
            let len = if to == from {
                d.seq.len() - 1
            } else {
                d.seq.len()
            };
            for to_pos in d.frozen..=len {
                if to == from && to_pos == pos {
                    continue;
                }
                let m = Move::Relocate {
                    from,
                    pos,
                    to,
                    to_pos,
                };
                let delta = self.delta(m, buf);
                if delta < Cost::default() && best.map_or(true, |(b, _)| delta < b) {
                    best = Some((delta, m));
                }
            }
        }
        best
    }

    /// The best improving swap of vehicle `v` with another, if any.
    fn best_swap(&self, v: usize, buf: &mut Vec<usize>) -> Option<(Cost, Move)> {
        let a = self.at[v];
        let mut best: Option<(Cost, Move)> = None;
        for (u, &b) in self.at.iter().enumerate() {
            if u == v
                || self.p.vehicles[u].frozen
                || self.p.load(v, b.0).is_none()
                || self.p.load(u, a.0).is_none()
            {
                continue;
            }
            let m = Move::Swap { a, b };
            let delta = self.delta(m, buf);
            if delta < Cost::default() && best.map_or(true, |(c, _)| delta < c) {
                best = Some((delta, m));
            }
        }
        best
    }

    /// Descend to a local optimum (or until the budget runs out).
    fn descend(&mut self, order: &[usize], budget: &mut dyn Budget) {
        let mut buf = Vec::new();
        loop {
            if budget.exhausted() {
                return;
            }
            let mut improved = false;
            for &v in order {
                if let Some((_, m)) = self.best_relocation(v, &mut buf) {
                    self.apply(m);
                    improved = true;
                }
                if let Some((_, m)) = self.best_swap(v, &mut buf) {
                    self.apply(m);
                    improved = true;
                }
            }
            if !improved {
                return;
            }
        }
    }

    /// Move a few random vehicles to random places they may take.
    fn perturb(&mut self, movable: &[usize], rng: &mut ChaCha8Rng) {
        let moves = rng.gen_range(2..=4).min(movable.len());
        for _ in 0..moves {
            let v = movable[rng.gen_range(0..movable.len())];
            let doors: Vec<usize> = (0..self.doors.len())
                .filter(|&k| self.p.load(v, k).is_some())
                .collect();
            let to = doors[rng.gen_range(0..doors.len())];
            let (from, pos) = self.at[v];
            let len = self.doors[to].seq.len() - usize::from(to == from);
            let lo = self.doors[to].frozen;
            let to_pos = rng.gen_range(lo..=len.max(lo));
            self.apply(Move::Relocate {
                from,
                pos,
                to,
                to_pos,
            });
        }
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            doors: self.doors.iter().map(|d| d.seq.clone()).collect(),
        }
    }
}

/// One descent from `start` to a local optimum, without perturbation.
pub fn descend(p: &DockProblem, start: Schedule, seed: u64) -> Schedule {
    improve(p, start, seed, &mut || false, false)
}

/// Improve `start` by iterated local search within `budget`; never returns worse.
pub fn iterate(p: &DockProblem, start: Schedule, seed: u64, budget: &mut dyn Budget) -> Schedule {
    improve(p, start, seed, budget, true)
}
fn improve(
    p: &DockProblem,
    start: Schedule,
    seed: u64,
    budget: &mut dyn Budget,
    perturb: bool,
) -> Schedule {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut movable: Vec<usize> = (0..p.vehicles.len())
        .filter(|&v| !p.vehicles[v].frozen)
        .collect();
    if movable.is_empty() {
        return start;
    }
    let mut state = State::new(p, &start);
    movable.shuffle(&mut rng);
    state.descend(&movable, budget);
    let mut best = state.clone();
    let mut best_cost = best.total();
    while perturb && !budget.exhausted() {
        state = best.clone();
        state.perturb(&movable, &mut rng);
        movable.shuffle(&mut rng);
        state.descend(&movable, budget);
        let c = state.total();
        if c < best_cost {
            best_cost = c;
            best = state.clone();
        }
    }
    best.schedule()
}
