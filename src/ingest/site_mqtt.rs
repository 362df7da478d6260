//! The site broker subscriber: persistent session, manual acks, and a PUBACK
//! only after the writer has committed what the message became.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Outgoing, Packet, PubAck,
    Publish, QoS, SubscribeFilter, SubscribeReasonCode,
};
use tokio_util::sync::CancellationToken;

pub use super::acks::AckTicket;
use super::acks::{AckQueue, Claim};
use super::backoff::Backoff;
use super::decode::{decode, Rejected};
use super::topic;
use crate::config::{AgentConfig, Subscription};
use crate::domain::time::Clock;
use crate::heartbeat::Heartbeat;
use crate::link;
use crate::store::{content_hash, Identity, Outcome, Record};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("site broker: {0}")]
    Link(#[from] crate::link::LinkError),
}

/// Largest packet accepted from the broker. Above `max_payload_bytes` the
/// message is dead-lettered; this only bounds memory for absurd packets.
const MAX_INCOMING_PACKET: usize = 16 * 1024 * 1024 + 64 * 1024;

/// What the health check and the metrics read of the subscriber.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Beats while the loop turns (at least once a keep-alive when idle),
    /// while it backs off, and while it waits on the writer (the writer has
    /// its own check): a beat older than that means the loop is stuck.
    pub beat: Heartbeat,
    /// Messages taken from the broker.
    pub received: AtomicU64,
    pub connected: AtomicBool,
}

/// How often the loop beats when nothing else happens.
const BEAT_EVERY: Duration = Duration::from_secs(1);

pub struct SiteSubscriber {
    options: MqttOptions,
    subscriptions: Vec<Subscription>,
    max_payload: usize,
    backoff: Backoff,
    stats: Arc<IngestStats>,
    clock: Clock,
}

impl SiteSubscriber {
    pub fn new(config: &AgentConfig, clock: Clock) -> Result<SiteSubscriber, IngestError> {
        let options = link::mqtt_options(
            &config.site_broker,
            config.site_client_id(),
            MAX_INCOMING_PACKET,
        )?;
        Ok(SiteSubscriber {
            options,
            subscriptions: config.subscriptions.clone(),
            max_payload: config.store.max_payload_bytes,
            backoff: link::backoff(&config.site_broker),
            stats: Arc::default(),
            clock,
        })
    }

    pub fn stats(&self) -> Arc<IngestStats> {
        Arc::clone(&self.stats)
    }

    /// Run until `stop` is cancelled; then stop taking messages, wait until
    /// the writer has committed and handed back every ticket (`acks` closes),
    /// send those acks, and disconnect.
    pub async fn run(
        mut self,
        records: flume::Sender<Record<AckTicket>>,
        acks: Arc<AckQueue>,
        stop: CancellationToken,
    ) {
        let (client, mut eventloop) = AsyncClient::new(self.options.clone(), 1024);
        let generation = Arc::new(AtomicU64::new(0));
        let mut acker = tokio::spawn(forward_acks(
            client.clone(),
            Arc::clone(&acks),
            Arc::clone(&generation),
        ));
        let mut direct = Vec::new();
        let mut records = Some(records);
        let mut first_connack = true;
        let mut acks_flushed = false;
        let stats = Arc::clone(&self.stats);
        let mut beat = tokio::time::interval(BEAT_EVERY);
        // No beat branch beside `eventloop.poll()`: cancelling a poll midway
        // (during a connect or a write) is not safe. A connected loop turns at
        // least every keep-alive (PINGREQ), so the health check allows that.
        loop {
            stats.beat.beat();
            tokio::select! {
                biased;
                _ = stop.cancelled(), if records.is_some() => {
                    tracing::info!("site broker: stopping intake; committing what is held");
                    records = None; // lets the writer finish
                }
                _ = &mut acker, if !acks_flushed => {
                    acks_flushed = true;
                    // Requests are sent in order: the acks go out before this.
                    let _ = client.try_disconnect();
                }
                event = eventloop.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        generation.fetch_add(1, Ordering::SeqCst);
                        acks.reconnected();
                        if ack.code != ConnectReturnCode::Success {
                            tracing::error!(code = ?ack.code, "site broker refused the connection; check credentials and client id");
                            continue;
                        }
                        self.backoff.reset();
                        stats.connected.store(true, Ordering::Relaxed);
                        tracing::info!(session_present = ack.session_present, "site broker: connected");
                        if !ack.session_present || first_connack {
                            self.subscribe(&client);
                        }
                        first_connack = false;
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let Some(tx) = &records else { continue }; // unacked: redelivered later
                        stats.received.fetch_add(1, Ordering::Relaxed);
                        let record = to_record(&self.subscriptions, &p, self.max_payload, generation.load(Ordering::SeqCst), self.clock.now_ms());
                        if send_beating(tx, record, &stats.beat).await.is_err() {
                            tracing::error!("site broker: the writer has stopped; stopping intake");
                            records = None;
                        }
                        write_acks(&mut eventloop, &acks, generation.load(Ordering::SeqCst), &mut direct).await;
                    }
                    Ok(Event::Outgoing(Outgoing::PubAck(pkid))) => {
                        acks.written(pkid);
                        write_acks(&mut eventloop, &acks, generation.load(Ordering::SeqCst), &mut direct).await;
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        if ack.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure)) {
                            tracing::error!(?ack.return_codes, "site broker refused a subscription; check the broker's ACL for this client");
                        } else {
                            tracing::info!(filters = ack.return_codes.len(), "site broker: subscribed");
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                        tracing::info!("site broker: disconnected");
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        generation.fetch_add(1, Ordering::SeqCst);
                        stats.connected.store(false, Ordering::Relaxed);
                        if acks_flushed || (records.is_none() && acker.is_finished()) {
                            break;
                        }
                        let wait = self.backoff.next_delay();
                        tracing::warn!(error = %e, hint = link::hint(&e.to_string()), retry_in_ms = wait.as_millis() as u64, "site broker: connection lost");
                        let sleep = tokio::time::sleep(wait);
                        tokio::pin!(sleep);
                        loop {
                            tokio::select! {
                                _ = &mut sleep => break,
                                _ = stop.cancelled(), if records.is_some() => { records = None; break; }
                                _ = beat.tick() => stats.beat.beat(),
                            }
                        }
                    }
                },
            }
        }
    }

    fn subscribe(&self, client: &AsyncClient) {
        let filters = self
            .subscriptions
            .iter()
            .map(|s| SubscribeFilter::new(s.topic.clone(), QoS::AtLeastOnce));
        if let Err(e) = client.try_subscribe_many(filters) {
            tracing::error!(error = %e, "site broker: cannot queue subscriptions");
        }
    }
}

/// Hand a record to the writer, beating while the writer holds the loop
/// back (back-pressure is waiting, not being stuck; a stuck writer is caught
/// by the writer's own check).
async fn send_beating<T>(
    tx: &flume::Sender<T>,
    record: T,
    beat: &Heartbeat,
) -> Result<(), flume::SendError<T>> {
    let send = tx.send_async(record);
    tokio::pin!(send);
    let mut every = tokio::time::interval(BEAT_EVERY);
    loop {
        tokio::select! {
            sent = &mut send => return sent,
            _ = every.tick() => beat.beat(),
        }
    }
}

/// Write the committed acks the queue allows straight onto the connection,
/// in one flush. Between polls only: a poll cancelled midway could lose them.
async fn write_acks(
    eventloop: &mut EventLoop,
    acks: &AckQueue,
    generation: u64,
    pkids: &mut Vec<u16>,
) {
    let Some(network) = eventloop.network.as_mut() else {
        return; // not connected: the broker redelivers what is unacked
    };
    acks.take_direct(generation, pkids);
    if pkids.is_empty() {
        return;
    }
    for pkid in pkids.drain(..) {
        if let Err(e) = network.write(Packet::PubAck(PubAck::new(pkid))).await {
            // The next poll reports the broken connection.
            tracing::debug!(error = %e, "site broker: cannot write acks");
            break;
        }
    }
    if let Err(e) = network.flush().await {
        tracing::debug!(error = %e, "site broker: cannot flush acks");
    }
}

/// Send the oldest committed ack through the client, which wakes the loop
/// when it is idle in `poll`.
/// Returns once the writer has ended and every ack is out.
async fn forward_acks(client: AsyncClient, acks: Arc<AckQueue>, generation: Arc<AtomicU64>) {
    loop {
        match acks.claim(generation.load(Ordering::SeqCst)) {
            Claim::Forward(t) => {
                let mut p = Publish::new("", t.qos, Vec::new());
                p.pkid = t.pkid;
                if client.ack(&p).await.is_err() {
                    return;
                }
            }
            Claim::Wait => acks.ready().await,
            Claim::Done => return,
        }
    }
}

/// Turn a delivered message into a record for the writer: an event, or a dead letter.
fn to_record(
    subs: &[Subscription],
    p: &Publish,
    max_payload: usize,
    generation: u64,
    received_at: crate::domain::Millis,
) -> Record<AckTicket> {
    let ack = AckTicket {
        generation,
        pkid: p.pkid,
        qos: p.qos,
    };
    // A retained message may be replayed on every subscribe with a new
    // packet id, so it is recognised by content alone.
    let packet_id = if p.retain { 0 } else { p.pkid };
    let content = Identity::Content {
        hash: content_hash(&p.topic, &p.payload, packet_id),
        packet_id,
        redelivery: p.dup || p.retain,
    };
    let decoded = match subs.iter().find(|s| topic::matches(&s.topic, &p.topic)) {
        Some(sub) => decode(sub, &p.topic, &p.payload, received_at, max_payload).map(|d| (sub, d)),
        None => Err(Rejected::NoSubscription(p.topic.clone())),
    };
    let (identity, outcome) = match decoded {
        Ok((sub, d)) => (
            match &d.source_id {
                Some(id) => Identity::SourceId {
                    scope: sub.topic.clone(),
                    id: id.clone(),
                },
                None => content,
            },
            Outcome::Event {
                body: d.body,
                source_id: d.source_id,
            },
        ),
        Err(why) => {
            tracing::debug!(topic = %p.topic, reason = %why, "dead letter");
            (
                content,
                Outcome::DeadLetter {
                    reason: why.to_string(),
                    payload: p.payload[..p.payload.len().min(max_payload)].to_vec(),
                    payload_len: p.payload.len(),
                },
            )
        }
    };
    Record {
        topic: p.topic.clone(),
        received_at,
        identity,
        outcome,
        ack: Some(ack),
    }
}
