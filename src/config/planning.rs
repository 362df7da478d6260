//! The site planner's settings (`[planning]`).

use std::path::PathBuf;

use serde::Deserialize;

use super::problems::Problems;
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

impl PlanningConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if !(1..=3600).contains(&self.round_s) {
            p.push(
                "planning.round_s",
                format!("{} is out of range", self.round_s),
                "use 1 to 3600 (default 30)",
            );
        }
        if !(1..=168).contains(&self.replay_h) {
            p.push(
                "planning.replay_h",
                format!("{} is out of range", self.replay_h),
                "use 1 to 168 (default 24)",
            );
        }
        super::broker::check_prefix("planning.topic_prefix", &self.topic_prefix, p);
    }
}
