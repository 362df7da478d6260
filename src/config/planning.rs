//! The site planner's settings (`[planning]`).

use std::path::PathBuf;

use serde::Deserialize;

use super::problems::Problems;
use crate::plan::docks::live::LiveConfig;
use crate::plan::PlannerConfig;

#[derive(Debug, Clone, Deserialize)]
pub struct PlanningConfig {
    /// Decision rounds run at multiples of this (UTC), so a replay of the log
    /// knows when they ran.
    #[serde(default = "default_round")]
    pub round_s: u64,
    /// On start, the planner's state is rebuilt by replaying the log from the
    /// last multiple of this many hours (midnight UTC for 24), so every
    /// restart within that period rebuilds the same state.
    #[serde(default = "default_replay")]
    pub replay_h: u64,
    /// A plan to use when central sends none (or before it does): stored in
    /// the log like a plan from central.
    #[serde(default)]
    pub plan_file: Option<PathBuf>,
    /// Decisions are published on `{topic_prefix}/{site}/decisions/{kind}`.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// The wave planner's tuning; every field has a default.
    #[serde(default)]
    pub waves: PlannerConfig,
    /// The dock sequencer: doors and tuning; absent = no dock decisions.
    #[serde(default)]
    pub docks: Option<LiveConfig>,
}

fn default_round() -> u64 {
    30
}
fn default_replay() -> u64 {
    24
}
fn default_prefix() -> String {
    "dockside".into()
}

/// `value` within `lo..=hi`, else a problem at `key` with `fix`.
fn in_range<T: PartialOrd + std::fmt::Display>(
    p: &mut Problems,
    key: &str,
    value: T,
    (lo, hi): (T, T),
    fix: &str,
) {
    // Written so that NaN is out of range too.
    if !(value >= lo && value <= hi) {
        p.push(key, format!("{value} is out of range"), fix);
    }
}

impl PlanningConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        in_range(
            p,
            "planning.round_s",
            self.round_s,
            (1, 3600),
            "use 1 to 3600 (default 30)",
        );
        in_range(
            p,
            "planning.replay_h",
            self.replay_h,
            (1, 168),
            "use 1 to 168 (default 24)",
        );
        super::broker::check_prefix("planning.topic_prefix", &self.topic_prefix, p);
        if let Some(docks) = &self.docks {
            validate_docks(docks, p);
        }
    }
}

fn validate_docks(d: &LiveConfig, p: &mut Problems) {
    if d.doors.is_empty() {
        p.push(
            "planning.docks.doors",
            "no doors: the sequencer has nowhere to send vehicles",
            "add a [[planning.docks.doors]] table per dock door (id, load_factor, carriers)",
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, door) in d.doors.iter().enumerate() {
        let key = format!("planning.docks.doors[{i}]");
        if door.id.trim().is_empty() {
            p.push(
                format!("{key}.id"),
                "is empty",
                "name the door as its door_changed events do (e.g. \"D01\")",
            );
        } else if !seen.insert(door.id.as_str()) {
            p.push(
                format!("{key}.id"),
                format!("door `{}` is listed twice", door.id),
                "list each door once",
            );
        }
        in_range(
            p,
            &format!("{key}.load_factor"),
            door.load_factor,
            (0.1, 10.0),
            "use 0.1 to 10 (1 = the plan's load model; 1.2 = 20% longer)",
        );
        if door.carriers.iter().any(|c| c.trim().is_empty()) {
            p.push(
                format!("{key}.carriers"),
                "holds an empty carrier",
                "name carriers as the plan's departures do, or leave the list empty for any",
            );
        }
    }
    let key = |name: &str| format!("planning.docks.{name}");
    in_range(
        p,
        &key("max_rounds"),
        d.max_rounds,
        (1, 100_000),
        "use 1 to 100000 (default 200)",
    );
    in_range(
        p,
        &key("budget_ms"),
        d.budget_ms,
        (1, 60_000),
        "use 1 to 60000 ms (default 100)",
    );
    let minutes = [
        ("frozen_horizon_min", d.frozen_horizon_min, 0.0, "15"),
        ("change_penalty_min", d.change_penalty_min, 0.0, "10"),
        ("call_lead_min", d.call_lead_min, 0.0, "15"),
        ("ready_shift_min", d.ready_shift_min, 0.5, "10"),
        ("start_shift_min", d.start_shift_min, 0.5, "10"),
    ];
    for (name, v, lo, default) in minutes {
        let fix = format!("use {lo} to 240 minutes (default {default})");
        in_range(p, &key(name), v, (lo, 240.0), &fix);
    }
    in_range(
        p,
        &key("lookahead_h"),
        d.lookahead_h,
        (0.1, 48.0),
        "use 0.1 to 48 hours (default 4)",
    );
}
