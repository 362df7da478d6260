//! Store-and-forward to central: send the log's unsynced events in seq order,
//! mark a range synced only on central's `Ack` (never on the broker's PUBACK),
//! and take plans down, storing each before acknowledging it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, LastWill, MqttOptions, Outgoing, Packet, Publish, QoS,
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::UplinkConfig;
use crate::domain::time::Clock;
use crate::domain::StoredEvent;
use crate::heartbeat::Heartbeat;
use crate::link::{self, LinkError};
use crate::store::{Outbox, StoreError, StoredPlan, WriterStats};
use crate::wire::{self, Batch, Message};

#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("uplink: {0}")]
    Link(#[from] LinkError),
    #[error("uplink: {0}")]
    Store(#[from] StoreError),
}

/// How often the uplink prunes and reports status.
/// Consecutive ack timeouts double the wait up to this.
const MAX_ACK_TIMEOUT: Duration = Duration::from_secs(300);
const PERSIST_ACKS: Duration = Duration::from_millis(200);
/// The disk cap is checked this often: intake may overshoot it by what
/// arrives in this time.
const DISK_CHECK: Duration = Duration::from_secs(1);
const HOUSEKEEPING: Duration = Duration::from_secs(10);
const PRUNE_CHUNK: usize = 10_000;

/// The topics of one site under a prefix.
#[derive(Debug, Clone)]
pub struct Topics {
    pub up: String,
    pub ack: String,
    pub plan: String,
    pub status: String,
}

impl Topics {
    pub fn new(prefix: &str, site: &str) -> Topics {
        Topics {
            up: format!("{prefix}/{site}/up"),
            ack: format!("{prefix}/{site}/ack"),
            plan: format!("{prefix}/{site}/plan"),
            status: format!("{prefix}/{site}/status"),
        }
    }
}

/// What the event-loop task reports.
enum LinkEvent {
    Connected,
    Down(String),
    Incoming(Publish),
}

/// What the health check and the metrics read of the uplink.
#[derive(Debug, Default)]
pub struct UplinkStats {
    /// Beaten on every turn of the loop (its tick is at most
    /// `batch_max_age_ms` apart): an old beat means the loop is stuck.
    pub beat: Heartbeat,
    pub connected: AtomicBool,
    /// Everything up to here is durably at central.
    pub acked: AtomicI64,
    pub batches_sent: AtomicU64,
}

/// A batch sent and not yet acknowledged by central.
struct InFlight {
    last: i64,
    sent_at: Instant,
}

pub struct Uplink {
    config: UplinkConfig,
    /// Built (certificates and secrets read) before anything connects.
    options: Option<MqttOptions>,
    site: String,
    topics: Topics,
    outbox: Outbox,
    writer: Arc<WriterStats>,
    plans: watch::Sender<Option<StoredPlan>>,
    /// Everything up to here is durably at central.
    acked: i64,
    /// `acked` as last written to the log.
    persisted: i64,
    last_persist: Instant,
    /// The next seq to send.
    next: i64,
    in_flight: VecDeque<InFlight>,
    /// When unsent events were first seen waiting (batch age).
    waiting_since: Option<Instant>,
    connected: bool,
    alarmed: bool,
    /// At the cap with nothing to sync or prune (alarmed once).
    cap_too_small: bool,
    /// `ack_timeout_s`, doubled after each timeout without progress.
    ack_timeout: Duration,
    stats: Arc<UplinkStats>,
    clock: Clock,
}

impl Uplink {
    pub fn new(
        config: &UplinkConfig,
        site: &str,
        client_id: String,
        db: &Path,
        writer: Arc<WriterStats>,
        clock: Clock,
    ) -> Result<(Uplink, watch::Receiver<Option<StoredPlan>>), UplinkError> {
        let options = link::mqtt_options(&config.broker, client_id, 1024 * 1024)?;
        let outbox = Outbox::open(db, site)?;
        let acked = outbox.synced_upto()?;
        writer
            .disk_cap_bytes
            .store(config.max_disk_mb * 1024 * 1024, Ordering::SeqCst);
        let (plans, plan_rx) = watch::channel(outbox.current_plan()?);
        Ok((
            Uplink {
                config: config.clone(),
                options: Some(options),
                site: site.to_owned(),
                topics: Topics::new(&config.topic_prefix, site),
                outbox,
                writer,
                plans,
                acked,
                persisted: acked,
                last_persist: Instant::now(),
                next: acked + 1,
                in_flight: VecDeque::new(),
                waiting_since: None,
                connected: false,
                alarmed: false,
                cap_too_small: false,
                ack_timeout: Duration::from_secs(config.ack_timeout_s),
                stats: Arc::new(UplinkStats {
                    acked: AtomicI64::new(acked),
                    ..UplinkStats::default()
                }),
                clock,
            },
            plan_rx,
        ))
    }

    pub fn stats(&self) -> Arc<UplinkStats> {
        Arc::clone(&self.stats)
    }

    /// Run until `stop`; then say offline and disconnect. Unacked events stay
    /// in the log and are sent again next time.
    pub async fn run(mut self, stop: CancellationToken) -> Result<(), UplinkError> {
        let mut options = self.options.take().expect("run is called once");
        let will = self.status(false)?;
        options.set_last_will(LastWill::new(
            &self.topics.status,
            will,
            QoS::AtLeastOnce,
            true,
        ));
        let (client, eventloop) = AsyncClient::new(options, 64);
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let backoff = link::backoff(&self.config.broker);
        let loop_task = tokio::spawn(poll(
            eventloop,
            events_tx,
            backoff,
            self.topics.clone(),
            client.clone(),
        ));
        // New commits wake the uplink; the tick bounds batch age and ack timeouts.
        let mut tick =
            tokio::time::interval(Duration::from_millis(self.config.batch_max_age_ms.max(5)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        let mut disk_check = tokio::time::interval(DISK_CHECK);
        let writer = Arc::clone(&self.writer);
        let stats = Arc::clone(&self.stats);
        loop {
            stats.beat.beat();
            stats.connected.store(self.connected, Ordering::Relaxed);
            stats.acked.store(self.acked, Ordering::Relaxed);
            tokio::select! {
                _ = stop.cancelled() => break,
                event = events.recv() => match event {
                    Some(LinkEvent::Connected) => self.on_connected(&client).await?,
                    Some(LinkEvent::Down(why)) => self.on_down(&why)?,
                    Some(LinkEvent::Incoming(p)) => {
                        self.on_incoming(&p)?;
                        // Stored (or recorded as rejected) first, then acknowledged.
                        let _ = client.ack(&p).await;
                        // An ack may have opened the window.
                        self.send_ready(&client).await?;
                    }
                    None => break,
                },
                _ = writer.committed.notified() => self.send_ready(&client).await?,
                _ = tick.tick() => {
                    self.persist_acks(false)?;
                    self.send_ready(&client).await?;
                }
                _ = housekeeping.tick() => self.housekeeping(&client).await?,
                _ = disk_check.tick() => tokio::task::block_in_place(|| self.check_disk())?,
            }
        }
        self.persist_acks(true)?;
        if self.connected {
            let offline = self.status(false)?;
            let _ = client
                .publish(&self.topics.status, QoS::AtLeastOnce, true, offline)
                .await;
        }
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), loop_task).await;
        self.outbox.set_link_state("stopped", self.clock.now_ms())?;
        Ok(())
    }

    fn status(&self, online: bool) -> Result<Vec<u8>, UplinkError> {
        let last_seq = self.writer.last_seq.load(Ordering::SeqCst);
        let msg = Message::Status(wire::Status {
            site: self.site.clone(),
            online,
            at: self.clock.now_ms(),
            epoch: self.outbox.epoch().to_owned(),
            last_seq,
            backlog: (last_seq - self.acked).max(0) as u64,
        });
        Ok(wire::encode(&msg).expect("our own epoch is always valid hex"))
    }

    async fn on_connected(&mut self, client: &AsyncClient) -> Result<(), UplinkError> {
        self.connected = true;
        self.outbox
            .set_link_state("connected", self.clock.now_ms())?;
        let online = self.status(true)?;
        let _ = client
            .publish(&self.topics.status, QoS::AtLeastOnce, true, online)
            .await;
        // The broker may have lost what was in flight: send again from the last ack.
        self.rewind("reconnected");
        Ok(())
    }

    fn on_down(&mut self, why: &str) -> Result<(), UplinkError> {
        if self.connected {
            self.connected = false;
            self.outbox
                .set_link_state(&format!("down: {why}"), self.clock.now_ms())?;
        }
        Ok(())
    }

    fn rewind(&mut self, why: &str) {
        if self.next > self.acked + 1 {
            tracing::info!(
                from_seq = self.acked + 1,
                why,
                "uplink: re-sending unacknowledged events"
            );
        }
        self.next = self.acked + 1;
        self.in_flight.clear();
    }

    fn on_incoming(&mut self, p: &Publish) -> Result<(), UplinkError> {
        let msg = match wire::decode(&p.payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(topic = %p.topic, error = %e, bytes = p.payload.len(), "uplink: unreadable message from central; ignored");
                return Ok(());
            }
        };
        match msg {
            Message::Ack(ack) if p.topic == self.topics.ack => {
                if ack.site != self.site || ack.epoch != self.outbox.epoch() {
                    tracing::warn!(site = %ack.site, epoch = %ack.epoch, "uplink: ack for another site or epoch; ignored");
                    return Ok(());
                }
                self.on_ack(ack.upto_seq)?;
            }
            Message::Plan(plan) if p.topic == self.topics.plan => {
                if plan.site != self.site {
                    tracing::error!(site = %plan.site, "uplink: plan for another site on our topic; ignored");
                    return Ok(());
                }
                let now = self.clock.now_ms();
                if self
                    .outbox
                    .store_plan(plan.version, plan.issued_at, &plan.body, now)?
                {
                    tracing::info!(version = plan.version, "plan: stored and applied");
                    self.plans.send_replace(self.outbox.current_plan()?);
                } else {
                    tracing::info!(
                        version = plan.version,
                        "plan: not newer than the current one; ignored"
                    );
                }
            }
            other => {
                tracing::warn!(topic = %p.topic, kind = kind_name(&other), "uplink: unexpected message on this topic; ignored");
            }
        }
        Ok(())
    }

    fn on_ack(&mut self, upto: i64) -> Result<(), UplinkError> {
        if upto <= self.acked {
            return Ok(());
        }
        self.ack_timeout = Duration::from_secs(self.config.ack_timeout_s);
        self.acked = upto;
        while self.in_flight.front().is_some_and(|b| b.last <= upto) {
            self.in_flight.pop_front();
        }
        if self.next <= upto {
            self.next = upto + 1;
        }
        Ok(())
    }

    /// Record central's acks in the log, at most every `PERSIST_ACKS` (or
    /// now, with `force`). Until then a crash only means a re-send, which
    /// central drops as duplicates; not waiting for this write per ack keeps
    /// the window moving.
    fn persist_acks(&mut self, force: bool) -> Result<(), UplinkError> {
        if self.acked > self.persisted && (force || self.last_persist.elapsed() >= PERSIST_ACKS) {
            tokio::task::block_in_place(|| {
                self.outbox.mark_synced(self.acked, self.clock.now_ms())
            })?;
            self.persisted = self.acked;
            self.last_persist = Instant::now();
        }
        Ok(())
    }

    /// Send batches while the window has room and a batch is ready: full,
    /// or nothing is in flight (so a quiet site's events go at once), or its
    /// oldest event has waited `batch_max_age_ms`. Under load, events gather
    /// while earlier batches are in flight, so batches grow by themselves.
    async fn send_ready(&mut self, client: &AsyncClient) -> Result<(), UplinkError> {
        if !self.connected {
            return Ok(());
        }
        if let Some(oldest) = self.in_flight.front() {
            if oldest.sent_at.elapsed() >= self.ack_timeout {
                tracing::warn!(
                    timeout_s = self.ack_timeout.as_secs(),
                    "uplink: no ack from central in time"
                );
                self.rewind("ack timeout");
                // Central may be down behind a live broker: do not pile up
                // copies in its queue; wait longer each time until it answers.
                self.ack_timeout = (self.ack_timeout * 2).min(MAX_ACK_TIMEOUT);
            }
        }
        let max_age = Duration::from_millis(self.config.batch_max_age_ms);
        while self.in_flight.len() < self.config.window {
            let last_seq = self.writer.last_seq.load(Ordering::SeqCst);
            let available = last_seq - self.next + 1;
            if available <= 0 {
                self.waiting_since = None;
                return Ok(());
            }
            let since = *self.waiting_since.get_or_insert_with(Instant::now);
            if (available as usize) < self.config.batch_max_events
                && !self.in_flight.is_empty()
                && since.elapsed() < max_age
            {
                return Ok(());
            }
            let events = tokio::task::block_in_place(|| {
                self.outbox
                    .read_after(self.next - 1, self.config.batch_max_events)
            })?;
            let Some(first) = events.first() else {
                // Pruned or not yet visible: look again next tick.
                return Ok(());
            };
            if first.seq != self.next {
                return Err(StoreError::Corrupt(format!(
                    "unsynced event {} is missing from the log (found {} next)",
                    self.next, first.seq
                ))
                .into());
            }
            let (last, bytes) = self.encode_within_limit(&events)?;
            if client
                .publish(&self.topics.up, QoS::AtLeastOnce, false, bytes)
                .await
                .is_err()
            {
                return Ok(()); // the event loop has ended; shutdown follows
            }
            self.in_flight.push_back(InFlight {
                last,
                sent_at: Instant::now(),
            });
            self.stats.batches_sent.fetch_add(1, Ordering::Relaxed);
            self.next = last + 1;
            self.waiting_since = None;
        }
        Ok(())
    }

    /// Encode the longest prefix of `events` within `batch_max_bytes` (one
    /// event always goes); returns its last seq and the bytes.
    fn encode_within_limit(&self, events: &[StoredEvent]) -> Result<(i64, Vec<u8>), UplinkError> {
        let mut n = events.len();
        let mut bytes = self.encode_batch(events)?;
        while bytes.len() > self.config.batch_max_bytes && n > 1 {
            n = (n * self.config.batch_max_bytes / bytes.len()).clamp(1, n - 1);
            bytes = self.encode_batch(&events[..n])?;
        }
        Ok((events[n - 1].seq, bytes))
    }

    fn encode_batch(&self, events: &[StoredEvent]) -> Result<Vec<u8>, UplinkError> {
        let batch = Batch::from_stored(&self.site, events)
            .map_err(|e| StoreError::Corrupt(format!("cannot batch events: {e}")))?;
        Ok(wire::encode(&Message::Batch(batch))
            .map_err(|e| StoreError::Corrupt(format!("cannot encode a batch: {e}")))?)
    }

    async fn housekeeping(&mut self, client: &AsyncClient) -> Result<(), UplinkError> {
        if self.connected {
            let online = self.status(true)?;
            let _ = client
                .publish(&self.topics.status, QoS::AtLeastOnce, true, online)
                .await;
        }
        self.persist_acks(true)?;
        let retention_ms = self.config.retention_h as i64 * 3_600_000;
        tokio::task::block_in_place(|| self.prune(self.clock.now_ms() - retention_ms))
    }

    /// Compare the log's size with `max_disk_mb`: alarm at 80 %, and at the
    /// cap prune synced events early, else hold intake.
    fn check_disk(&mut self) -> Result<(), UplinkError> {
        let cap = self.config.max_disk_mb * 1024 * 1024;
        let mut used = self.outbox.used_bytes()?;
        if used >= cap {
            // At the cap: synced events go now, whatever their retention.
            self.persist_acks(true)?;
            self.prune(i64::MAX)?;
            self.outbox.truncate_wal()?;
            used = self.outbox.used_bytes()?;
        }
        let backlog = self.writer.last_seq.load(Ordering::SeqCst) - self.acked;
        if used >= cap && backlog == 0 && !self.cap_too_small {
            // Everything is synced and pruned yet the cap is reached: what is
            // left is the dedupe memory and the latest door states.
            tracing::error!(
                used_mb = used / (1024 * 1024),
                max_disk_mb = self.config.max_disk_mb,
                "ALARM uplink: the log is at uplink.max_disk_mb with nothing left to sync or prune (dedupe keys and door states fill it); raise uplink.max_disk_mb or lower store.id_retention_h"
            );
        }
        self.cap_too_small = used >= cap && backlog == 0;
        if used >= cap * 8 / 10 {
            if !self.alarmed {
                tracing::error!(
                    used_mb = used / (1024 * 1024),
                    max_disk_mb = self.config.max_disk_mb,
                    backlog,
                    "ALARM uplink: the log is above 80% of uplink.max_disk_mb; at the cap intake stops acknowledging. Restore the link to central, or raise max_disk_mb if the disk allows"
                );
                self.alarmed = true;
            }
        } else if self.alarmed {
            tracing::warn!(
                used_mb = used / (1024 * 1024),
                "uplink: the log is back below 80% of max_disk_mb"
            );
            self.alarmed = false;
        }
        let at_cap = used >= cap;
        if self.writer.at_cap.swap(at_cap, Ordering::SeqCst) != at_cap {
            if at_cap {
                tracing::error!(backlog, "ALARM uplink: the log is at uplink.max_disk_mb; intake holds (the site broker keeps the messages) until central acknowledges the backlog");
            } else {
                tracing::warn!("uplink: the log is below its cap again; intake resumes");
            }
        }
        Ok(())
    }

    fn prune(&mut self, before: i64) -> Result<(), UplinkError> {
        while self.outbox.prune_synced(before, PRUNE_CHUNK)? == PRUNE_CHUNK {}
        Ok(())
    }
}

/// Drive the MQTT event loop, reconnecting with backoff, and report to the uplink.
async fn poll(
    mut eventloop: rumqttc::EventLoop,
    events: mpsc::UnboundedSender<LinkEvent>,
    mut backoff: crate::ingest::backoff::Backoff,
    topics: Topics,
    client: AsyncClient,
) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                if ack.code != ConnectReturnCode::Success {
                    tracing::error!(code = ?ack.code, "central broker refused the connection; check uplink.broker credentials, client id and certificate");
                    continue;
                }
                backoff.reset();
                tracing::info!(
                    session_present = ack.session_present,
                    "central broker: connected"
                );
                // Every time: cheap, and right even when the broker lost our session.
                let _ = client.try_subscribe(&topics.ack, QoS::AtLeastOnce);
                let _ = client.try_subscribe(&topics.plan, QoS::AtLeastOnce);
                if events.send(LinkEvent::Connected).is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if events.send(LinkEvent::Incoming(p)).is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                let why = e.to_string();
                let wait = backoff.next_delay();
                tracing::warn!(error = %why, hint = link::hint(&why), retry_in_ms = wait.as_millis() as u64, "central broker: connection lost");
                if events.send(LinkEvent::Down(why)).is_err() {
                    return;
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

fn kind_name(m: &Message) -> &'static str {
    match m {
        Message::Batch(_) => "batch",
        Message::Ack(_) => "ack",
        Message::Plan(_) => "plan",
        Message::Status(_) => "status",
    }
}
