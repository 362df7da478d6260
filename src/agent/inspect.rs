//! `dockside status` and `dockside events`: reading the log beside the daemon.

use std::io::Write;

use crate::domain::time::format_rfc3339;
use crate::domain::{EventBody, StoredEvent};
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
    out.push_str(&format!(
        "database     {:.1} MiB\n",
        s.database_bytes as f64 / (1024.0 * 1024.0)
    ));
    out
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
