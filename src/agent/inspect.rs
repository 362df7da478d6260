//! `dockside status` and `dockside events`: reading the log beside the daemon.

use std::io::Write;

use crate::domain::time::format_rfc3339;
use crate::domain::{Decision, EventBody, StoredEvent};
use crate::store::{LogReader, StoreError, Summary};

/// Human-readable status.
pub fn render_status(s: &Summary) -> String {
    let mut out = String::new();
    let kinds: Vec<String> = s
        .events_by_kind
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    out.push_str(&format!("site         {}\n", s.site));
    out.push_str(&format!("epoch        {}\n", s.epoch));
    out.push_str(&format!("last seq     {}\n", s.last_seq));
    out.push_str(&format!(
        "events       {}{}\n",
        s.events,
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        }
    ));
    out.push_str(&format!(
        "duplicates   {} redeliveries dropped, {} double scans merged\n",
        s.duplicates_dropped, s.double_scans
    ));
    out.push_str(&format!("dead letters {}\n", s.dead_letters));
    for d in &s.recent_dead_letters {
        out.push_str(&format!(
            "  #{} {} {}: {}\n",
            d.id,
            format_rfc3339(d.received_at),
            d.topic,
            d.reason
        ));
    }
    let sync = &s.sync;
    let link = match (&sync.link_state, sync.link_since) {
        (Some(state), Some(since)) => format!("{state} since {}", format_rfc3339(since)),
        (Some(state), None) => state.clone(),
        _ => "not started (no [uplink] configured, or never run)".into(),
    };
    out.push_str(&format!("uplink       {link}\n"));
    out.push_str(&format!(
        "backlog      {} events unsynced{}\n",
        sync.backlog,
        sync.oldest_unsynced_at
            .map(|t| format!(", oldest from {}", format_rfc3339(t)))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "last ack     {}\n",
        sync.last_ack_at
            .map(format_rfc3339)
            .unwrap_or_else(|| "never".into())
    ));
    out.push_str(&format!(
        "plan         {}\n",
        sync.plan
            .as_ref()
            .map(|p| format!(
                "version {} issued {}",
                p.version,
                format_rfc3339(p.issued_at)
            ))
            .unwrap_or_else(|| "none received".into())
    ));
    out.push_str(&format!(
        "database     {:.1} MiB\n",
        s.database_bytes as f64 / (1024.0 * 1024.0)
    ));
    render_doors(s, &mut out);
    out
}

/// Doors with their state and since when; devices with health and last error.
fn render_doors(s: &Summary, out: &mut String) {
    if s.doors.is_empty() && s.devices.is_empty() {
        return;
    }
    let width = s.doors.iter().map(|d| d.door.len()).max().unwrap_or(0);
    out.push_str(&format!("doors        {}\n", s.doors.len()));
    for d in &s.doors {
        let flaps = if d.flaps > 0 {
            format!(", {} bounces ignored", d.flaps)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {:<width$}  {:<14} since {}  ({}{flaps})\n",
            d.door,
            d.state.as_str(),
            format_rfc3339(d.since),
            d.device,
        ));
    }
    let width = s.devices.iter().map(|d| d.device.len()).max().unwrap_or(0);
    out.push_str(&format!("devices      {}\n", s.devices.len()));
    for d in &s.devices {
        let mut line = format!(
            "  {:<width$}  {:<7} since {}",
            d.device,
            if d.online { "online" } else { "OFFLINE" },
            format_rfc3339(d.since),
        );
        if !d.online {
            if let Some(e) = &d.last_error {
                line.push_str(&format!(": {e}"));
            }
            line.push_str(&match d.last_good_read {
                Some(t) => format!("; last good read {}", format_rfc3339(t)),
                None => "; no good read since the agent started".to_string(),
            });
        } else if let (Some(e), Some(at)) = (&d.last_error, d.last_error_at) {
            line.push_str(&format!("; last error {} at {}", e, format_rfc3339(at)));
        }
        out.push_str(&line);
        out.push('\n');
    }
}

/// A planner decision in a few words, for people.
pub fn render_decision(d: &Decision) -> String {
    let mins = |ms: i64| format!("{:+.0} min", ms as f64 / 60_000.0);
    match d {
        Decision::WaveRelease {
            wave,
            lines,
            reason,
            slack_ms,
            ..
        } => format!(
            "release wave {wave} ({lines} lines, slack {}; {reason:?})",
            mins(*slack_ms)
        ),
        Decision::DepartureAtRisk {
            departure,
            status,
            probability,
            slack_ms,
            ..
        } => format!(
            "departure {departure} risk {status:?}: p(miss) {probability:.2}, slack {}",
            mins(*slack_ms)
        ),
        Decision::OrderDeferralProposed {
            order,
            from_departure,
            to_departure,
            ..
        } => format!("defer order {order}: {from_departure} -> {to_departure}"),
        Decision::DepartureRetimed {
            departure,
            retimed_to,
            ..
        } => format!(
            "departure {departure} retimed to {}",
            format_rfc3339(*retimed_to)
        ),
        Decision::DockAssignment {
            departure,
            door,
            previous_door,
            planned_start,
            reason,
            ..
        } => format!(
            "dock {departure} at {door}{} from {} ({})",
            previous_door
                .as_ref()
                .map_or(String::new(), |p| format!(" (was {p})")),
            format_rfc3339(*planned_start),
            reason.describe()
        ),
        Decision::CallVehicle {
            departure, door, ..
        } => format!("call {departure} from the yard to {door}"),
        Decision::LoadingList {
            departure, stops, ..
        } => format!(
            "loading list {departure}: {}",
            stops
                .iter()
                .map(|s| s.stop.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One event as a line of text for people.
pub fn render_event_line(e: &StoredEvent) -> String {
    let detail = match &e.body {
        EventBody::Scan {
            scanner,
            code,
            action,
            order,
            ..
        } => {
            format!(
                "{} {code} by {scanner}{}",
                action.as_str(),
                order
                    .as_ref()
                    .map(|o| format!(" order {o}"))
                    .unwrap_or_default()
            )
        }
        EventBody::PickComplete { order, line, .. } => {
            format!(
                "order {order}{}",
                line.as_ref()
                    .map(|l| format!(" line {l}"))
                    .unwrap_or_default()
            )
        }
        EventBody::WaveReleased { wave, .. } => format!("wave {wave}"),
        EventBody::OrderStatus { order, status, .. } => format!("order {order} {status}"),
        EventBody::DoorChanged {
            door,
            device,
            from,
            to,
            signals,
            ..
        } => {
            let on: Vec<&str> = signals
                .iter()
                .filter(|(_, v)| **v)
                .map(|(k, _)| k.as_str())
                .collect();
            format!(
                "door {door} {} -> {} ({device}; on: {})",
                from.map(|f| f.as_str()).unwrap_or("unknown"),
                to.as_str(),
                if on.is_empty() {
                    "none".to_string()
                } else {
                    on.join(", ")
                }
            )
        }
        EventBody::DeviceOnline { device, .. } => format!("device {device} online"),
        EventBody::DeviceOffline { device, error, .. } => {
            format!("device {device} offline: {error}")
        }
        EventBody::InventorySnapshot { sku, qty, zone, .. } => format!(
            "{sku} on hand {qty}{}",
            zone.as_ref()
                .map(|z| format!(" in {z}"))
                .unwrap_or_default()
        ),
        EventBody::InventoryDelta { sku, qty, .. } => format!("{sku} {qty:+}"),
        EventBody::VehicleArrived { departure, .. } => format!("departure {departure}"),
        EventBody::Decision(d) => render_decision(d),
    };
    format!(
        "{:>8} {} {:<14} {}  [{}]",
        e.seq,
        format_rfc3339(e.received_at),
        e.body.kind(),
        detail,
        e.source_topic
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    Text,
    Jsonl,
}

/// Write events after `since` to `out`.
pub fn write_events(
    reader: &LogReader,
    since: i64,
    limit: Option<u64>,
    format: EventFormat,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    reader
        .events_since(since, limit, |e| {
            let line = match format {
                EventFormat::Jsonl => serde_json::to_string(&e).expect("stored events serialize"),
                EventFormat::Text => render_event_line(&e),
            };
            // A closed pipe (`| head`) ends the listing quietly.
            writeln!(out, "{line}").map_err(|_| StoreError::WriterGone)
        })
        .or_else(|e| match e {
            StoreError::WriterGone => Ok(()),
            other => Err(other),
        })
}
