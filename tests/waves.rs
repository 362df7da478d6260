//! The wave planner on simulated days: what a site supervisor would notice.

use dockside::domain::decision::RiskStatus;
use dockside::domain::Decision;
use dockside::plan::{Planner, PlannerConfig, PlannerInput};
use dockside::sim::day::{play, Day, DayConfig, DayOutcome, Incident, PlayOptions, Policy};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn advisory(day: &Day) -> DayOutcome {
    play(
        day,
        &Policy::Advisory(PlannerConfig::default()),
        &PlayOptions::default(),
    )
}

/// A comfortable small day with one zone slowed to 45% for nine hours.
fn slowdown_day(seed: u64) -> (Day, Day) {
    let calm = Day::generate(seed, &DayConfig::small());
    let mut slow = calm.clone();
    slow.incidents.push(Incident::Slowdown {
        zone: 0,
        from: calm.start + 3 * HOUR,
        until: calm.start + 12 * HOUR,
        factor: 0.45,
    });
    (calm, slow)
}

fn risk_changes(out: &DayOutcome) -> Vec<(&str, RiskStatus, i64)> {
    out.decisions
        .iter()
        .filter_map(|d| match d {
            Decision::DepartureAtRisk {
                departure,
                status,
                at,
                ..
            } => Some((departure.as_str(), *status, *at)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_slowdown_is_flagged_at_least_30_minutes_before_the_cutoff() {
    let (calm, slow) = slowdown_day(23);
    assert_eq!(advisory(&calm).late(), 0, "the calm day makes every cutoff");
    let out = advisory(&slow);
    let late: Vec<_> = out.served().filter(|d| d.late).collect();
    assert!(
        late.len() >= 2,
        "the slowdown must make departures miss (ground truth)"
    );
    for d in &late {
        assert!(
            d.flagged(30 * MIN),
            "{} missed its cutoff ({}) but was first raised at {:?}",
            d.id,
            d.cutoff,
            d.first_raised
        );
    }
}

#[test]
fn a_steady_day_raises_no_risk() {
    for seed in [31, 32, 33] {
        let day = Day::generate(seed, &DayConfig::small());
        let out = advisory(&day);
        assert_eq!(out.late(), 0, "day {seed} is comfortable");
        let changes = risk_changes(&out);
        assert!(
            changes.is_empty(),
            "day {seed}: risk raised on noise: {changes:?}"
        );
    }
}

#[test]
fn a_cleared_risk_is_a_real_recovery() {
    // A departure whose last word was `cleared` must really make its cutoff:
    // a risk dropped on a lucky minute while the departure still misses
    // would tell the dock to stand down too early.
    for seed in [23, 25] {
        let (_, slow) = slowdown_day(seed);
        let out = advisory(&slow);
        let changes = risk_changes(&out);
        assert!(!changes.is_empty());
        for d in out.served() {
            let last = changes.iter().rev().find(|c| c.0 == d.id);
            if let Some((_, RiskStatus::Cleared, at)) = last {
                assert!(!d.late, "{} cleared at {at} but missed its cutoff", d.id);
            }
        }
    }
}

#[test]
fn in_control_the_planner_misses_fewer_cutoffs_and_defers_only_late_orders() {
    let (_, slow) = slowdown_day(23);
    let baseline = play(&slow, &Policy::Static, &PlayOptions::default());
    let planned = play(
        &slow,
        &Policy::Planner(PlannerConfig::default()),
        &PlayOptions::default(),
    );
    assert!(baseline.late() > 0);
    assert!(
        planned.late() < baseline.late(),
        "planner {} late, static {}",
        planned.late(),
        baseline.late()
    );
    let mut raised = std::collections::HashMap::new();
    for d in &planned.decisions {
        match d {
            Decision::DepartureAtRisk {
                departure,
                status: RiskStatus::Raised,
                at,
                ..
            } => {
                raised.entry(departure.clone()).or_insert(*at);
            }
            Decision::OrderDeferralProposed {
                order,
                from_departure,
                predicted_ready,
                cutoff,
                at,
                ..
            } => {
                assert!(
                    predicted_ready > cutoff,
                    "{order} would have made {from_departure}"
                );
                assert!(
                    raised.get(from_departure).is_some_and(|t| t <= at),
                    "{order} deferred from {from_departure}, which was not at risk"
                );
            }
            _ => {}
        }
    }
    assert!(planned.orders_deferred > 0);
}

#[test]
fn replaying_the_inputs_reproduces_every_decision() {
    let (_, slow) = slowdown_day(23);
    let options = PlayOptions {
        record_inputs: true,
        ..PlayOptions::default()
    };
    let out = play(&slow, &Policy::Planner(PlannerConfig::default()), &options);
    assert!(out
        .decisions
        .iter()
        .any(|d| d.kind() == "order_deferral_proposed"));
    // Through JSON, as a stored log would hold them.
    let log: Vec<String> = out
        .inputs
        .iter()
        .map(|i| serde_json::to_string(i).expect("serializes"))
        .collect();
    let mut planner = Planner::new(PlannerConfig::default());
    let mut replayed = Vec::new();
    for line in &log {
        let input: PlannerInput = serde_json::from_str(line).expect("parses");
        replayed.extend(planner.apply(&input).expect("valid plans"));
    }
    let text = |ds: &[Decision]| -> Vec<String> {
        ds.iter()
            .map(|d| serde_json::to_string(d).expect("serializes"))
            .collect()
    };
    assert_eq!(text(&replayed), text(&out.decisions));
}

#[test]
fn the_same_seed_gives_the_same_day() {
    let a = Day::generate(5, &DayConfig::realistic());
    let b = Day::generate(5, &DayConfig::realistic());
    assert_eq!(a, b);
    assert!((50..=300).contains(&a.departures.len()));
    assert!((5_000..=50_000).contains(&a.line_count()));
    assert!((20..=60).contains(&a.doors.len()));
    a.full_plan().validate().expect("a valid plan");
}
