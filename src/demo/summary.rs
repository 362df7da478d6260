//! The demo's closing figures: how the departures went with planning and
//! without, what reached central (exactly once), and which decisions the
//! incidents brought.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use super::doors::DoorDay;
use crate::central::store::CentralReader;
use crate::domain::decision::{RiskReason, RiskStatus};
use crate::domain::time::format_rfc3339;
use crate::domain::{Decision, EventBody, Millis};
use crate::sim::day::{Day, DayOutcome, Incident};
use crate::store::{LogReader, StoreError};

/// One run's departures and doors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFigures {
    /// Departures that carried orders.
    pub departures: usize,
    pub on_time: usize,
    pub late: usize,
    /// Sum over late departures of leave time minus cutoff.
    pub lateness_min: f64,
    /// Loading time over door time, from the first shift to the last loading.
    pub door_utilisation: f64,
    /// Gate-in to leaving, mean over vehicles.
    pub mean_dwell_min: f64,
    pub orders_deferred: usize,
}

impl RunFigures {
    pub fn of(day: &Day, outcome: &DayOutcome, doors: &DoorDay) -> RunFigures {
        let mut f = RunFigures {
            departures: doors.loadings.len(),
            on_time: 0,
            late: 0,
            lateness_min: 0.0,
            door_utilisation: 0.0,
            mean_dwell_min: 0.0,
            orders_deferred: outcome.orders_deferred,
        };
        let (mut busy, mut last, mut dwell) = (0, day.start, 0);
        for l in &doors.loadings {
            let d = &day.departures[l.departure];
            let left = l.slot.end.max(d.scheduled_at);
            if left > d.cutoff {
                f.late += 1;
                f.lateness_min += (left - d.cutoff) as f64 / 60_000.0;
            } else {
                f.on_time += 1;
            }
            busy += l.slot.end - l.slot.start;
            last = last.max(l.slot.end);
            dwell += left - day.truth[l.departure].vehicle_arrival;
        }
        let span = (last - day.start) * day.doors.len() as Millis;
        if span > 0 {
            f.door_utilisation = busy as f64 / span as f64;
        }
        if !doors.loadings.is_empty() {
            f.mean_dwell_min = dwell as f64 / doors.loadings.len() as f64 / 60_000.0;
        }
        f
    }
}

/// What reached central, counted per (site, epoch, seq) against the agent's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncFigures {
    pub site: String,
    pub epoch: String,
    /// Events in the agent's log.
    pub logged: usize,
    /// Distinct (site, epoch, seq) stored at central.
    pub at_central: usize,
    /// Logged but not at central.
    pub missing: usize,
    /// Stored at central more than once, or not in the log.
    pub duplicates: usize,
    /// Source messages the agent dropped as redeliveries.
    pub redeliveries_dropped: i64,
    /// Most events waiting for central at once (sampled), and when.
    pub peak_backlog: i64,
    pub peak_backlog_at: Option<Millis>,
    pub outages: Vec<Outage>,
}

/// An uplink outage as the agent lived it (the backlog sampled).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    pub from: Millis,
    pub until: Option<Millis>,
    /// Backlog just before the link dropped.
    pub backlog_before: i64,
    pub peak_backlog: i64,
    /// When the backlog was back to where it was before (or lower).
    pub drained_at: Option<Millis>,
}

impl Outage {
    /// Follow the outages through backlog samples.
    pub fn watch(outages: &mut Vec<Outage>, now: Millis, link_up: bool, backlog: i64, before: i64) {
        let open = outages.last_mut().filter(|o| o.drained_at.is_none());
        match (open, link_up) {
            (None, false) => outages.push(Outage {
                from: now,
                until: None,
                backlog_before: before,
                peak_backlog: backlog,
                drained_at: None,
            }),
            (Some(o), _) => {
                o.peak_backlog = o.peak_backlog.max(backlog);
                if link_up && o.until.is_none() {
                    o.until = Some(now);
                }
                if o.until.is_some() && backlog <= o.backlog_before.max(20) {
                    o.drained_at = Some(now);
                }
            }
            (None, true) => {}
        }
    }
}

impl SyncFigures {
    pub fn count(agent_db: &Path, central_db: &Path) -> Result<SyncFigures, StoreError> {
        let log = LogReader::open(agent_db)?;
        let summary = log.summary()?;
        let mut seqs = Vec::new();
        log.events_since(0, None, |e| {
            seqs.push(e.seq);
            Ok(())
        })?;
        let mut stored: HashMap<i64, usize> = HashMap::new();
        for e in CentralReader::open(central_db)?.events(&summary.site, &summary.epoch)? {
            *stored.entry(e.seq).or_default() += 1;
        }
        let logged: std::collections::HashSet<i64> = seqs.iter().copied().collect();
        let missing = seqs.iter().filter(|s| !stored.contains_key(s)).count();
        let duplicates = stored
            .iter()
            .map(|(seq, n)| if logged.contains(seq) { n - 1 } else { *n })
            .sum();
        Ok(SyncFigures {
            site: summary.site,
            epoch: summary.epoch,
            logged: seqs.len(),
            at_central: stored.len(),
            missing,
            duplicates,
            redeliveries_dropped: summary.duplicates_dropped,
            peak_backlog: 0,
            peak_backlog_at: None,
            outages: Vec::new(),
        })
    }
}

/// What an incident brought, as the agent logged it (or, for doors, as the
/// demo's sequencer replanned).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentOutcome {
    pub incident: String,
    pub at: Millis,
    /// Departures raised at risk because of it.
    pub risks: Vec<String>,
    /// Re-plans: deferrals proposed, departures retimed, vehicles moved to other doors.
    pub replans: Vec<String>,
    /// What became of it, where no decision names it.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub site: String,
    pub speed: f64,
    pub from: Millis,
    pub to: Millis,
    pub lines: usize,
    pub lines_picked: u64,
    pub waves_released: usize,
    pub plans_pushed: u64,
    pub device_messages: u64,
    /// The live run: the agent's wave releases, doors by the sequencer.
    pub planned: RunFigures,
    /// The same day with waves at their planned times and doors first come first served.
    pub unplanned: RunFigures,
    pub sync: SyncFigures,
    /// Decisions in the agent's log, by kind.
    pub decisions: BTreeMap<String, usize>,
    pub incidents: Vec<IncidentOutcome>,
}

/// Decisions the agent logged, in order.
pub fn logged_decisions(agent_db: &Path) -> Result<Vec<Decision>, StoreError> {
    let mut out = Vec::new();
    LogReader::open(agent_db)?.events_since(0, None, |e| {
        if let EventBody::Decision(d) = e.body {
            out.push(d);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Match each incident with the decisions that followed it.
pub fn incidents(day: &Day, decisions: &[Decision], doors: &DoorDay) -> Vec<IncidentOutcome> {
    let mut out = Vec::new();
    for i in &day.incidents {
        match i {
            Incident::Slowdown {
                zone, from, until, ..
            } => {
                let zone = &day.zones[*zone].id;
                let within = |at: Millis| at >= *from && at <= *until + 60 * 60_000;
                let risks = decisions
                    .iter()
                    .filter_map(|d| match d {
                        Decision::DepartureAtRisk {
                            departure,
                            status: RiskStatus::Raised,
                            reason: RiskReason::Picking { zone: z, .. },
                            at,
                            ..
                        } if z == zone && within(*at) => Some(departure.clone()),
                        _ => None,
                    })
                    .collect();
                // Deferrals by (from, to), in the order first proposed.
                let mut deferred: Vec<((&str, &str), usize)> = Vec::new();
                for d in decisions.iter().filter(|d| within(d.at())) {
                    if let Decision::OrderDeferralProposed {
                        from_departure,
                        to_departure,
                        ..
                    } = d
                    {
                        let key = (from_departure.as_str(), to_departure.as_str());
                        match deferred.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, n)) => *n += 1,
                            None => deferred.push((key, 1)),
                        }
                    }
                }
                let mut replans: Vec<String> = deferred
                    .into_iter()
                    .map(|((from, to), n)| format!("defer {n} order(s) {from} -> {to}"))
                    .collect();
                replans.extend(decisions.iter().filter(|d| within(d.at())).filter_map(
                    |d| match d {
                        Decision::DepartureRetimed {
                            departure,
                            retimed_to,
                            ..
                        } => Some(format!(
                            "retime {departure} to {}",
                            &format_rfc3339(*retimed_to)[11..16]
                        )),
                        _ => None,
                    },
                ));
                out.push(IncidentOutcome {
                    incident: format!("pick slowdown in {zone}"),
                    at: *from,
                    risks,
                    replans,
                    note: None,
                });
            }
            Incident::DoorOutage { door, from, .. } => {
                let replans = doors
                    .resequences
                    .iter()
                    .filter(|r| &r.door == door && r.at == *from)
                    .flat_map(|r| r.moved.iter())
                    .map(|(dep, a, b)| format!("resequence {dep}: {a} -> {b}"))
                    .collect();
                out.push(IncidentOutcome {
                    incident: format!("door fault at {door}"),
                    at: *from,
                    risks: Vec::new(),
                    replans,
                    note: None,
                });
            }
            Incident::LateVehicle {
                departure, delay, ..
            } => {
                let d = &day.departures[*departure];
                let note = doors
                    .loadings
                    .iter()
                    .find(|l| l.departure == *departure)
                    .map(|l| {
                        let left = l.slot.end.max(d.scheduled_at);
                        let verdict = if left > d.cutoff {
                            format!("{} min after its cutoff", (left - d.cutoff) / 60_000)
                        } else {
                            format!("{} min inside its cutoff", (d.cutoff - left) / 60_000)
                        };
                        format!(
                            "loaded at {} from {} to {}, left {verdict}",
                            day.doors[l.door],
                            hhmm(l.slot.start),
                            hhmm(l.slot.end)
                        )
                    });
                out.push(IncidentOutcome {
                    incident: format!("vehicle for {} {} min late", d.id, delay / 60_000),
                    at: day.truth[*departure].vehicle_arrival,
                    risks: Vec::new(),
                    replans: Vec::new(),
                    note,
                });
            }
            Incident::Absence { .. } => {}
        }
    }
    out
}

fn hhmm(t: Millis) -> String {
    format_rfc3339(t)[11..16].to_owned()
}

/// The summary as text for people.
pub fn render(s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "dockside demo: site {}, {} {} to {} (simulated, x{})",
        s.site,
        &format_rfc3339(s.from)[..10],
        hhmm(s.from),
        hhmm(s.to),
        s.speed
    );
    let _ = writeln!(
        o,
        "  {} order lines, {} picked; {} waves released by the agent; {} plans from central; {} device messages\n",
        s.lines, s.lines_picked, s.waves_released, s.plans_pushed, s.device_messages
    );
    let _ = writeln!(o, "  {:<26} {:>10} {:>12}", "", "planned", "unplanned");
    let row = |o: &mut String, name: &str, a: String, b: String| {
        let _ = writeln!(o, "  {name:<26} {a:>10} {b:>12}");
    };
    let (p, u) = (&s.planned, &s.unplanned);
    row(
        &mut o,
        "departures",
        p.departures.to_string(),
        u.departures.to_string(),
    );
    row(
        &mut o,
        "  on time",
        p.on_time.to_string(),
        u.on_time.to_string(),
    );
    row(&mut o, "  late", p.late.to_string(), u.late.to_string());
    row(
        &mut o,
        "total lateness",
        format!("{:.0} min", p.lateness_min),
        format!("{:.0} min", u.lateness_min),
    );
    row(
        &mut o,
        "door utilisation",
        format!("{:.0}%", p.door_utilisation * 100.0),
        format!("{:.0}%", u.door_utilisation * 100.0),
    );
    row(
        &mut o,
        "mean vehicle dwell",
        format!("{:.0} min", p.mean_dwell_min),
        format!("{:.0} min", u.mean_dwell_min),
    );
    row(
        &mut o,
        "orders deferred",
        p.orders_deferred.to_string(),
        u.orders_deferred.to_string(),
    );
    let _ = writeln!(
        o,
        "  planned: the agent released the waves over MQTT; doors by the sequencer (plan::docks, run by the demo), replanned at each door fault"
    );
    let _ = writeln!(
        o,
        "  unplanned: the same day with waves at their planned times, no triage; doors first come, first served\n"
    );
    let y = &s.sync;
    let _ = writeln!(
        o,
        "  sync: {} events in the agent's log, {} at central, {} missing, {} duplicates; {} redeliveries dropped at the site",
        y.logged, y.at_central, y.missing, y.duplicates, y.redeliveries_dropped
    );
    for u in &y.outages {
        let _ = writeln!(
            o,
            "  uplink down {} to {}: backlog {} -> {} events, drained by {}",
            hhmm(u.from),
            u.until.map_or("the end".into(), hhmm),
            u.backlog_before,
            u.peak_backlog,
            u.drained_at.map_or("the end".into(), hhmm)
        );
    }
    if let Some(at) = y.peak_backlog_at {
        let _ = writeln!(
            o,
            "  uplink backlog peaked at {} events ({}); all synced before the end",
            y.peak_backlog,
            hhmm(at)
        );
    }
    let kinds: Vec<String> = s
        .decisions
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let _ = writeln!(o, "  decisions: {}\n", kinds.join(", "));
    for i in &s.incidents {
        let _ = writeln!(o, "  {} {}:", hhmm(i.at), i.incident);
        if !i.risks.is_empty() {
            let _ = writeln!(o, "      at risk: {}", i.risks.join(", "));
        }
        for r in i.replans.iter().take(6) {
            let _ = writeln!(o, "      {r}");
        }
        if i.replans.len() > 6 {
            let _ = writeln!(o, "      ... and {} more", i.replans.len() - 6);
        }
        if let Some(note) = &i.note {
            let _ = writeln!(o, "      {note}");
        } else if i.risks.is_empty() && i.replans.is_empty() {
            let _ = writeln!(o, "      (no decision needed)");
        }
    }
    o
}
