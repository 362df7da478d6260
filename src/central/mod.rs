//! The central allocator (`dockside central`): receives every site's events,
//! stores them once, acknowledges after its own commit; takes orders in,
//! stored before they are acknowledged; allocates them (`allocate`, pure),
//! re-allocates when a site reports risk, and pushes each site its plan.

pub mod allocate;
pub mod inspect;
pub mod intake;
pub mod plans;
pub mod state;
pub mod store;

use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, Event, Outgoing, Packet, Publish, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::CentralConfig;
use crate::domain::time::{now_ms, Clock};
use crate::domain::EventBody;
use crate::link::{self, LinkError};
use crate::store::StoreError;
use crate::wire::{self, Ack, Message};
use allocate::{Allocator, Order};
use store::{CentralStore, CentralTx};

#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    #[error("central broker: {0}")]
    Link(#[from] LinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("plan file {path}: {why}\n    fix: give the plan as a JSON object")]
    PlanFile {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("central broker: {0}\n    fix: check [broker] in the central config and that the broker is running")]
    Publish(String),
    #[error("order file {path}: {why}\n    fix: give a CSV file with the header {}", allocate::order::CSV_COLUMNS.join(","))]
    OrderFile {
        path: std::path::PathBuf,
        why: String,
    },
}

/// Largest message accepted from a site (a batch is bounded by the site's
/// `uplink.batch_max_bytes`; this only bounds memory for absurd packets).
const MAX_INCOMING: usize = 64 * 1024 * 1024;

/// What the broker's event loop hands the receiver.
enum Incoming {
    Message(Publish),
    /// (Re)connected and subscribed: publish the latest plans again.
    Connected,
}

/// How often imported orders are picked up, missed cutoffs handled and
/// waiting orders tried again.
const TICK: Duration = Duration::from_secs(1);

/// Run the receiver and allocator until `stop`. `clock` gives world time:
/// the wall clock, except in the demo.
pub async fn run(
    config: CentralConfig,
    clock: Clock,
    stop: CancellationToken,
) -> Result<(), CentralError> {
    let mut store = CentralStore::open(&config.db_path())?;
    tracing::info!(db = %config.db_path().display(), "central: store open");
    let mut alloc = state::load(&config, &store.reader(), clock.now_ms())?;
    let mut pusher = plans::Pusher::load(&config.topic_prefix, &store.reader())?;
    tracing::info!(
        sites = config.sites.len(),
        carriers = config.carriers.len(),
        "central: allocator ready"
    );
    let options = link::mqtt_options(&config.broker, config.client_id(), MAX_INCOMING)?;
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    let filters = [
        format!("{}/+/up", config.topic_prefix),
        format!("{}/+/status", config.topic_prefix),
        config.orders_topic(),
    ];
    let (tx, mut incoming) = mpsc::unbounded_channel::<Incoming>();
    let mut backoff = link::backoff(&config.broker);
    let poll_client = client.clone();
    // The event loop runs on its own so that publishing acks never waits on it.
    let poller = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    if ack.code != ConnectReturnCode::Success {
                        tracing::error!(code = ?ack.code, "central broker refused the connection; check credentials and client id");
                        continue;
                    }
                    backoff.reset();
                    tracing::info!(
                        session_present = ack.session_present,
                        "central broker: connected"
                    );
                    // One SUBSCRIBE for all filters: one SUBACK per connection.
                    let _ = poll_client.try_subscribe_many(
                        filters
                            .iter()
                            .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce)),
                    );
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    tracing::info!("central broker: subscribed");
                    if tx.send(Incoming::Connected).is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(Incoming::Message(p)).is_err() {
                        return;
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(e) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %e, hint = link::hint(&e.to_string()), retry_in_ms = wait.as_millis() as u64, "central broker: connection lost");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    });
    // Store open, receiver started: ready. The watchdog is fed only while
    // this loop turns (it ticks every second when idle).
    let beat = std::sync::Arc::new(crate::heartbeat::Heartbeat::new());
    let notifier = crate::systemd::Notifier;
    let watched = std::sync::Arc::clone(&beat);
    tokio::spawn(crate::systemd::supervise(
        notifier,
        move |limit| crate::systemd::Health {
            status: "receiving".into(),
            stalled: (watched.age() > limit)
                .then(|| {
                    format!(
                        "receiver loop: has not turned for {}s",
                        watched.age().as_secs()
                    )
                })
                .into_iter()
                .collect(),
        },
        stop.clone(),
    ));
    let coalesce = Duration::from_millis(config.allocation.push_coalesce_ms);
    let mut push_at: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held: Vec<Incoming> = Vec::with_capacity(GROUP_MAX);
    let mut messages: Vec<Publish> = Vec::with_capacity(GROUP_MAX);
    loop {
        beat.beat();
        let push_due = async {
            match push_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            n = incoming.recv_many(&mut held, GROUP_MAX) => {
                if n == 0 {
                    break;
                }
                let mut connected = false;
                for h in held.drain(..) {
                    match h {
                        Incoming::Message(p) => messages.push(p),
                        Incoming::Connected => connected = true,
                    }
                }
                if connected {
                    let latest = tokio::task::block_in_place(|| pusher.latest(&store.reader()))?;
                    publish_plans(&client, latest).await;
                }
                if messages.is_empty() {
                    continue;
                }
                // Group commit: whatever has arrived goes in one transaction.
                let acks = tokio::task::block_in_place(|| {
                    handle_all(&mut store, &config, &mut alloc, &messages, clock.now_ms())
                })?;
                for (topic, bytes) in acks {
                    let _ = client.publish(topic, QoS::AtLeastOnce, false, bytes).await;
                }
                // Only now, after the commit, may the broker forget the messages.
                for p in messages.drain(..) {
                    let _ = client.ack(&p).await;
                }
            }
            _ = tick.tick() => {
                tokio::task::block_in_place(|| tick_work(&mut store, &mut alloc, clock.now_ms()))?;
            }
            _ = push_due => {
                push_at = None;
                let sites = alloc.take_dirty_sites();
                let out = tokio::task::block_in_place(|| pusher.push(&mut store, &alloc, &sites, clock.now_ms()))?;
                publish_plans(&client, out).await;
            }
        }
        if push_at.is_none() && alloc.has_dirty_sites() {
            push_at = Some(tokio::time::Instant::now() + coalesce);
        }
    }
    notifier.stopping();
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), poller).await;
    tracing::info!("central: stopped");
    Ok(())
}

/// Publish plans retained, so a site that connects later gets its latest.
async fn publish_plans(client: &AsyncClient, plans: Vec<(String, Vec<u8>)>) {
    for (topic, bytes) in plans {
        tracing::info!(%topic, "central: plan pushed");
        let _ = client.publish(topic, QoS::AtLeastOnce, true, bytes).await;
    }
}

/// Messages handled in one transaction, at most.
const GROUP_MAX: usize = 64;

/// Handle messages in one transaction: store new events and orders,
/// allocate, re-allocate on the sites' news, record every order that moved.
/// Returns the acks to publish, one per stream (the highest), once committed.
fn handle_all(
    store: &mut CentralStore,
    config: &CentralConfig,
    alloc: &mut Allocator,
    messages: &[Publish],
    now: crate::domain::Millis,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut tx = store.transaction()?;
    let mut acks: Vec<(String, Ack)> = Vec::new();
    let mut news = News::default();
    for p in messages {
        let Some((topic, ack)) = handle(&mut tx, config, p, now, &mut news)? else {
            continue;
        };
        match acks
            .iter_mut()
            .find(|(_, a)| a.site == ack.site && a.epoch == ack.epoch)
        {
            Some((_, a)) => a.upto_seq = a.upto_seq.max(ack.upto_seq),
            None => acks.push((topic, ack)),
        }
    }
    for (site, events) in &news.events {
        alloc.apply_events(site, events.iter(), now);
    }
    if !news.orders.is_empty() {
        alloc.allocate(std::mem::take(&mut news.orders), now);
    }
    record_changes(&mut tx, alloc, now)?;
    tx.commit()?;
    Ok(acks
        .into_iter()
        .map(|(topic, ack)| {
            let bytes =
                wire::encode(&Message::Ack(ack)).expect("the epoch was decoded, so it encodes");
            (topic, bytes)
        })
        .collect())
}

/// Imported orders, missed cutoffs, waiting orders: in one transaction.
fn tick_work(
    store: &mut CentralStore,
    alloc: &mut Allocator,
    now: crate::domain::Millis,
) -> Result<(), StoreError> {
    let mut tx = store.transaction()?;
    let new = tx.new_orders(10_000)?;
    if !new.is_empty() {
        tracing::info!(orders = new.len(), "central: imported orders taken");
        alloc.allocate(new, now);
    }
    alloc.tick(now);
    record_changes(&mut tx, alloc, now)?;
    tx.commit()
}

fn record_changes(
    tx: &mut CentralTx<'_>,
    alloc: &mut Allocator,
    now: crate::domain::Millis,
) -> Result<(), StoreError> {
    for id in alloc.take_changed_orders() {
        if let Some((_, state)) = alloc.order(&id) {
            tx.update_order(&id, state, now)?;
        }
    }
    Ok(())
}

/// What a group of messages brought for the allocator.
#[derive(Default)]
struct News {
    /// New events by site, in arrival order.
    events: Vec<(String, Vec<EventBody>)>,
    orders: Vec<Order>,
}

/// Handle one message; returns the ack it calls for, if any.
fn handle(
    store: &mut CentralTx<'_>,
    config: &CentralConfig,
    p: &Publish,
    now: crate::domain::Millis,
    news: &mut News,
) -> Result<Option<(String, Ack)>, StoreError> {
    let prefix = config.topic_prefix.as_str();
    if p.topic == config.orders_topic() {
        match intake::take_order(store, config, &p.payload, "broker", now)? {
            intake::Intake::Accepted(o) => news.orders.push(o),
            intake::Intake::Duplicate => {
                tracing::info!("central: order redelivered; already taken")
            }
            intake::Intake::Rejected(reasons) => {
                tracing::warn!(reasons = %reasons.join("; "), "central: order refused")
            }
        }
        return Ok(None);
    }
    let Some((topic_site, leaf)) = site_of(prefix, &p.topic) else {
        store.record_rejected(&p.topic, "unexpected topic", p.payload.len(), now)?;
        return Ok(None);
    };
    let reject = |store: &mut CentralTx<'_>, reason: String| -> Result<_, StoreError> {
        tracing::error!(topic = %p.topic, %reason, "central: message rejected");
        store.record_rejected(&p.topic, &reason, p.payload.len(), now)?;
        Ok(None)
    };
    let msg = match wire::decode(&p.payload) {
        Ok(m) => m,
        Err(e) => return reject(store, format!("unreadable: {e}")),
    };
    match (leaf, msg) {
        ("up", Message::Batch(batch)) => {
            if batch.site != topic_site {
                return reject(
                    store,
                    format!(
                        "batch for site `{}` on site `{topic_site}`'s topic",
                        batch.site
                    ),
                );
            }
            let stored = store.store_batch(&batch, now)?;
            if stored.gap {
                tracing::warn!(site = %batch.site, first_seq = batch.first_seq, have = stored.upto, "central: batch after a gap not stored; the site re-sends");
            }
            if stored.new > 0 {
                // The new events are the batch's last `new` (seqs are consecutive).
                let fresh = batch.events[batch.events.len() - stored.new..]
                    .iter()
                    .filter(|e| !matches!(e.body, EventBody::Scan { .. }))
                    .map(|e| e.body.clone());
                match news.events.iter_mut().find(|(s, _)| *s == batch.site) {
                    Some((_, list)) => list.extend(fresh),
                    None => news.events.push((batch.site.clone(), fresh.collect())),
                }
            }
            let ack = Ack {
                site: batch.site.clone(),
                epoch: batch.epoch.clone(),
                upto_seq: stored.upto,
            };
            Ok(Some((format!("{prefix}/{topic_site}/ack"), ack)))
        }
        ("status", Message::Status(status)) => {
            if status.site != topic_site {
                return reject(
                    store,
                    format!("status of `{}` on `{topic_site}`'s topic", status.site),
                );
            }
            store.record_status(&status, now)?;
            Ok(None)
        }
        (leaf, _) => reject(store, format!("unexpected message kind on `{leaf}`")),
    }
}

/// `{prefix}/{site}/{leaf}` → (site, leaf).
fn site_of<'a>(prefix: &str, topic: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let (site, leaf) = rest.split_once('/')?;
    (!site.is_empty() && !leaf.contains('/')).then_some((site, leaf))
}

/// Store a plan for `site` under its next version and publish it (retained,
/// so a gateway that connects later still gets it). Returns the version.
pub async fn push_plan(
    config: &CentralConfig,
    site: &str,
    file: &std::path::Path,
) -> Result<u64, CentralError> {
    let body = std::fs::read_to_string(file).map_err(|e| CentralError::PlanFile {
        path: file.to_owned(),
        why: e.to_string(),
    })?;
    let parsed: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| CentralError::PlanFile {
            path: file.to_owned(),
            why: e.to_string(),
        })?;
    if !parsed.is_object() {
        return Err(CentralError::PlanFile {
            path: file.to_owned(),
            why: "not a JSON object".into(),
        });
    }
    push_plan_body(config, site, body, now_ms()).await
}

static PUSHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Store `body` (a JSON object) as `site`'s next plan, issued at `now`, and
/// publish it retained. Returns the version.
pub async fn push_plan_body(
    config: &CentralConfig,
    site: &str,
    body: String,
    now: crate::domain::Millis,
) -> Result<u64, CentralError> {
    let version = CentralStore::open(&config.db_path())?.new_plan(site, &body, now)?;
    let msg = Message::Plan(wire::Plan {
        site: site.to_owned(),
        version,
        issued_at: now,
        body,
    });
    let bytes = wire::encode(&msg).expect("plans carry no epoch");
    let mut options = link::mqtt_options(
        &config.broker,
        // One id per push: a process pushing again (the demo) must not
        // take over its previous connection's id while the broker drops it.
        format!(
            "{}-push-{}-{}",
            config.client_id(),
            std::process::id(),
            PUSHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        MAX_INCOMING,
    )?;
    options.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, 8);
    let topic = format!("{}/{site}/plan", config.topic_prefix);
    client
        .publish(topic, QoS::AtLeastOnce, true, bytes)
        .await
        .map_err(|e| CentralError::Publish(e.to_string()))?;
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return Err(CentralError::Publish("no PUBACK within 10 s".into())),
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::PubAck(_))) => break,
                Ok(_) => {}
                Err(e) => return Err(CentralError::Publish(e.to_string())),
            }
        }
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while eventloop.poll().await.is_ok() {}
    })
    .await;
    Ok(version)
}

/// `dockside central status` as text.
pub fn render_sites(sites: &[store::SiteView], now: crate::domain::Millis) -> String {
    use crate::domain::time::format_rfc3339;
    if sites.is_empty() {
        return "no site has synced yet\n".into();
    }
    let mut out = format!(
        "{:<16} {:>10} {:>8} {:<8} {:<26} {:>6}  epoch\n",
        "site", "last seq", "lag", "link", "last contact", "plan"
    );
    for s in sites {
        let ago = (now - s.last_contact).max(0) / 1000;
        out.push_str(&format!(
            "{:<16} {:>10} {:>8} {:<8} {:<26} {:>6}  {}\n",
            s.site,
            s.last_seq,
            s.lag.map(|l| l.to_string()).unwrap_or_else(|| "?".into()),
            match s.online {
                Some(true) => "online",
                Some(false) => "offline",
                None => "?",
            },
            format!("{} ({ago} s ago)", format_rfc3339(s.last_contact)),
            s.plan_version
                .map(|v| format!("v{v}"))
                .unwrap_or_else(|| "-".into()),
            s.epoch
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_name_their_site() {
        assert_eq!(
            site_of("dockside", "dockside/dc-1/up"),
            Some(("dc-1", "up"))
        );
        assert_eq!(site_of("a/b", "a/b/s/status"), Some(("s", "status")));
        assert_eq!(site_of("dockside", "dockside//up"), None);
        assert_eq!(site_of("dockside", "other/dc-1/up"), None);
        assert_eq!(site_of("dockside", "dockside/dc-1/x/up"), None);
    }
}
