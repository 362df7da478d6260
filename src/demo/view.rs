//! The live view: plain text redrawn in place (no terminal library: the demo
//! should build fast and run in any terminal, or in a log).

use std::collections::HashMap;
use std::io::Write;

use super::site::Progress;
use crate::agent::inspect::render_decision;
use crate::domain::decision::RiskStatus;
use crate::domain::time::format_rfc3339;
use crate::domain::{Decision, Millis};
use crate::sim::day::Day;

pub struct View {
    last: Option<std::time::Instant>,
}

/// Redraws at most this often: enough to watch, little to print.
const EVERY: std::time::Duration = std::time::Duration::from_millis(250);

fn hhmm(t: Millis) -> String {
    format_rfc3339(t)[11..16].to_owned()
}

fn mins(ms: i64) -> String {
    format!("{:+.0}m", ms as f64 / 60_000.0)
}

impl Default for View {
    fn default() -> Self {
        View::new()
    }
}

impl View {
    pub fn new() -> View {
        View { last: None }
    }

    pub fn draw(&mut self, day: &Day, p: &Progress, agent: &AgentSide, link_up: bool) {
        if self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let text = frame(day, p, agent, link_up);
        let mut out = std::io::stdout().lock();
        // Home and clear below: redraw in place without flicker.
        let _ = write!(out, "\x1b[H\x1b[J{text}");
        let _ = out.flush();
    }
}

/// What the agent's log says (read-only, beside the running agent).
#[derive(Debug, Clone, Default)]
pub struct AgentSide {
    pub backlog: Option<i64>,
    /// Each door's state as the agent logged it from Modbus.
    pub doors: HashMap<String, &'static str>,
}

/// One screen of the site's state.
pub fn frame(day: &Day, p: &Progress, agent: &AgentSide, link_up: bool) -> String {
    let backlog = agent.backlog;
    let mut o = String::new();
    let line = |o: &mut String, s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    line(
        &mut o,
        format!(
            "dockside demo — site {}   {} {}   uplink {}   backlog {}   plans from central {}",
            day.site,
            &format_rfc3339(p.now)[..10],
            hhmm(p.now),
            if link_up { "UP" } else { "DOWN" },
            backlog.map_or("?".into(), |b| format!("{b} events")),
            p.plans_pushed
        ),
    );
    line(
        &mut o,
        format!(
            "lines picked {}/{}   waves released {}/{}   deferrals accepted {}   device messages {}\n",
            p.lines_picked,
            day.line_count(),
            p.released.len(),
            day.waves.len(),
            p.deferrals_accepted,
            p.messages
        ),
    );
    line(
        &mut o,
        "DOORS (the departure at each; the agent's state from Modbus)".into(),
    );
    for chunk in p.doors.chunks(3) {
        let cells: Vec<String> = chunk
            .iter()
            .map(|d| {
                let what = d
                    .docked
                    .map_or("-".into(), |k| day.departures[k].id.clone());
                let queue = if d.queue.is_empty() {
                    String::new()
                } else {
                    format!("+{}", d.queue.len())
                };
                let state = agent.doors.get(&d.id).copied().unwrap_or("?");
                format!("{} {:<11} {:<14}{:<3}", d.id, what, state, queue)
            })
            .collect();
        line(&mut o, format!("  {}", cells.join("  ")));
    }

    // The latest word on each departure: risk or retime.
    let mut word: HashMap<&str, String> = HashMap::new();
    for d in &p.decisions {
        match d {
            Decision::DepartureAtRisk {
                departure,
                status,
                probability,
                slack_ms,
                ..
            } => {
                let s = match status {
                    RiskStatus::Raised => {
                        format!("AT RISK p={probability:.2} slack {}", mins(*slack_ms))
                    }
                    RiskStatus::Cleared => format!("cleared, slack {}", mins(*slack_ms)),
                };
                word.insert(departure, s);
            }
            Decision::DepartureRetimed {
                departure,
                retimed_to,
                ..
            } => {
                word.insert(departure, format!("retimed to {}", hhmm(*retimed_to)));
            }
            _ => {}
        }
    }
    // The agent's latest door and start for each departure.
    let mut dock: HashMap<&str, (&str, Millis)> = HashMap::new();
    for d in &p.decisions {
        if let Decision::DockAssignment {
            departure,
            door,
            planned_start,
            ..
        } = d
        {
            dock.insert(departure, (door, *planned_start));
        }
    }
    line(&mut o, "\nDEPARTURES (next to leave)".into());
    line(
        &mut o,
        format!(
            "  {:<16} {:>5} {:>6} {:>5} {:>5}  {}",
            "departure", "sched", "cutoff", "door", "dock", "planner"
        ),
    );
    for d in day.departures.iter().filter(|d| d.cutoff >= p.now).take(8) {
        let (door, start) = match dock.get(d.id.as_str()) {
            Some((door, start)) => (*door, hhmm(*start)),
            None => (d.door.as_deref().unwrap_or("-"), "-".into()),
        };
        line(
            &mut o,
            format!(
                "  {:<16} {:>5} {:>6} {:>5} {:>5}  {}",
                d.id,
                hhmm(d.scheduled_at),
                hhmm(d.cutoff),
                door,
                start,
                word.get(d.id.as_str()).map_or("on track", String::as_str)
            ),
        );
    }
    line(&mut o, "\nWAVES (latest released)".into());
    for (wave, at) in p.released.iter().rev().take(4) {
        let slack = p.decisions.iter().rev().find_map(|d| match d {
            Decision::WaveRelease {
                wave: w, slack_ms, ..
            } if w == wave => Some(*slack_ms),
            _ => None,
        });
        line(
            &mut o,
            format!(
                "  {} {:<24} forecast slack at release {}",
                hhmm(*at),
                wave,
                slack.map_or("?".into(), mins)
            ),
        );
    }
    line(&mut o, "\nDECISIONS (latest, with reasons)".into());
    for (at, text) in collapsed(&p.decisions).into_iter().take(8) {
        line(&mut o, format!("  {} {text}", hhmm(at)));
    }
    if !p.other_decisions.is_empty() {
        line(&mut o, "\nDOCK DECISIONS (the agent's sequencer)".into());
        for (kind, text) in p.other_decisions.iter().rev().take(6) {
            line(&mut o, format!("  {kind}: {text}"));
        }
    }
    o
}

/// The latest decisions first, a round's deferrals between the same two
/// departures on one line.
fn collapsed(decisions: &[Decision]) -> Vec<(Millis, String)> {
    let mut out: Vec<(Millis, String)> = Vec::new();
    let mut run: Option<(Millis, &str, &str, usize)> = None;
    let flush = |out: &mut Vec<(Millis, String)>, run: Option<(Millis, &str, &str, usize)>| {
        if let Some((at, from, to, n)) = run {
            out.push((at, format!("defer {n} order(s): {from} -> {to}")));
        }
    };
    for d in decisions.iter().rev() {
        if let Decision::OrderDeferralProposed {
            from_departure,
            to_departure,
            at,
            ..
        } = d
        {
            match &mut run {
                Some((t, f, to, n)) if t == at && f == from_departure && to == to_departure => {
                    *n += 1
                }
                _ => {
                    flush(&mut out, run.take());
                    run = Some((*at, from_departure, to_departure, 1));
                }
            }
            continue;
        }
        flush(&mut out, run.take());
        out.push((d.at(), render_decision(d)));
        if out.len() > 8 {
            return out;
        }
    }
    flush(&mut out, run);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decision::DecisionInputs;

    #[test]
    fn a_rounds_deferrals_show_as_one_line() {
        let defer = |order: &str| Decision::OrderDeferralProposed {
            order: order.into(),
            from_departure: "A".into(),
            to_departure: "B".into(),
            stop: "S".into(),
            remaining_lines: 3,
            predicted_ready: 0,
            cutoff: 0,
            at: 60_000,
            inputs: DecisionInputs {
                plan_version: 1,
                rates: Vec::new(),
            },
        };
        let lines = collapsed(&[defer("o1"), defer("o2"), defer("o3")]);
        assert_eq!(lines, [(60_000, "defer 3 order(s): A -> B".to_owned())]);
    }
}
