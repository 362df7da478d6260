//! The daemon: wires the store and the sources together and shuts down cleanly.

pub mod health;
pub mod inspect;
pub mod metrics;
pub mod planning;
pub mod uplink;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::domain::time::Clock;
use crate::ingest::acks::AckQueue;
use crate::ingest::modbus;
use crate::ingest::site_mqtt::{IngestError, SiteSubscriber};
use crate::store::{LogReader, StoreError, Writer};

/// How long shutdown may take before the process gives up waiting.
const GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("shutdown did not finish within {0:?}; unacknowledged messages stay with the broker")]
    GraceExceeded(Duration),
    #[error(transparent)]
    Uplink(#[from] uplink::UplinkError),
    #[error(transparent)]
    Planning(#[from] planning::PlanningError),
    #[error("a task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("metrics: cannot listen on {addr}: {source}\n    fix: choose a free port in [metrics] listen, or remove the [metrics] section")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Run the agent until `stop` is cancelled (SIGTERM/SIGINT in `main`).
/// `clock` gives world time: the wall clock, except in the demo.
pub async fn run(
    config: AgentConfig,
    clock: Clock,
    stop: CancellationToken,
) -> Result<(), AgentError> {
    let acks = AckQueue::new();
    let subscriber = SiteSubscriber::new(&config, clock)?;
    let metrics_listener = match &config.metrics {
        Some(m) => Some(
            tokio::net::TcpListener::bind(m.listen)
                .await
                .map_err(|source| AgentError::Metrics {
                    addr: m.listen,
                    source,
                })?,
        ),
        None => None,
    };
    let ingest_stats = subscriber.stats();
    let writer = Writer::start(
        &config.db_path(),
        &config.site,
        &config.store,
        acks.sender(),
    )?;
    tracing::info!(site = %config.site, epoch = %writer.epoch(), db = %config.db_path().display(), "store open");
    // Built before any source starts: a bad certificate stops us here.
    let uplink = match &config.uplink {
        Some(up) => Some(uplink::Uplink::new(
            up,
            &config.site,
            config.uplink_client_id(),
            &config.db_path(),
            writer.stats(),
            clock,
        )?),
        None => None,
    };
    let planner = match &config.planning {
        Some(p) => Some(planning::Planning::new(&config, p, clock)?),
        None => None,
    };
    let records = writer.sender();
    let stats = writer.stats();
    // Door pollers start from the last logged door states and device
    // health, so a restart logs only real changes.
    let seeds = modbus::Seeds::from_log(&LogReader::open(&config.db_path())?)?;
    let pollers = modbus::start(&config.modbus, &seeds, records.clone(), clock, stop.clone());
    let planner_done = planner.map(|planner| {
        let stop = stop.clone();
        let records = records.clone();
        tokio::spawn(async move {
            let result = planner.run(records, stop.clone()).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "planning failed; stopping the agent");
                stop.cancel();
            }
            result
        })
    });
    // The writer ends once every sender is gone: the subscriber drops its
    // sender when told to stop, and `finish` drops this handle's.
    let writer_done = tokio::task::spawn_blocking(move || writer.finish());
    let subscriber_done = tokio::spawn(subscriber.run(records, acks, stop.clone()));
    // The uplink stops with everything else; it only reads what is committed.
    let uplink_stats = uplink.as_ref().map(|(u, _)| u.stats());
    let uplink_done = uplink.map(|(uplink, _plans)| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let result = uplink.run(stop.clone()).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "uplink failed; stopping the agent");
                stop.cancel();
            }
            result
        })
    });
    let probes = Arc::new(health::Probes {
        writer: Arc::clone(&stats),
        ingest: ingest_stats,
        uplink: uplink_stats,
        ingest_quiet: Duration::from_secs(2 * config.site_broker.keep_alive_s),
    });
    if let Some(listener) = metrics_listener {
        tracing::info!(listen = ?listener.local_addr().ok(), "metrics: serving GET /metrics");
        let serve = metrics::serve(
            listener,
            Arc::clone(&probes),
            config.db_path(),
            stop.clone(),
        );
        tokio::spawn(serve);
    }
    // Store open, sources started: ready. Then only the health check pings the watchdog.
    let notifier = crate::systemd::Notifier;
    let check = Arc::clone(&probes);
    tokio::spawn(crate::systemd::supervise(
        notifier,
        move |limit| check.check(limit),
        stop.clone(),
    ));

    stop.cancelled().await;
    notifier.stopping();
    stats
        .stopping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let drained = tokio::time::timeout(GRACE, async {
        pollers.wait().await;
        let planned = match planner_done {
            Some(task) => task.await,
            None => Ok(Ok(())),
        };
        let written = writer_done.await;
        let subscribed = subscriber_done.await;
        let uplinked = match uplink_done {
            Some(task) => task.await,
            None => Ok(Ok(())),
        };
        (written, subscribed, uplinked, planned)
    })
    .await;
    match drained {
        Ok((written, subscribed, uplinked, planned)) => {
            planned??;
            written??;
            subscribed?;
            uplinked??;
            tracing::info!(
                last_seq = stats.last_seq.load(std::sync::atomic::Ordering::SeqCst),
                "stopped cleanly"
            );
            Ok(())
        }
        Err(_) => Err(AgentError::GraceExceeded(GRACE)),
    }
}
