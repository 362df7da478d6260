//! `dockside plan waves --input FILE`: a plan and what happened since, run
//! through the planner as the agent would (a decision round every
//! `round_s`), giving every decision made and the forecast at the end.

use serde::{Deserialize, Serialize};

use super::{Planner, PlannerConfig, PlannerInput, Report};
use crate::domain::plan::{PlanError, PlanSignal, SitePlan};
use crate::domain::{Decision, EventBody, Millis};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub plan: SitePlan,
    #[serde(default)]
    pub config: PlannerConfig,
    /// Site events and signals, each with its `kind`, in any order.
    #[serde(default)]
    pub events: Vec<Happening>,
}

/// A site event or a planning signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Happening {
    Event(EventBody),
    Signal(PlanSignal),
}

impl Happening {
    pub fn at(&self) -> Millis {
        match self {
            Happening::Event(e) => e.at(),
            Happening::Signal(s) => s.at(),
        }
    }
}

impl Scenario {
    /// Read a scenario, or a plan alone (a scenario without events).
    pub fn from_json(text: &str) -> Result<Scenario, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        if value.get("plan").is_some() {
            serde_json::from_value(value)
        } else {
            Ok(Scenario {
                plan: serde_json::from_value(value)?,
                config: PlannerConfig::default(),
                events: Vec::new(),
            })
        }
    }
}

/// What `plan waves` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub at: Millis,
    pub decisions: Vec<Decision>,
    pub forecast: Option<Report>,
}

impl Scenario {
    /// The time a run ends at when none is given: the last event, or the plan's time.
    pub fn default_end(&self) -> Millis {
        self.events
            .iter()
            .map(Happening::at)
            .max()
            .unwrap_or(self.plan.generated_at)
            .max(self.plan.generated_at)
    }

    /// The planner's inputs from the plan's time to `end`: each event at its
    /// time, a decision round every `round_ms` and one at `end`.
    pub fn inputs(&self, end: Millis, round_ms: Millis) -> Vec<PlannerInput> {
        let start = self.plan.generated_at.min(end);
        let mut events: Vec<&Happening> = self.events.iter().filter(|e| e.at() <= end).collect();
        events.sort_by_key(|e| e.at());
        let mut out = vec![PlannerInput::Plan {
            at: start,
            plan: self.plan.clone(),
        }];
        let mut next = events.into_iter().peekable();
        let mut t = start;
        loop {
            while let Some(e) = next.next_if(|e| e.at() <= t) {
                out.push(match e {
                    Happening::Event(event) => PlannerInput::Event {
                        at: event.at(),
                        event: event.clone(),
                    },
                    Happening::Signal(signal) => PlannerInput::Signal {
                        at: signal.at(),
                        signal: signal.clone(),
                    },
                });
            }
            out.push(PlannerInput::Decide { at: t });
            if t >= end {
                return out;
            }
            t = (t + round_ms.max(1)).min(end);
        }
    }

    /// Run to `end`.
    pub fn run(&self, end: Millis, round_ms: Millis) -> Result<Outcome, PlanError> {
        let mut planner = Planner::new(self.config.clone());
        let mut decisions = Vec::new();
        for input in self.inputs(end, round_ms) {
            decisions.extend(planner.apply(&input)?);
        }
        Ok(Outcome {
            at: end,
            decisions,
            forecast: planner.report(end),
        })
    }
}
