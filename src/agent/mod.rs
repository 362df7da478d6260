//! The daemon: wires the store and the sources together and shuts down cleanly.

pub mod health;
pub mod inspect;
pub mod metrics;
pub mod uplink;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::ingest::site_mqtt::{IngestError, SiteSubscriber};
use crate::store::{StoreError, Writer};

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
    #[error("a task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("metrics: cannot listen on {addr}: {source}\n    fix: choose a free port in [metrics] listen, or remove the [metrics] section")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Run the agent until `stop` is cancelled (SIGTERM/SIGINT in `main`).
pub async fn run(config: AgentConfig, stop: CancellationToken) -> Result<(), AgentError> {
    let (ack_tx, ack_rx) = flume::unbounded();
    let subscriber = SiteSubscriber::new(&config)?;
    // The uplink's secrets are checked now, before READY, not at its first connect.
    if let Some(up) = &config.uplink {
        crate::link::mqtt_options(&up.broker, config.uplink_client_id(), 0)
            .map_err(uplink::UplinkError::from)?;
    }
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
    let mut uplink_stats = None;
    let writer = Writer::start(&config.db_path(), &config.site, &config.store, ack_tx)?;
    tracing::info!(site = %config.site, epoch = %writer.epoch(), db = %config.db_path().display(), "store open");
    let records = writer.sender();
    let stats = writer.stats();
    // The writer ends once every sender is gone: the subscriber drops its
    // sender when told to stop, and `finish` drops this handle's.
    let writer_done = tokio::task::spawn_blocking(move || writer.finish());
    let subscriber_done = tokio::spawn(subscriber.run(records, ack_rx, stop.clone()));
    // The uplink stops with everything else; it only reads what is committed.
    let uplink_done = match &config.uplink {
        Some(up) => {
            let (uplink, _plans) =
                uplink::Uplink::new(up, &config.site, &config.db_path(), Arc::clone(&stats))?;
            uplink_stats = Some(uplink.stats());
            let client_id = config.uplink_client_id();
            let stop = stop.clone();
            Some(tokio::spawn(async move {
                let result = uplink.run(client_id, stop.clone()).await;
                if let Err(e) = &result {
                    tracing::error!(error = %e, "uplink failed; stopping the agent");
                    stop.cancel();
                }
                result
            }))
        }
        None => None,
    };
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
        let written = writer_done.await;
        let subscribed = subscriber_done.await;
        let uplinked = match uplink_done {
            Some(task) => task.await,
            None => Ok(Ok(())),
        };
        (written, subscribed, uplinked)
    })
    .await;
    match drained {
        Ok((written, subscribed, uplinked)) => {
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
