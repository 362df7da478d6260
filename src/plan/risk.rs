//! Hysteresis for cutoff risk: a departure is raised only after its miss
//! probability has stayed above `p_raise` for `raise_after_min` (at once above
//! `p_raise_now`), and cleared only after it has stayed below the lower
//! `p_clear` for `clear_after_min`, so noise around a threshold cannot flap it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::decision::RiskStatus;
use crate::domain::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    pub p_raise: f64,
    pub p_raise_now: f64,
    pub raise_after_min: f64,
    pub p_clear: f64,
    pub clear_after_min: f64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            p_raise: 0.5,
            p_raise_now: 0.9,
            raise_after_min: 5.0,
            p_clear: 0.2,
            clear_after_min: 20.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    raised: bool,
    /// Since when the probability has been on the other side of the threshold.
    crossing_since: Option<Millis>,
}

#[derive(Debug, Clone, Default)]
pub struct RiskTracker {
    states: HashMap<String, State>,
}

impl RiskTracker {
    /// Feed a departure's miss probability at `now`; returns a change of status.
    pub fn update(
        &mut self,
        config: &RiskConfig,
        departure: &str,
        p: f64,
        now: Millis,
    ) -> Option<RiskStatus> {
        let s = self.states.entry(departure.to_owned()).or_default();
        let (crossing, hold_min) = if s.raised {
            (p <= config.p_clear, config.clear_after_min)
        } else {
            (p >= config.p_raise, config.raise_after_min)
        };
        if !crossing {
            s.crossing_since = None;
            return None;
        }
        let since = *s.crossing_since.get_or_insert(now);
        let held = (now - since) as f64 >= hold_min * 60_000.0;
        if held || (!s.raised && p >= config.p_raise_now) {
            s.raised = !s.raised;
            s.crossing_since = None;
            return Some(if s.raised {
                RiskStatus::Raised
            } else {
                RiskStatus::Cleared
            });
        }
        None
    }

    pub fn is_raised(&self, departure: &str) -> bool {
        self.states.get(departure).is_some_and(|s| s.raised)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Millis = 60_000;

    #[test]
    fn noise_around_the_threshold_does_not_flap() {
        let c = RiskConfig::default();
        let mut r = RiskTracker::default();
        let mut changes = 0;
        for i in 0..200 {
            let p = if i % 2 == 0 { 0.55 } else { 0.45 };
            changes += r.update(&c, "D", p, i * M).is_some() as usize;
        }
        assert_eq!(changes, 0);
    }

    #[test]
    fn sustained_risk_is_raised_then_cleared_once() {
        let c = RiskConfig::default();
        let mut r = RiskTracker::default();
        let mut log = Vec::new();
        for i in 0..120 {
            let p = match i {
                0..=9 => 0.1,
                10..=59 => 0.7,
                60..=69 => 0.3, // in the band: stays raised
                _ => 0.05,
            };
            if let Some(s) = r.update(&c, "D", p, i * M) {
                log.push((i, s));
            }
        }
        assert_eq!(
            log,
            vec![(15, RiskStatus::Raised), (90, RiskStatus::Cleared)]
        );
    }

    #[test]
    fn a_near_certain_miss_is_raised_at_once() {
        let c = RiskConfig::default();
        let mut r = RiskTracker::default();
        assert_eq!(r.update(&c, "D", 0.97, 0), Some(RiskStatus::Raised));
        assert!(r.is_raised("D"));
    }
}
