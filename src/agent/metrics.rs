//! An optional Prometheus endpoint (`[metrics]`, off by default): a minimal
//! HTTP/1.0 responder for `GET /metrics`, nothing else. Figures come from
//! the parts' own counters and from the log's counters, read-only, so door
//! and decision events show up by kind as soon as they are logged.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::health::Probes;
use crate::store::{LogReader, Summary};

/// A request head larger than this is refused; a scraper sends a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;
/// A client that does not finish its request (or read the answer) in this time is dropped.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Serve until `stop`. One short task per connection; a slow client only
/// holds its own.
pub async fn serve(
    listener: TcpListener,
    probes: Arc<Probes>,
    db: PathBuf,
    stop: CancellationToken,
) {
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause, keep serving.
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let probes = Arc::clone(&probes);
        let db = db.clone();
        tokio::spawn(async move {
            if let Err(e) = tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &probes, db)).await
            {
                tracing::debug!(error = %e, "metrics: client timed out");
            }
        });
    }
}

async fn answer(mut stream: TcpStream, probes: &Probes, db: PathBuf) {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_REQUEST {
            break;
        }
    }
    let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (code, content_type, body) = match (method, path) {
        ("GET", "/metrics") => {
            let summary =
                tokio::task::spawn_blocking(move || LogReader::open(&db).and_then(|r| r.summary()))
                    .await;
            let summary = match summary {
                Ok(Ok(s)) => Some(s),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "metrics: cannot read the log's counters");
                    None
                }
                Err(_) => None,
            };
            (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                render(probes, summary.as_ref(), crate::domain::time::now_ms()),
            )
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "only /metrics is served here\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET /metrics\n".to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.0 {code}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The exposition text (Prometheus text format 0.0.4).
pub fn render(probes: &Probes, summary: Option<&Summary>, now_ms: i64) -> String {
    let mut out = String::with_capacity(4096);
    let w = &mut out;
    let writer = &probes.writer;
    let ingest = &probes.ingest;

    metric(w, "dockside_up", "gauge", "1 while the agent runs; the log's figures below are missing when its counters could not be read.", &[("", summary.is_some() as i64 as f64)]);
    if let Some(s) = summary {
        let info = format!(
            "{{site=\"{}\",epoch=\"{}\",version=\"{}\"}}",
            escape(&s.site),
            escape(&s.epoch),
            env!("CARGO_PKG_VERSION")
        );
        metric(
            w,
            "dockside_info",
            "gauge",
            "The site, the log's epoch and the agent's version.",
            &[(&info, 1.0)],
        );
    }

    // Ingest.
    metric(
        w,
        "dockside_ingest_messages_total",
        "counter",
        "Messages taken from the site broker since the agent started.",
        &[("", ingest.received.load(Ordering::Relaxed) as f64)],
    );
    metric(
        w,
        "dockside_site_broker_connected",
        "gauge",
        "1 while connected to the site broker.",
        &[("", ingest.connected.load(Ordering::Relaxed) as i64 as f64)],
    );

    // Commits.
    metric(
        w,
        "dockside_commits_total",
        "counter",
        "Group commits of the log since the agent started.",
        &[("", writer.commits.load(Ordering::SeqCst) as f64)],
    );
    let last_commit = writer.last_commit_ms.load(Ordering::SeqCst);
    if last_commit > 0 {
        metric(
            w,
            "dockside_last_commit_timestamp_seconds",
            "gauge",
            "When the log last committed (Unix time).",
            &[("", last_commit as f64 / 1000.0)],
        );
    }
    metric(
        w,
        "dockside_last_seq",
        "gauge",
        "The log's highest seq.",
        &[("", writer.last_seq.load(Ordering::SeqCst) as f64)],
    );
    metric(w, "dockside_intake_held", "gauge", "1 while acks are held: the disk is full (reason=\"disk_full\") or the log is at uplink.max_disk_mb (reason=\"disk_cap\").", &[
        ("{reason=\"disk_full\"}", writer.disk_full.load(Ordering::SeqCst) as i64 as f64),
        ("{reason=\"disk_cap\"}", writer.at_cap.load(Ordering::SeqCst) as i64 as f64),
    ]);

    // Events by kind: scans, WMS messages, and door and decision events once logged.
    if let Some(s) = summary {
        let kinds: Vec<(String, f64)> = s
            .events_by_kind
            .iter()
            .map(|(k, n)| (format!("{{kind=\"{}\"}}", escape(k)), *n as f64))
            .collect();
        let kinds: Vec<(&str, f64)> = kinds.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(w, "dockside_events_total", "counter", "Events in the log by kind, since the database was created (decisions and door events included).", &kinds);
        // Doors by state, and door controllers online.
        let states: Vec<(String, f64)> = crate::domain::door::DoorState::ALL
            .iter()
            .map(|st| {
                let n = s.doors.iter().filter(|d| d.state == *st).count();
                (format!("{{state=\"{}\"}}", st.as_str()), n as f64)
            })
            .collect();
        let states: Vec<(&str, f64)> = states.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(
            w,
            "dockside_doors",
            "gauge",
            "Dock doors by their current state.",
            &states,
        );
        metric(
            w,
            "dockside_door_devices_online",
            "gauge",
            "Door controllers answering.",
            &[("", s.devices.iter().filter(|d| d.online).count() as f64)],
        );
        metric(
            w,
            "dockside_dead_letters_total",
            "counter",
            "Messages rejected into the dead-letter table.",
            &[("", s.dead_letters as f64)],
        );
        metric(
            w,
            "dockside_duplicates_dropped_total",
            "counter",
            "Redelivered messages recognised and dropped.",
            &[("", s.duplicates_dropped as f64)],
        );
        metric(
            w,
            "dockside_double_scans_total",
            "counter",
            "Double scans merged into one event.",
            &[("", s.double_scans as f64)],
        );
        metric(
            w,
            "dockside_database_bytes",
            "gauge",
            "Size of the log's database with its WAL.",
            &[("", s.database_bytes as f64)],
        );
    }

    // The link to central.
    if let Some(up) = &probes.uplink {
        let last_seq = writer.last_seq.load(Ordering::SeqCst);
        let acked = up.acked.load(Ordering::Relaxed);
        metric(
            w,
            "dockside_uplink_connected",
            "gauge",
            "1 while connected to the central broker.",
            &[("", up.connected.load(Ordering::Relaxed) as i64 as f64)],
        );
        metric(
            w,
            "dockside_uplink_backlog_events",
            "gauge",
            "Events not yet acknowledged by central.",
            &[("", (last_seq - acked).max(0) as f64)],
        );
        metric(
            w,
            "dockside_uplink_acked_seq",
            "gauge",
            "Everything up to this seq is durably at central.",
            &[("", acked as f64)],
        );
        metric(
            w,
            "dockside_uplink_batches_sent_total",
            "counter",
            "Batches sent to central since the agent started (re-sends included).",
            &[("", up.batches_sent.load(Ordering::Relaxed) as f64)],
        );
        if let Some(oldest) = summary.and_then(|s| s.sync.oldest_unsynced_at) {
            metric(
                w,
                "dockside_uplink_oldest_unsynced_age_seconds",
                "gauge",
                "Age of the oldest event central has not acknowledged.",
                &[("", (now_ms - oldest).max(0) as f64 / 1000.0)],
            );
        }
        if let Some(plan) = summary.and_then(|s| s.sync.plan.as_ref()) {
            metric(
                w,
                "dockside_plan_version",
                "gauge",
                "Version of the plan in force.",
                &[("", plan.version as f64)],
            );
        }
    }

    // Health: how long since each loop last showed progress.
    let mut ages = vec![("{part=\"ingest\"}", ingest.beat.age().as_secs_f64())];
    if writer.busy.load(Ordering::SeqCst) {
        ages.push(("{part=\"writer\"}", writer.beat.age().as_secs_f64()));
    } else {
        ages.push(("{part=\"writer\"}", 0.0));
    }
    if let Some(up) = &probes.uplink {
        ages.push(("{part=\"uplink\"}", up.beat.age().as_secs_f64()));
    }
    metric(w, "dockside_loop_silence_seconds", "gauge", "Seconds since each loop last turned (the writer: 0 while waiting for records). The watchdog is withheld past the limit.", &ages);
    out
}

/// One metric family: HELP, TYPE and its samples (`labels` as `{k="v"}` or empty).
fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probes() -> Probes {
        Probes {
            writer: Arc::default(),
            ingest: Arc::default(),
            uplink: Some(Arc::default()),
            ingest_quiet: Duration::from_secs(60),
        }
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn figures_by_kind_backlog_and_links_are_exposed() {
        let p = probes();
        p.writer.last_seq.store(40, Ordering::SeqCst);
        p.writer.commits.store(7, Ordering::SeqCst);
        p.ingest.received.store(45, Ordering::Relaxed);
        let up = p.uplink.as_ref().expect("uplink");
        up.acked.store(30, Ordering::Relaxed);
        up.connected.store(true, Ordering::Relaxed);
        let summary = Summary {
            site: "dc-1".into(),
            epoch: "ab\"c".into(),
            last_seq: 40,
            events: 40,
            events_by_kind: [("scan", 30), ("door_state", 6), ("decision", 4)]
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            dead_letters: 2,
            duplicates_dropped: 3,
            double_scans: 1,
            database_bytes: 4096,
            sync: crate::store::Sync {
                synced_upto: 30,
                backlog: 10,
                oldest_unsynced_at: Some(1_000),
                last_ack_at: None,
                link_state: None,
                link_since: None,
                plan: None,
            },
            recent_dead_letters: vec![],
            doors: vec![],
            devices: vec![],
        };
        let text = render(&p, Some(&summary), 3_500);
        assert_eq!(
            value(&text, "dockside_events_total{kind=\"door_state\"}"),
            Some(6.0)
        );
        assert_eq!(
            value(&text, "dockside_events_total{kind=\"decision\"}"),
            Some(4.0)
        );
        assert_eq!(value(&text, "dockside_uplink_backlog_events"), Some(10.0));
        assert_eq!(value(&text, "dockside_uplink_connected"), Some(1.0));
        assert_eq!(value(&text, "dockside_ingest_messages_total"), Some(45.0));
        assert_eq!(value(&text, "dockside_commits_total"), Some(7.0));
        assert_eq!(value(&text, "dockside_dead_letters_total"), Some(2.0));
        assert_eq!(
            value(&text, "dockside_uplink_oldest_unsynced_age_seconds"),
            Some(2.5)
        );
        assert!(
            text.contains("epoch=\"ab\\\"c\""),
            "label values are escaped:\n{text}"
        );
        // Every sample belongs to a family announced with HELP and TYPE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().expect("name");
            assert!(text.contains(&format!("# TYPE {name} ")), "{line}");
        }
    }

    #[test]
    fn without_the_log_the_live_figures_remain() {
        let mut p = probes();
        p.uplink = None;
        let text = render(&p, None, 0);
        assert_eq!(value(&text, "dockside_up"), Some(0.0));
        assert!(text.contains("dockside_site_broker_connected 0"));
        assert!(!text.contains("dockside_events_total"));
        assert!(!text.contains("dockside_uplink_"));
    }
}
