//! Triage when capacity cannot make every cutoff: which orders to move to a
//! later departure so that as many orders as possible make theirs.
//!
//! Moore–Hodgson (minimise the number of late jobs on one machine: take jobs
//! by due date; when one is late, drop the longest so far) generalised to
//! parallel zones: when a job's completion in some zone passes its due date,
//! drop the kept job with the most work in that zone. Only jobs marked
//! removable — orders predicted to miss anyway — are ever dropped, so an
//! order that would make its cutoff is never moved.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One order as a job, taken in order of `due`. Its work in each zone is
/// measured in that zone's units (lines), and so is its due date there: the
/// lines the zone can pick between now and the order's latest pick
/// completion, so capacity that changes over time (shifts) is exact.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub due: f64,
    pub work: Vec<Task>,
    pub removable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Task {
    pub zone: usize,
    pub amount: f64,
    /// Work the zone can do by the job's due date, counted from now.
    pub due: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Jobs to move, by index into the input.
    pub removed: Vec<usize>,
    /// Jobs kept that still finish after their due date (nothing may be dropped for them).
    pub late: Vec<usize>,
}

#[derive(PartialEq)]
struct ByWork(f64, usize);
impl Eq for ByWork {}
impl PartialOrd for ByWork {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByWork {
    fn cmp(&self, other: &Self) -> Ordering {
        // Most work first; on ties the later job (by index), so earlier-sequenced orders stay.
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// `base`: work each zone has before any of these jobs.
pub fn moore_hodgson(jobs: &[Job], base: &[f64]) -> Outcome {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| jobs[a].due.total_cmp(&jobs[b].due).then(a.cmp(&b)));
    let mut t = base.to_vec();
    let mut heaps: Vec<BinaryHeap<ByWork>> = (0..base.len()).map(|_| BinaryHeap::new()).collect();
    let mut removed = vec![false; jobs.len()];
    let mut out = Outcome::default();
    for &j in &order {
        let job = &jobs[j];
        for task in &job.work {
            t[task.zone] += task.amount;
            if job.removable {
                heaps[task.zone].push(ByWork(task.amount, j));
            }
        }
        loop {
            if removed[j] {
                break;
            }
            // The zone where the job finishes latest past its due date.
            let Some(z) = job
                .work
                .iter()
                .filter(|task| t[task.zone] > task.due + 1e-9)
                .max_by(|a, b| (t[a.zone] - a.due).total_cmp(&(t[b.zone] - b.due)))
                .map(|task| task.zone)
            else {
                break;
            };
            let victim = loop {
                match heaps[z].pop() {
                    Some(ByWork(_, k)) if removed[k] => continue,
                    other => break other,
                }
            };
            let Some(ByWork(_, k)) = victim else {
                out.late.push(j);
                break;
            };
            removed[k] = true;
            for task in &jobs[k].work {
                t[task.zone] -= task.amount;
            }
            out.removed.push(k);
        }
    }
    out.removed.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Zones working at one unit per unit of time.
    fn job(due: f64, work: &[(usize, f64)]) -> Job {
        Job {
            due,
            work: work
                .iter()
                .map(|&(zone, amount)| Task { zone, amount, due })
                .collect(),
            removable: true,
        }
    }

    #[test]
    fn single_zone_matches_the_textbook_example() {
        // Processing times 4,3,2,5,6 (zone 0), due 6,7,8,9,11 (sorted):
        // Moore–Hodgson keeps three jobs on time.
        let jobs: Vec<Job> = [(4.0, 6.0), (3.0, 7.0), (2.0, 8.0), (5.0, 9.0), (6.0, 11.0)]
            .iter()
            .map(|&(p, d)| job(d, &[(0, p)]))
            .collect();
        let out = moore_hodgson(&jobs, &[0.0]);
        assert_eq!(out.removed.len(), 2, "{out:?}");
        assert!(out.late.is_empty());
    }

    #[test]
    fn orders_that_make_it_are_never_dropped() {
        // The first job would make it; it is not removable, the late ones are.
        let mut jobs = vec![
            job(5.0, &[(0, 5.0)]),
            job(6.0, &[(0, 4.0)]),
            job(7.0, &[(0, 1.0)]),
        ];
        jobs[0].removable = false;
        let out = moore_hodgson(&jobs, &[0.0]);
        assert_eq!(out.removed, vec![1]);
    }

    /// Completion of kept jobs in EDD order, per zone.
    fn kept_late(jobs: &[Job], removed: &[usize], base: &[f64]) -> usize {
        let mut order: Vec<usize> = (0..jobs.len()).filter(|j| !removed.contains(j)).collect();
        order.sort_by(|&a, &b| jobs[a].due.total_cmp(&jobs[b].due).then(a.cmp(&b)));
        let mut t = base.to_vec();
        let mut late = 0;
        for j in order {
            let mut late_here = false;
            for task in &jobs[j].work {
                t[task.zone] += task.amount;
                late_here |= t[task.zone] > task.due + 1e-9;
            }
            late += usize::from(late_here);
        }
        late
    }

    proptest! {
        #[test]
        fn kept_jobs_are_on_time_unless_reported_late(
            raw in prop::collection::vec((0.0f64..100.0, prop::collection::vec((0usize..3, 0.5f64..20.0), 1..3), any::<bool>()), 0..40),
        ) {
            let jobs: Vec<Job> = raw.iter().map(|(d, w, r)| Job { removable: *r, ..job(*d, w) }).collect();
            let base = [0.0, 5.0, 10.0];
            let out = moore_hodgson(&jobs, &base);
            for &k in &out.removed {
                prop_assert!(jobs[k].removable);
            }
            prop_assert!(kept_late(&jobs, &out.removed, &base) <= out.late.len());
        }

        #[test]
        fn single_zone_is_optimal(
            raw in prop::collection::vec((0.0f64..60.0, 1.0f64..20.0), 0..9),
        ) {
            let jobs: Vec<Job> = raw.iter().map(|&(d, p)| job(d, &[(0, p)])).collect();
            let out = moore_hodgson(&jobs, &[0.0]);
            // Brute force: the largest set that is on time in EDD order.
            let n = jobs.len();
            let mut best = 0;
            for mask in 0u32..(1 << n) {
                let removed: Vec<usize> = (0..n).filter(|i| mask & (1 << i) == 0).collect();
                if kept_late(&jobs, &removed, &[0.0]) == 0 {
                    best = best.max(mask.count_ones() as usize);
                }
            }
            prop_assert_eq!(n - out.removed.len(), best);
        }
    }
}
