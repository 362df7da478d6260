//! The site planner in the agent: fed from the log (plans, then events in seq
//! order), deciding in rounds at multiples of `round_s`, its decisions logged
//! as events and published as JSON. Because every input is in the log and
//! rounds fall on fixed times, replaying the log reproduces the decisions.

use std::collections::VecDeque;
use std::time::Duration;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio_util::sync::CancellationToken;

use crate::config::{AgentConfig, PlanningConfig};
use crate::domain::time::Clock;
use crate::domain::{Decision, EventBody, Millis, SitePlan, StoredEvent};
use crate::ingest::site_mqtt::AckTicket;
use crate::link::{self, LinkError};
use crate::plan::docks::live::DockPlanner;
use crate::plan::Planner;
use crate::store::{Identity, LogReader, Outbox, Outcome, Record, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    #[error("planning: {0}")]
    Store(#[from] StoreError),
    #[error("planning: {0}")]
    Link(#[from] LinkError),
    #[error("planning.plan_file {path}: {why}\n    fix: give a site plan as JSON (see examples/plan.json and the README's site plan section)")]
    PlanFile {
        path: std::path::PathBuf,
        why: String,
    },
}

/// Rounds run this long after their time, so that every event received
/// before it is committed (and a replay sees the same events).
const ROUND_MARGIN_MS: Millis = 1000;
const READ_CHUNK: u64 = 2000;

/// The planners fed from a log: waves, and docks when configured (which
/// take the wave planner's staging forecast each round).
pub struct LogPlanner {
    planner: Planner,
    docks: Option<DockPlanner>,
    reader: LogReader,
    /// The next event (seq) to hand to the planner.
    next_seq: i64,
    /// Read but not yet due (received after the round being run).
    pending: VecDeque<StoredEvent>,
    /// The last plan version applied (or found unusable).
    plan_version: u64,
}

impl LogPlanner {
    /// Start at `from`: events received before it are not replayed.
    pub fn new(
        config: &PlanningConfig,
        reader: LogReader,
        from: Millis,
    ) -> Result<Self, StoreError> {
        let next_seq = reader.first_seq_since(from)?;
        Ok(LogPlanner {
            planner: Planner::new(config.waves.clone()),
            docks: config.docks.clone().map(DockPlanner::new),
            reader,
            next_seq,
            pending: VecDeque::new(),
            plan_version: 0,
        })
    }

    pub fn planner(&self) -> &Planner {
        &self.planner
    }

    /// Run the round at `t`: plans received by then, events received by then
    /// (in seq order, up to the first received later), then decide.
    pub fn round(&mut self, t: Millis) -> Result<Vec<Decision>, StoreError> {
        for stored in self.reader.plans_after(self.plan_version)? {
            if stored.received_at > t {
                break;
            }
            self.plan_version = stored.version;
            match serde_json::from_str::<SitePlan>(&stored.body) {
                Ok(mut plan) => {
                    // Central's version orders plans; the body's may be stale.
                    plan.version = stored.version;
                    match self.planner.set_plan(plan, stored.received_at) {
                        Ok(true) => {
                            if let (Some(docks), Some(plan)) =
                                (&mut self.docks, self.planner.plan())
                            {
                                docks.set_plan(plan, stored.received_at);
                            }
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::error!(version = stored.version, error = %e, "planning: plan not usable; keeping the previous one");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(version = stored.version, error = %e, "planning: plan is not a site plan; keeping the previous one");
                }
            }
        }
        loop {
            if self.pending.is_empty() {
                self.reader
                    .events_since(self.next_seq - 1, Some(READ_CHUNK), |e| {
                        self.pending.push_back(e);
                        Ok(())
                    })?;
            }
            let Some(e) = self.pending.front() else { break };
            if e.received_at > t {
                break;
            }
            let e = self.pending.pop_front().expect("front exists");
            self.next_seq = e.seq + 1;
            self.planner.observe(&e.body, e.received_at);
            if let Some(docks) = &mut self.docks {
                docks.observe(&e.body, e.received_at);
            }
        }
        let mut decisions = self.planner.decide(t);
        if let Some(docks) = &mut self.docks {
            let started = std::time::Instant::now();
            decisions.extend(docks.decide(t, self.planner.staged()));
            // The search stops on its round count, never on the clock (a
            // replay must decide the same); the budget only warns.
            let took = started.elapsed();
            if took.as_millis() > u128::from(docks.config().budget_ms) {
                tracing::warn!(
                    took_ms = took.as_millis() as u64,
                    budget_ms = docks.config().budget_ms,
                    "planning: dock replan over its budget; lower planning.docks.max_rounds"
                );
            }
            // Loading lists go out ahead of the round's wave releases, so
            // the WMS and the dock displays have them before picking starts.
            decisions.sort_by_key(|d| !matches!(d, Decision::LoadingList { .. }));
        }
        Ok(decisions)
    }
}

/// The first round at or after `t`.
pub fn round_at_or_after(t: Millis, round_ms: Millis) -> Millis {
    t.div_euclid(round_ms) * round_ms
        + if t.rem_euclid(round_ms) == 0 {
            0
        } else {
            round_ms
        }
}

/// Where a replay on start begins: the last multiple of `replay_h` hours.
pub fn replay_start(now: Millis, replay_h: u64) -> Millis {
    let period = replay_h as i64 * 3_600_000;
    now.div_euclid(period) * period
}

/// The planning task of the agent.
pub struct Planning {
    config: PlanningConfig,
    site: String,
    log: LogPlanner,
    publisher: MqttOptions,
    /// When this process began: rounds from then on are its own and are
    /// published, however long catching up with the log takes.
    started: Millis,
    clock: Clock,
}

impl Planning {
    /// Store `plan_file` (if any) as a plan, then open the planner on the log.
    /// Built before any source starts.
    pub fn new(
        agent: &AgentConfig,
        config: &PlanningConfig,
        clock: Clock,
    ) -> Result<Planning, PlanningError> {
        let started = clock.now_ms();
        if let Some(path) = &config.plan_file {
            let why = |e: String| PlanningError::PlanFile {
                path: path.clone(),
                why: e,
            };
            let text = std::fs::read_to_string(path).map_err(|e| why(e.to_string()))?;
            let plan: SitePlan = serde_json::from_str(&text).map_err(|e| why(e.to_string()))?;
            plan.validate().map_err(|e| why(e.to_string()))?;
            if plan.site != agent.site {
                return Err(why(format!(
                    "the plan is for site `{}`, this is `{}`",
                    plan.site, agent.site
                )));
            }
            let mut outbox = Outbox::open(&agent.db_path(), &agent.site)?;
            if outbox.store_plan(plan.version, plan.generated_at, &text, clock.now_ms())? {
                tracing::info!(version = plan.version, "planning: plan file stored");
            }
        }
        let reader = LogReader::open(&agent.db_path())?;
        let from = replay_start(clock.now_ms(), config.replay_h);
        let log = LogPlanner::new(config, reader, from)?;
        let publisher = link::mqtt_options(
            &agent.site_broker,
            format!("{}-decisions", agent.site_client_id()),
            64 * 1024,
        )?;
        Ok(Planning {
            config: config.clone(),
            site: agent.site.clone(),
            log,
            publisher,
            started,
            clock,
        })
    }

    /// Catch up silently to now (rounds already run before a restart), then
    /// run rounds as they fall due until `stop`.
    pub async fn run(
        mut self,
        records: flume::Sender<Record<AckTicket>>,
        stop: CancellationToken,
    ) -> Result<(), PlanningError> {
        let round_ms = self.config.round_s as i64 * 1000;
        let start = replay_start(self.clock.now_ms(), self.config.replay_h);
        let mut t = round_at_or_after(start, round_ms);
        let mut replayed = 0;
        // Silent only up to this process's start (a plan_file stored at start
        // must not be decided on unseen while a long log is replayed).
        while t + ROUND_MARGIN_MS <= self.clock.now_ms() && t < self.started {
            tokio::task::block_in_place(|| self.log.round(t))?;
            t += round_ms;
            replayed += 1;
        }
        tracing::info!(rounds = replayed, "planning: state rebuilt from the log");
        let mut options = self.publisher.clone();
        options.set_clean_session(true).set_manual_acks(false);
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        let poller = tokio::spawn(async move {
            loop {
                if let Err(e) = eventloop.poll().await {
                    tracing::debug!(error = %e, "planning: decision publisher reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        loop {
            let wait = self.clock.until(t + ROUND_MARGIN_MS);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            let decisions = tokio::task::block_in_place(|| self.log.round(t))?;
            for d in decisions {
                tracing::info!(kind = d.kind(), decision = %crate::agent::inspect::render_decision(&d), "planning: decision");
                let json = serde_json::to_vec(&d).expect("decisions serialize");
                let topic = d.topic(&self.config.topic_prefix, &self.site);
                let record = Record {
                    topic: "dockside/planner".into(),
                    received_at: self.clock.now_ms(),
                    identity: Identity::Local,
                    outcome: Outcome::Event {
                        body: EventBody::Decision(d),
                        source_id: None,
                    },
                    ack: None,
                };
                if records.send_async(record).await.is_err() {
                    break; // the writer has stopped: shutting down
                }
                // For displays and the WMS; the log is the record.
                let _ = client.try_publish(topic, QoS::AtLeastOnce, false, json);
            }
            t += round_ms;
        }
        let _ = client.disconnect().await;
        poller.abort();
        Ok(())
    }
}

/// What `dockside plan waves --replay DB` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplayReport {
    pub from: Millis,
    pub to: Millis,
    pub rounds: u64,
    /// Decisions the replay made, and those the log holds for the same span.
    pub replayed: usize,
    pub logged: usize,
    /// True when both are the same decisions in the same order.
    pub identical: bool,
    /// The first decision that differs: (replayed, logged), as JSON.
    pub first_difference: Option<(Option<String>, Option<String>)>,
    pub decisions: Vec<Decision>,
}

/// Re-run the planner over a stored log and compare with the decisions it
/// holds. Without `since`, the replay starts where the agent's would: the
/// last multiple of `replay_h` before the first plan arrived.
pub fn replay(
    reader: LogReader,
    config: &PlanningConfig,
    since: Option<Millis>,
) -> Result<ReplayReport, StoreError> {
    let round_ms = config.round_s as i64 * 1000;
    let first_plan = reader.plans_after(0)?.first().map(|p| p.received_at);
    let from = match (since, first_plan) {
        (Some(t), _) => t,
        (None, Some(t)) => replay_start(t, config.replay_h),
        (None, None) => 0,
    };
    let mut logged = Vec::new();
    let mut last_at = from;
    reader.events_since(reader.first_seq_since(from)? - 1, None, |e| {
        last_at = last_at.max(e.received_at);
        if let EventBody::Decision(d) = e.body {
            logged.push(d);
        }
        Ok(())
    })?;
    let mut log = LogPlanner::new(config, reader, from)?;
    let mut t = round_at_or_after(from, round_ms);
    let (mut rounds, mut decisions) = (0, Vec::new());
    while t <= last_at {
        decisions.extend(log.round(t)?);
        t += round_ms;
        rounds += 1;
    }
    let json = |d: Option<&Decision>| d.map(|d| serde_json::to_string(d).expect("serializes"));
    let first_difference = (0..decisions.len().max(logged.len()))
        .map(|i| (json(decisions.get(i)), json(logged.get(i))))
        .find(|(a, b)| a != b);
    Ok(ReplayReport {
        from,
        to: t - round_ms,
        rounds,
        replayed: decisions.len(),
        logged: logged.len(),
        identical: first_difference.is_none(),
        first_difference,
        decisions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_fall_on_fixed_times() {
        assert_eq!(round_at_or_after(60_000, 30_000), 60_000);
        assert_eq!(round_at_or_after(60_001, 30_000), 90_000);
        assert_eq!(replay_start(25 * 3_600_000 + 5, 24), 24 * 3_600_000);
    }
}
