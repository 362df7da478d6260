//! Dock-door controllers over Modbus TCP and RTU: poll, debounce, and log
//! every real change of a door, and every change of a device's health.
//!
//! One task per TCP device, one per serial bus (its devices take turns).
//! Records go to the writer like the MQTT path's, with no ack ticket.

pub mod link;
pub mod reads;
pub mod tracker;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::link::{BlockReader, RtuBus, TcpLink};
use self::reads::{BlockData, ReadPlan};
use self::tracker::{DeviceTracker, Health};
use super::backoff::Backoff;
use crate::config::{DeviceConfig, ModbusConfig, TransportKind};
use crate::domain::time::Clock;
use crate::domain::{DeviceError, DoorState, EventBody, Signals};
use crate::store::{Identity, LogReader, Outcome, Record, StoreError, FLAPS_PREFIX};

/// Bounce counts are written at most this often per device.
const FLAPS_EVERY: Duration = Duration::from_secs(1);

/// What the log last said about doors and devices, to start from.
#[derive(Debug, Clone, Default)]
pub struct Seeds {
    pub doors: HashMap<String, (DoorState, Signals)>,
    pub devices: HashMap<String, Health>,
}

impl Seeds {
    pub fn from_log(reader: &LogReader) -> Result<Seeds, StoreError> {
        Ok(Seeds {
            doors: reader
                .door_states()?
                .into_iter()
                .map(|d| (d.door, (d.state, d.signals)))
                .collect(),
            devices: reader
                .device_health()?
                .into_iter()
                .map(|d| {
                    let health = if d.online {
                        Health::Online
                    } else {
                        Health::Offline
                    };
                    (d.device, health)
                })
                .collect(),
        })
    }
}

/// The source topic Modbus events are logged under.
pub fn source_topic(device: &str) -> String {
    format!("modbus/{device}")
}

/// Start polling every configured device. The tasks end when `stop` is
/// cancelled (or the writer is gone), dropping their record senders.
pub fn start<A: Send + 'static>(
    config: &ModbusConfig,
    seeds: &Seeds,
    records: flume::Sender<Record<A>>,
    clock: Clock,
    stop: CancellationToken,
) -> TaskTracker {
    let tasks = TaskTracker::new();
    let mut buses: BTreeMap<std::path::PathBuf, (RtuBus, Vec<Polled>)> = BTreeMap::new();
    for device in &config.devices {
        let polled = Polled::new(device, config, seeds, clock);
        match device.transport {
            TransportKind::Tcp => {
                let link = TcpLink::new(
                    device.host.as_deref().unwrap_or_default(),
                    device.tcp_port(),
                );
                tasks.spawn(run(vec![polled], link, records.clone(), stop.clone()));
            }
            TransportKind::Rtu => {
                let path = device.serial_port.clone().unwrap_or_default();
                buses
                    .entry(path.clone())
                    .or_insert_with(|| (RtuBus::new(path, device.serial_settings()), Vec::new()))
                    .1
                    .push(polled);
            }
        }
    }
    for (_, (bus, devices)) in buses {
        tracing::info!(bus = %bus.path().display(), devices = devices.len(), "modbus: serial bus");
        tasks.spawn(run(devices, bus, records.clone(), stop.clone()));
    }
    tasks.close();
    tasks
}

/// One device's plan, tracker and schedule.
struct Polled {
    tracker: DeviceTracker,
    plan: ReadPlan,
    unit: u8,
    interval: Duration,
    limit: Duration,
    backoff: Backoff,
    next_poll: Instant,
    /// Set while failing: no read (not even a debounce confirmation) before this.
    retry_at: Option<Instant>,
    flaps_sent: Instant,
    /// World time for door events (the demo's is simulated).
    clock: Clock,
}

impl Polled {
    fn new(device: &DeviceConfig, config: &ModbusConfig, seeds: &Seeds, clock: Clock) -> Polled {
        let plan = ReadPlan::for_device(device);
        let doors = device
            .doors
            .iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    d.door.clone(),
                    plan.signal_names(i).map(str::to_owned).collect(),
                )
            })
            .collect();
        let mut tracker = DeviceTracker::new(
            &device.name,
            doors,
            device.debounce_ms(config),
            device.offline_after_failures,
        );
        if let Some(h) = seeds.devices.get(&device.name) {
            tracker.seed_health(*h);
        }
        for d in &device.doors {
            if let Some((state, signals)) = seeds.doors.get(&d.door) {
                tracker.seed_door(&d.door, *state, signals);
            }
        }
        let now = Instant::now();
        Polled {
            tracker,
            plan,
            unit: device.unit_id,
            interval: Duration::from_millis(device.poll_interval_ms),
            limit: Duration::from_millis(device.timeout_ms),
            backoff: Backoff::new(
                Duration::from_millis(device.retry_min_ms),
                Duration::from_millis(device.retry_max_ms),
            ),
            next_poll: now,
            retry_at: None,
            flaps_sent: now,
            clock,
        }
    }

    /// When to read next: the next poll, a debounce deadline if sooner, or
    /// while failing, the retry time.
    fn wake_at(&self) -> Instant {
        if let Some(retry) = self.retry_at {
            return retry;
        }
        match self.tracker.next_deadline() {
            Some(deadline) => {
                let wait = self.clock.until(deadline);
                self.next_poll.min(Instant::now() + wait)
            }
            None => self.next_poll,
        }
    }

    async fn poll<R: BlockReader>(&self, reader: &mut R) -> Result<Vec<BlockData>, DeviceError> {
        let mut data = Vec::with_capacity(self.plan.blocks.len());
        for block in &self.plan.blocks {
            data.push(reader.read(self.unit, *block, self.limit).await?);
        }
        Ok(data)
    }

    /// Apply a poll's result: events for the log, and the next schedule.
    fn after<A>(&mut self, result: Result<Vec<BlockData>, DeviceError>) -> Vec<Record<A>> {
        let now = Instant::now();
        let events = match result {
            Ok(data) => {
                self.backoff.reset();
                self.retry_at = None;
                self.tracker
                    .on_read(&self.plan.decode(&data), self.clock.now_ms())
            }
            Err(error) => {
                let wait = self.backoff.next_delay();
                self.retry_at = Some(now + wait);
                tracing::debug!(device = self.tracker.device(), %error, retry_in_ms = wait.as_millis() as u64, "modbus: read failed");
                self.tracker.on_failure(&error, self.clock.now_ms())
            }
        };
        if self.next_poll <= now {
            let behind = (now - self.next_poll).as_nanos() / self.interval.as_nanos().max(1);
            self.next_poll += self.interval * (behind as u32 + 1);
        }
        for e in &events {
            log_event(e);
        }
        let mut out: Vec<Record<A>> = events
            .into_iter()
            .map(|body| {
                self.record(Outcome::Event {
                    body,
                    source_id: None,
                })
            })
            .collect();
        if now - self.flaps_sent >= FLAPS_EVERY {
            out.extend(self.flaps());
        }
        out
    }

    fn flaps<A>(&mut self) -> Vec<Record<A>> {
        self.flaps_sent = Instant::now();
        self.tracker
            .take_flaps()
            .into_iter()
            .map(|(door, n)| {
                tracing::debug!(%door, bounces = n, "modbus: door signal bounced");
                self.record(Outcome::Tally {
                    counter: format!("{FLAPS_PREFIX}{door}"),
                    n: n as i64,
                })
            })
            .collect()
    }

    fn record<A>(&self, outcome: Outcome) -> Record<A> {
        Record {
            topic: source_topic(self.tracker.device()),
            received_at: self.clock.now_ms(),
            identity: Identity::Local,
            outcome,
            ack: None,
        }
    }
}

fn log_event(e: &EventBody) {
    match e {
        EventBody::DeviceOffline { device, error, .. } => {
            tracing::warn!(%device, %error, "modbus: device offline; its doors are out of service")
        }
        EventBody::DeviceOnline { device, .. } => tracing::info!(%device, "modbus: device online"),
        EventBody::DoorChanged { door, from, to, .. } => {
            tracing::info!(%door, from = from.map_or("unknown", |f| f.as_str()), to = to.as_str(), "modbus: door changed")
        }
        _ => {}
    }
}

/// Poll `devices` over one reader (a TCP connection, or a serial bus they
/// share and take turns on) until `stop`.
async fn run<A, R>(
    mut devices: Vec<Polled>,
    mut reader: R,
    records: flume::Sender<Record<A>>,
    stop: CancellationToken,
) where
    A: Send + 'static,
    R: BlockReader + Send,
{
    'polling: loop {
        let Some((i, wake)) = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (i, d.wake_at()))
            .min_by_key(|(_, w)| *w)
        else {
            return;
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = sleep_until(wake) => {}
        }
        let device = &mut devices[i];
        let result = tokio::select! {
            _ = stop.cancelled() => break,
            r = device.poll(&mut reader) => r,
        };
        for r in device.after(result) {
            if records.send_async(r).await.is_err() {
                tracing::error!("modbus: the writer has stopped; stopping polls");
                break 'polling;
            }
        }
    }
    for device in &mut devices {
        for r in device.flaps() {
            let _ = records.send_async(r).await;
        }
    }
}
