//! Site planning, pure: no I/O, no clock; `now` is always an argument.
//!
//! [`Planner`] is a deterministic state machine. Feed it the plan
//! ([`Planner::set_plan`]), the site's events ([`Planner::observe`]) and
//! other signals ([`Planner::signal`]) in log order, and call
//! [`Planner::decide`] on a timer: the same inputs at the same times give
//! the same decisions, so a stored log can be replayed to explain them.

pub mod docks;
pub mod forecast;
pub mod model;
pub mod rates;
pub mod release;
pub mod risk;
pub mod scenario;
pub mod triage;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::domain::decision::{
    Decision, DecisionInputs, PickersFrom, ReleaseReason, RiskReason, ZoneRate,
};
use crate::domain::plan::{PlanError, PlanSignal, SitePlan};
use crate::domain::{EventBody, Millis, ScanAction};
use forecast::{DepartureExtras, Forecast, ForecastConfig, Sequencing, ZoneCapacity};
use model::{Model, Progress};
use rates::{RateConfig, Rates};
use release::ReleaseConfig;
use risk::{RiskConfig, RiskTracker};

const MIN: f64 = 60_000.0;

/// Everything the planner is tuned by. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlannerConfig {
    /// The planner releases waves (`wave_release` decisions). When false it
    /// advises only: forecasts assume waves go at their planned times.
    pub controls_release: bool,
    pub rates: RateConfig,
    pub forecast: ForecastConfig,
    pub release: ReleaseConfig,
    pub risk: RiskConfig,
    pub triage: TriageConfig,
    pub retime: RetimeConfig,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            controls_release: true,
            rates: RateConfig::default(),
            forecast: ForecastConfig::default(),
            release: ReleaseConfig::default(),
            risk: RiskConfig::default(),
            triage: TriageConfig::default(),
            retime: RetimeConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageConfig {
    /// Propose deferrals for departures raised at risk.
    pub enabled: bool,
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig { enabled: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetimeConfig {
    /// Retime a departure predicted to leave at least this late (within its cutoff).
    pub threshold_min: f64,
    /// ...and again only when the prediction moved by at least this much.
    pub step_min: f64,
}

impl Default for RetimeConfig {
    fn default() -> Self {
        RetimeConfig {
            threshold_min: 10.0,
            step_min: 10.0,
        }
    }
}

/// One input to the planner, as it happened. A log of these replays to the
/// same decisions (`Planner::apply` on each, in order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum PlannerInput {
    Plan { at: Millis, plan: SitePlan },
    Event { at: Millis, event: EventBody },
    Signal { at: Millis, signal: PlanSignal },
    Decide { at: Millis },
}

/// The site planner: waves, cutoff risk, triage.
#[derive(Debug, Clone)]
pub struct Planner {
    config: PlannerConfig,
    plan: Option<SitePlan>,
    model: Option<Model>,
    progress: Progress,
    rates: Rates,
    /// Zone id -> index in `rates` (stable across plan versions).
    rate_zone: HashMap<String, usize>,
    /// Model zone index -> rates index, for the current model.
    zone_map: Vec<usize>,
    /// Zone id -> since when it has had released work without a break.
    busy_since: HashMap<String, Millis>,
    risk: RiskTracker,
    vehicle_eta: HashMap<String, Millis>,
    door_down: HashMap<String, Millis>,
    /// Zone -> a supervisor's headcount and when it was given (for its shift).
    headcount: HashMap<String, (u32, Millis)>,
    /// (order, from departure) pairs already proposed for deferral.
    proposed: HashSet<(String, String)>,
    /// Departure -> the leave time last announced by `departure_retimed`.
    retimed: HashMap<String, Millis>,
    /// The plan changed (orders moved) since the model was built.
    stale: bool,
    /// Departure -> when its goods are predicted staged behind the door
    /// (last pick plus staging), as of the last round: the dock sequencer's
    /// earliest start.
    staged: HashMap<String, Millis>,
}

/// A snapshot of the forecast, for displays and `dockside plan waves`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub at: Millis,
    pub plan_version: u64,
    pub open_lines: u64,
    pub rates: Vec<ZoneRate>,
    pub departures: Vec<DepartureReport>,
    pub waves: Vec<WaveReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepartureReport {
    pub departure: String,
    pub carrier: String,
    pub scheduled_at: Millis,
    pub cutoff: Millis,
    pub orders: usize,
    pub remaining_lines: u64,
    pub predicted_ready: Millis,
    pub slack_ms: i64,
    pub probability: f64,
    pub at_risk: bool,
    pub reason: RiskReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveReport {
    pub wave: String,
    pub planned_release: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<Millis>,
    /// Position among waves still to release (0 = next).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<usize>,
    /// Earliest the planner would release it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earliest_release: Option<Millis>,
    pub remaining_lines: u64,
}

impl Planner {
    pub fn new(config: PlannerConfig) -> Planner {
        let rates = Rates::new(config.rates.clone(), &[]);
        Planner {
            config,
            plan: None,
            model: None,
            progress: Progress::default(),
            rates,
            rate_zone: HashMap::new(),
            zone_map: Vec::new(),
            busy_since: HashMap::new(),
            risk: RiskTracker::default(),
            vehicle_eta: HashMap::new(),
            door_down: HashMap::new(),
            headcount: HashMap::new(),
            proposed: HashSet::new(),
            retimed: HashMap::new(),
            stale: false,
            staged: HashMap::new(),
        }
    }

    pub fn config(&self) -> &PlannerConfig {
        &self.config
    }

    pub fn plan(&self) -> Option<&SitePlan> {
        self.plan.as_ref()
    }

    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    /// Per departure with orders, when its goods are predicted staged (the
    /// forecast of the last [`Planner::decide`]).
    pub fn staged(&self) -> &HashMap<String, Millis> {
        &self.staged
    }

    /// Apply a plan. Returns false (and keeps the current one) when its
    /// version is not newer than the plan in force.
    pub fn set_plan(&mut self, plan: SitePlan, now: Millis) -> Result<bool, PlanError> {
        plan.validate()?;
        if self
            .plan
            .as_ref()
            .is_some_and(|p| p.version >= plan.version)
        {
            return Ok(false);
        }
        self.plan = Some(plan);
        self.rebuild(now);
        Ok(true)
    }

    fn rebuild(&mut self, now: Millis) {
        self.stale = false;
        let Some(plan) = &self.plan else { return };
        let model = Model::build(plan, &mut self.progress);
        let mut standards = vec![0.0; self.rates.zone_count()];
        self.zone_map = model
            .zones
            .iter()
            .map(|z| {
                let next = self.rate_zone.len();
                let ix = *self.rate_zone.entry(z.id.clone()).or_insert(next);
                if ix >= standards.len() {
                    standards.resize(ix + 1, 0.0);
                }
                standards[ix] = z.standard_lph;
                ix
            })
            .collect();
        // Zones dropped from the plan keep their last standard.
        for (ix, s) in standards.iter_mut().enumerate() {
            if *s == 0.0 {
                *s = self.rates.estimate(ix, now).per_picker_lpm.max(1e-6) * 60.0;
            }
        }
        self.rates.ensure_zones(&standards);
        for (z, zone) in model.zones.iter().enumerate() {
            if model.backlog[z] == 0 {
                self.busy_since.remove(&zone.id);
            } else {
                self.busy_since.entry(zone.id.clone()).or_insert(now);
            }
        }
        self.model = Some(model);
    }

    /// Apply one input; only `Decide` returns decisions.
    pub fn apply(&mut self, input: &PlannerInput) -> Result<Vec<Decision>, PlanError> {
        match input {
            PlannerInput::Plan { at, plan } => self.set_plan(plan.clone(), *at).map(|_| Vec::new()),
            PlannerInput::Event { at, event } => {
                self.observe(event, *at);
                Ok(Vec::new())
            }
            PlannerInput::Signal { at, signal } => {
                self.signal(signal, *at);
                Ok(Vec::new())
            }
            PlannerInput::Decide { at } => Ok(self.decide(*at)),
        }
    }

    /// Take in a site event (pick scans, pick completions, wave releases).
    pub fn observe(&mut self, event: &EventBody, _now: Millis) {
        match event {
            EventBody::Scan {
                action: ScanAction::Pick,
                order: Some(order),
                line,
                code,
                scanner,
                at,
                ..
            } => self.pick(order, line.as_deref(), Some(code), Some(scanner), *at),
            EventBody::PickComplete {
                order,
                line: Some(line),
                scanner,
                at,
                ..
            } => self.pick(order, Some(line), None, scanner.as_deref(), *at),
            EventBody::PickComplete {
                order,
                line: None,
                at,
                ..
            } => {
                // The whole order: lines not scanned one by one give no rate.
                let lines: Vec<String> = self
                    .model
                    .as_ref()
                    .and_then(|m| m.order_ix.get(order).map(|&o| &m.orders[o]))
                    .map(|o| {
                        o.lines
                            .iter()
                            .filter(|l| !l.picked)
                            .map(|l| l.id.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for line in lines {
                    self.pick(order, Some(&line), None, None, *at);
                }
            }
            EventBody::WaveReleased { wave, at } => {
                let wi = self
                    .model
                    .as_ref()
                    .and_then(|m| m.wave_ix.get(wave).copied());
                match wi {
                    Some(wi) => self.release(wi, *at),
                    // The WMS may release before central's plan reaches us.
                    None => self.progress.release_unknown(wave, *at),
                }
            }
            _ => {}
        }
    }

    fn pick(
        &mut self,
        order: &str,
        line: Option<&str>,
        code: Option<&str>,
        picker: Option<&str>,
        at: Millis,
    ) {
        let Some(&oi) = self.model.as_ref().and_then(|m| m.order_ix.get(order)) else {
            // Kept for when the plan brings the order (no rate: no zone yet).
            self.progress.pick_unknown(order, line, code, at);
            return;
        };
        let Some(model) = self.model.as_mut() else {
            return;
        };
        let wave = model.orders[oi].wave;
        let was_released = model.waves[wave].released.is_some();
        let Some(picked) = model.pick(oi, line, code, at, &mut self.progress) else {
            return;
        };
        let zone_id = model.zones[picked.zone].id.clone();
        if !was_released {
            self.busy_since.entry(zone_id.clone()).or_insert(at);
        }
        let rz = self.zone_map[picked.zone];
        if let Some(p) = picker {
            self.rates.pick(rz, p, at);
        }
        if picked.zone_idle {
            self.rates.zone_idle(rz);
            self.busy_since.remove(&zone_id);
        }
    }

    fn release(&mut self, wave: usize, at: Millis) {
        let Some(model) = self.model.as_mut() else {
            return;
        };
        for z in model.release(wave, at, &mut self.progress) {
            self.rates.zone_idle(self.zone_map[z]);
            self.busy_since.insert(model.zones[z].id.clone(), at);
        }
    }

    /// Take in a signal from outside the scan stream.
    pub fn signal(&mut self, signal: &PlanSignal, _now: Millis) {
        match signal {
            PlanSignal::VehicleEta { departure, eta, .. } => {
                self.vehicle_eta.insert(departure.clone(), *eta);
            }
            PlanSignal::DoorOutage { door, until, .. } => {
                self.door_down.insert(door.clone(), *until);
            }
            PlanSignal::Headcount { zone, pickers, at } => {
                self.headcount.insert(zone.clone(), (*pickers, *at));
            }
            PlanSignal::OrderMoved {
                order, departure, ..
            } => {
                let released = &self.progress.released;
                let moved = self
                    .plan
                    .as_mut()
                    .is_some_and(|p| p.move_order(order, departure, |w| released.contains_key(w)));
                // Moves come in bunches: rebuild once, before the next round.
                // Picks meanwhile are keyed by order and line, so none is lost.
                self.stale |= moved;
            }
        }
    }

    /// Each zone's capacity now, and the same as reported in decisions.
    fn capacities(&self, model: &Model, now: Millis) -> (Vec<ZoneCapacity>, Vec<ZoneRate>) {
        let window = (self.config.rates.active_window_min * MIN) as Millis;
        let horizon = now + 24 * 3_600_000;
        model
            .zones
            .iter()
            .enumerate()
            .map(|(z, zone)| {
                let rz = self.zone_map[z];
                let rate = self.rates.estimate(rz, now);
                let shift_start = zone.shift_start(now);
                // A supervisor's headcount holds for the shift it was given in.
                let planned = match self.headcount.get(&zone.id) {
                    Some(&(n, at)) if zone.shift_start(at) == shift_start && at <= now => n,
                    _ => zone.planned_at(now),
                };
                let since = shift_start.unwrap_or(Millis::MIN);
                let scans = self.rates.active_pickers(rz, now, since);
                // Scans tell who is picking only once the zone has had work
                // (and the shift has run) for a whole window; before that,
                // absent scans prove nothing.
                let settled = self
                    .busy_since
                    .get(&zone.id)
                    .is_some_and(|&t| now - t.max(since) >= window);
                let (pickers, from) = if scans > 0 && (settled || scans >= planned) {
                    (scans, PickersFrom::Scans)
                } else {
                    (planned, PickersFrom::Headcount)
                };
                let changes = zone
                    .changes_after(now)
                    .into_iter()
                    .filter(|&t| t <= horizon)
                    .map(|t| (t, zone.planned_at(t)))
                    .collect();
                let mut cap = ZoneCapacity {
                    rate,
                    pickers,
                    changes,
                    availability: self.config.rates.availability,
                    now,
                    reversion_ms: self.config.rates.reversion_min * MIN,
                    bucket_min: self.config.rates.bucket_min,
                    curve: Vec::new(),
                    tail_lpm: 0.0,
                };
                cap.tabulate((horizon - now) as f64);
                let reported = ZoneRate {
                    zone: zone.id.clone(),
                    lines_per_hour: round(rate.per_picker_lpm * 60.0, 10.0),
                    sd_lines_per_hour: round(
                        rate.per_picker_lpm
                            * 60.0
                            * (rate.bucket_rel_var + rate.estimate_rel_var).sqrt(),
                        10.0,
                    ),
                    pickers,
                    pickers_from: from,
                    observed_lines: round(rate.observed_lines, 10.0),
                    backlog_lines: model.backlog[z],
                };
                (cap, reported)
            })
            .unzip()
    }

    fn sequencing(&self) -> Sequencing {
        if self.config.controls_release {
            Sequencing::Planner {
                // A zone running dry pulls work this far ahead (see release).
                lead_ms: self.config.release.idle_lead_ms(),
            }
        } else {
            Sequencing::Planned
        }
    }

    fn run_forecast(&self, model: &Model, caps: &[ZoneCapacity], now: Millis) -> Forecast {
        let extras = |d: usize| {
            let dep = &model.departures[d];
            DepartureExtras {
                vehicle_at: self.vehicle_eta.get(&dep.id).copied().or(dep.vehicle_due),
                door_down: dep
                    .door
                    .as_deref()
                    .and_then(|door| self.door_down.get(door).map(|&u| (door, u))),
            }
        };
        forecast::forecast(
            model,
            caps,
            &extras,
            self.sequencing(),
            &self.config.forecast,
            now,
        )
    }

    /// The forecast as of `now`, without deciding anything.
    pub fn report(&self, now: Millis) -> Option<Report> {
        let fresh;
        let model = match (&self.plan, self.stale) {
            (Some(plan), true) => {
                fresh = Model::build(plan, &mut self.progress.clone());
                &fresh
            }
            _ => self.model.as_ref()?,
        };
        let (caps, rates) = self.capacities(model, now);
        let fc = self.run_forecast(model, &caps, now);
        let departures = model
            .departures
            .iter()
            .zip(&fc.departures)
            .map(|(d, f)| DepartureReport {
                departure: d.id.clone(),
                carrier: d.carrier.clone(),
                scheduled_at: d.scheduled_at,
                cutoff: d.cutoff,
                orders: d.orders.len(),
                remaining_lines: f.remaining_lines,
                predicted_ready: f.ready,
                slack_ms: f.slack_ms,
                probability: round(f.p_miss, 1000.0),
                at_risk: self.risk.is_raised(&d.id),
                reason: f.reason.clone(),
            })
            .collect();
        let waves = model
            .waves
            .iter()
            .enumerate()
            .map(|(wi, w)| {
                let pos = fc.pending.iter().position(|&(p, _)| p == wi);
                WaveReport {
                    wave: w.id.clone(),
                    planned_release: w.planned_release,
                    released_at: w.released.map(|(at, _)| at),
                    sequence: pos,
                    earliest_release: pos.map(|p| fc.pending[p].1),
                    remaining_lines: model.wave_remaining(wi).iter().map(|(_, n)| n).sum(),
                }
            })
            .collect();
        Some(Report {
            at: now,
            plan_version: model.version,
            open_lines: model.open_lines(),
            rates,
            departures,
            waves,
        })
    }

    /// One decision round at `now`.
    pub fn decide(&mut self, now: Millis) -> Vec<Decision> {
        if self.stale {
            self.rebuild(now);
        }
        let Some(model) = self.model.as_ref() else {
            return Vec::new();
        };
        let (caps, rates) = self.capacities(model, now);
        let inputs = DecisionInputs {
            plan_version: model.version,
            rates,
        };
        let fc = self.run_forecast(model, &caps, now);
        self.staged = model
            .departures
            .iter()
            .zip(&fc.departures)
            .filter(|(d, _)| !d.orders.is_empty())
            .map(|(d, f)| (d.id.clone(), f.pick_done + d.load.staging_ms()))
            .collect();
        let mut out = Vec::new();

        if self.config.controls_release {
            let chosen = release::choose(model, &fc, &caps, &self.config.release, now);
            let mut releases = Vec::with_capacity(chosen.len());
            for wi in chosen {
                let w = &model.waves[wi];
                let deps = model.wave_departures(wi);
                releases.push(Decision::WaveRelease {
                    wave: w.id.clone(),
                    departures: deps
                        .iter()
                        .map(|&d| model.departures[d].id.clone())
                        .collect(),
                    lines: model.wave_remaining(wi).iter().map(|(_, n)| n).sum(),
                    reason: if now < w.planned_release {
                        ReleaseReason::KeepPickersBusy
                    } else {
                        ReleaseReason::LeastSlack
                    },
                    slack_ms: deps
                        .iter()
                        .map(|&d| fc.departures[d].slack_ms)
                        .min()
                        .unwrap_or(0),
                    at: now,
                    inputs: inputs.clone(),
                });
            }
            let chosen: Vec<usize> = releases
                .iter()
                .filter_map(|d| match d {
                    Decision::WaveRelease { wave, .. } => model.wave_ix.get(wave).copied(),
                    _ => None,
                })
                .collect();
            for wi in chosen {
                self.release(wi, now);
            }
            out.extend(releases);
        }

        let model = self.model.as_ref().expect("still there");
        for (di, d) in model.departures.iter().enumerate() {
            if d.orders.is_empty() || d.cutoff <= now {
                continue;
            }
            let f = &fc.departures[di];
            if let Some(status) = self.risk.update(&self.config.risk, &d.id, f.p_miss, now) {
                out.push(Decision::DepartureAtRisk {
                    departure: d.id.clone(),
                    status,
                    probability: round(f.p_miss, 1000.0),
                    slack_ms: f.slack_ms,
                    predicted_ready: f.ready,
                    cutoff: d.cutoff,
                    reason: f.reason.clone(),
                    at: now,
                    inputs: inputs.clone(),
                });
            }
        }

        if self.config.triage.enabled {
            for (oi, to) in self.triage(model, &fc, &caps, now) {
                let o = &model.orders[oi];
                let from = &model.departures[o.departure];
                self.proposed.insert((o.id.clone(), from.id.clone()));
                out.push(Decision::OrderDeferralProposed {
                    order: o.id.clone(),
                    from_departure: from.id.clone(),
                    to_departure: model.departures[to].id.clone(),
                    stop: o.stop.clone(),
                    remaining_lines: u64::from(o.remaining_total),
                    predicted_ready: fc.orders[oi].pick_done + from.after_pick_ms(),
                    cutoff: from.cutoff,
                    at: now,
                    inputs: inputs.clone(),
                });
            }
        }

        let step = (self.config.retime.step_min * MIN) as Millis;
        let threshold = (self.config.retime.threshold_min * MIN) as Millis;
        for (di, d) in model.departures.iter().enumerate() {
            if d.orders.is_empty() || d.cutoff <= now {
                continue;
            }
            let f = &fc.departures[di];
            let leave = f.ready.max(d.scheduled_at);
            let announced = self.retimed.get(&d.id).copied();
            let shown = announced.unwrap_or(d.scheduled_at);
            let new_time = if f.ready > d.cutoff {
                None // at risk, not a retime
            } else if leave - d.scheduled_at >= threshold && (leave - shown).abs() >= step {
                Some(ceil_minute(leave))
            } else if announced.is_some() && leave - d.scheduled_at < threshold / 2 {
                Some(d.scheduled_at)
            } else {
                None
            };
            if let Some(to) = new_time {
                if to == d.scheduled_at {
                    self.retimed.remove(&d.id);
                } else {
                    self.retimed.insert(d.id.clone(), to);
                }
                out.push(Decision::DepartureRetimed {
                    departure: d.id.clone(),
                    scheduled_at: d.scheduled_at,
                    retimed_to: to,
                    cutoff: d.cutoff,
                    predicted_ready: f.ready,
                    at: now,
                    inputs: inputs.clone(),
                });
            }
        }
        out
    }

    /// Orders to move: Moore–Hodgson over the orders not yet released, with
    /// released work ahead of them; removable are only orders predicted to
    /// miss, of departures raised at risk for picking, with a later
    /// departure to go to. Released late orders are proposed directly.
    fn triage(
        &self,
        model: &Model,
        fc: &Forecast,
        caps: &[ZoneCapacity],
        now: Millis,
    ) -> Vec<(usize, usize)> {
        let target = |oi: usize| -> Option<usize> {
            let o = &model.orders[oi];
            let d = &model.departures[o.departure];
            if d.cutoff <= now
                || !self.risk.is_raised(&d.id)
                || !matches!(
                    fc.departures[o.departure].reason,
                    RiskReason::Picking { .. }
                )
                || fc.orders[oi].pick_done + d.after_pick_ms() <= d.cutoff
                || self.proposed.contains(&(o.id.clone(), d.id.clone()))
            {
                return None;
            }
            let plan = self.plan.as_ref()?;
            let to = plan.deferral_target(&d.id, &o.stop)?;
            model.departure_ix.get(&to.id).copied()
        };
        let mut out = Vec::new();
        let base: Vec<f64> = model.backlog.iter().map(|&n| n as f64).collect();
        let mut jobs = Vec::new();
        let mut job_orders = Vec::new();
        let mut targets = Vec::new();
        for (oi, o) in model.orders.iter().enumerate() {
            if o.remaining.is_empty() {
                continue;
            }
            if model.waves[o.wave].released.is_some() {
                if let Some(to) = target(oi) {
                    out.push((oi, to));
                }
                continue;
            }
            let d = &model.departures[o.departure];
            let t = target(oi);
            let due = d.pick_due();
            jobs.push(triage::Job {
                due: due as f64,
                work: o
                    .remaining
                    .iter()
                    .map(|&(z, n)| triage::Task {
                        zone: z,
                        amount: f64::from(n),
                        due: caps
                            .get(z)
                            .map_or(0.0, |c| c.lines_between(now as f64, due as f64)),
                    })
                    .collect(),
                removable: t.is_some(),
            });
            job_orders.push(oi);
            targets.push(t);
        }
        for j in triage::moore_hodgson(&jobs, &base).removed {
            if let Some(to) = targets[j] {
                out.push((job_orders[j], to));
            }
        }
        out.sort_unstable();
        out
    }
}

fn round(x: f64, per: f64) -> f64 {
    (x * per).round() / per
}

fn ceil_minute(t: Millis) -> Millis {
    let m = 60_000;
    (t + m - 1).div_euclid(m) * m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::{Departure, LoadModel, Order, OrderLine, Stop, Wave, Zone};
    use proptest::prelude::*;

    const T0: Millis = 1_795_586_400_000; // 2026-11-25T06:00:00Z
    const MIN_MS: Millis = 60_000;

    /// departures: cutoff offsets (min); waves: (departure, planned offset,
    /// released, orders as lists of line zones).
    type WaveSpec = (usize, i64, bool, Vec<Vec<usize>>);

    fn plan(zones: usize, cutoffs: &[i64], waves: &[WaveSpec]) -> SitePlan {
        SitePlan {
            site: "p".into(),
            version: 1,
            generated_at: T0,
            zones: (0..zones)
                .map(|z| Zone {
                    id: format!("z{z}"),
                    standard_lines_per_hour: 60.0 + 20.0 * z as f64,
                    headcount: 1 + z as u32,
                    shifts: Vec::new(),
                })
                .collect(),
            departures: cutoffs
                .iter()
                .enumerate()
                .map(|(i, &c)| Departure {
                    id: format!("D{i}"),
                    carrier: "C".into(),
                    scheduled_at: T0 + (c - 20) * MIN_MS,
                    cutoff: T0 + c * MIN_MS,
                    door: None,
                    vehicle_due: None,
                    stops: vec![Stop {
                        id: "s".into(),
                        name: None,
                    }],
                    load: LoadModel {
                        staging_s: 300.0,
                        fixed_s: 600.0,
                        per_line_s: 4.0,
                    },
                })
                .collect(),
            waves: waves
                .iter()
                .enumerate()
                .map(|(w, (d, planned, _, orders))| Wave {
                    id: format!("W{w}"),
                    planned_release: T0 + planned * MIN_MS,
                    orders: orders
                        .iter()
                        .enumerate()
                        .map(|(o, lines)| Order {
                            id: format!("W{w}-O{o}"),
                            departure: format!("D{}", d % cutoffs.len()),
                            stop: "s".into(),
                            locked: false,
                            lines: lines
                                .iter()
                                .enumerate()
                                .map(|(l, &z)| OrderLine {
                                    id: format!("{l}"),
                                    sku: None,
                                    zone: format!("z{}", z % zones),
                                    qty: 1,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Predicted ready time per departure, advising (waves go at their
    /// planned times, released ones in release order).
    fn ready(plan: &SitePlan, waves: &[WaveSpec], headcount: Option<u32>) -> Vec<Millis> {
        let mut p = Planner::new(PlannerConfig {
            controls_release: false,
            ..PlannerConfig::default()
        });
        p.set_plan(plan.clone(), T0).expect("valid");
        for (w, spec) in waves.iter().enumerate() {
            if spec.2 {
                let wave = format!("W{w}");
                p.observe(&EventBody::WaveReleased { wave, at: T0 }, T0);
            }
        }
        if let Some(n) = headcount {
            for z in &plan.zones {
                let signal = PlanSignal::Headcount {
                    zone: z.id.clone(),
                    pickers: z.headcount + n,
                    at: T0,
                };
                p.signal(&signal, T0);
            }
        }
        let report = p.report(T0 + 5 * MIN_MS).expect("a plan");
        report
            .departures
            .iter()
            .map(|d| d.predicted_ready)
            .collect()
    }

    fn spec() -> impl Strategy<Value = (usize, Vec<i64>, Vec<WaveSpec>)> {
        (
            1usize..4,
            prop::collection::vec(120i64..600, 1..4),
            prop::collection::vec(
                (
                    0usize..4,
                    0i64..240,
                    any::<bool>(),
                    prop::collection::vec(prop::collection::vec(0usize..3, 1..5), 1..6),
                ),
                1..6,
            ),
        )
    }

    proptest! {
        #[test]
        fn more_remaining_work_never_gives_an_earlier_ready_time(
            (zones, cutoffs, waves) in spec(),
            pick in (any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0usize..3),
        ) {
            let before = ready(&plan(zones, &cutoffs, &waves), &waves, None);
            let mut more = waves.clone();
            let w = pick.0.index(more.len());
            let o = pick.1.index(more[w].3.len());
            more[w].3[o].push(pick.2);
            let after = ready(&plan(zones, &cutoffs, &more), &more, None);
            for (d, (b, a)) in before.iter().zip(&after).enumerate() {
                prop_assert!(a >= b, "departure D{d}: {b} with less work, {a} with more");
            }
        }

        #[test]
        fn more_pickers_never_give_a_later_ready_time(
            (zones, cutoffs, waves) in spec(),
            extra in 1u32..4,
        ) {
            let p = plan(zones, &cutoffs, &waves);
            let before = ready(&p, &waves, None);
            let after = ready(&p, &waves, Some(extra));
            for (d, (b, a)) in before.iter().zip(&after).enumerate() {
                prop_assert!(a <= b, "departure D{d}: {b} before, {a} with more pickers");
            }
        }
    }
}
