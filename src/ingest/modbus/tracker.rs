//! What a device's reads mean: debounced signals, door states and device
//! health, turned into events. Pure: every call takes `now`.

use crate::domain::{DeviceError, DoorState, EventBody, Millis, Signals};

/// A device's health as last logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Nothing logged yet for this device.
    Unknown,
    Online,
    Offline,
}

#[derive(Debug, Clone)]
struct SignalTrack {
    name: String,
    /// The debounced value; None until read (or after the device was offline).
    value: Option<bool>,
    /// A different value being read since the given time.
    pending: Option<(bool, Millis)>,
}

#[derive(Debug, Clone)]
struct DoorTrack {
    door: String,
    signals: Vec<SignalTrack>,
    state: Option<DoorState>,
    /// Bounces shorter than the debounce time, not yet reported.
    flaps: u64,
}

impl DoorTrack {
    fn signals(&self) -> Signals {
        self.signals
            .iter()
            .filter_map(|s| s.value.map(|v| (s.name.clone(), v)))
            .collect()
    }
}

/// One device's doors and health.
#[derive(Debug, Clone)]
pub struct DeviceTracker {
    device: String,
    debounce: Millis,
    offline_after: u32,
    doors: Vec<DoorTrack>,
    health: Health,
    failures: u32,
    last_good: Option<Millis>,
}

impl DeviceTracker {
    /// `doors`: each door's id and its signal names, in the order reads
    /// deliver their values.
    pub fn new(
        device: &str,
        doors: Vec<(String, Vec<String>)>,
        debounce_ms: u64,
        offline_after_failures: u32,
    ) -> DeviceTracker {
        DeviceTracker {
            device: device.to_owned(),
            debounce: debounce_ms as Millis,
            offline_after: offline_after_failures.max(1),
            doors: doors
                .into_iter()
                .map(|(door, names)| DoorTrack {
                    door,
                    signals: names
                        .into_iter()
                        .map(|name| SignalTrack {
                            name,
                            value: None,
                            pending: None,
                        })
                        .collect(),
                    state: None,
                    flaps: 0,
                })
                .collect(),
            health: Health::Unknown,
            failures: 0,
            last_good: None,
        }
    }

    /// Start from the last logged state of a door, so that a restart logs
    /// only real differences. Signals no longer configured are ignored.
    pub fn seed_door(&mut self, door: &str, state: DoorState, signals: &Signals) {
        if let Some(d) = self.doors.iter_mut().find(|d| d.door == door) {
            d.state = Some(state);
            for s in &mut d.signals {
                s.value = signals.get(&s.name).copied();
            }
        }
    }

    /// Start from the device's last logged health.
    pub fn seed_health(&mut self, health: Health) {
        self.health = health;
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// A successful read: `values[door][signal]` in construction order.
    pub fn on_read(&mut self, values: &[Vec<bool>], now: Millis) -> Vec<EventBody> {
        let mut events = Vec::new();
        self.failures = 0;
        self.last_good = Some(now);
        if self.health != Health::Online {
            self.health = Health::Online;
            events.push(EventBody::DeviceOnline {
                device: self.device.clone(),
                at: now,
            });
        }
        for (door, values) in self.doors.iter_mut().zip(values) {
            let mut changed = false;
            let mut at: Option<Millis> = None;
            for (s, &v) in door.signals.iter_mut().zip(values) {
                match s.value {
                    None => {
                        s.value = Some(v);
                        s.pending = None;
                    }
                    Some(current) if current == v => {
                        if s.pending.take().is_some() {
                            door.flaps += 1;
                        }
                    }
                    Some(_) => {
                        let since = match s.pending {
                            Some((p, since)) if p == v => since,
                            _ => {
                                s.pending = Some((v, now));
                                now
                            }
                        };
                        if now - since >= self.debounce {
                            s.value = Some(v);
                            s.pending = None;
                            changed = true;
                            at = Some(at.map_or(since, |a| a.max(since)));
                        }
                    }
                }
            }
            if door.signals.iter().any(|s| s.value.is_none()) {
                continue;
            }
            let signals = door.signals();
            let state = DoorState::derive(&signals);
            if changed || door.state != Some(state) {
                events.push(EventBody::DoorChanged {
                    door: door.door.clone(),
                    device: self.device.clone(),
                    from: door.state,
                    to: state,
                    signals,
                    at: at.unwrap_or(now),
                });
                door.state = Some(state);
            }
        }
        events
    }

    /// A failed read. After `offline_after_failures` in a row the device is
    /// logged offline and its doors out of service, once.
    pub fn on_failure(&mut self, error: &DeviceError, now: Millis) -> Vec<EventBody> {
        let mut events = Vec::new();
        self.failures = self.failures.saturating_add(1);
        if self.failures < self.offline_after {
            return events;
        }
        if self.health != Health::Offline {
            self.health = Health::Offline;
            events.push(EventBody::DeviceOffline {
                device: self.device.clone(),
                error: error.clone(),
                last_good_read: self.last_good,
                at: now,
            });
        }
        for door in &mut self.doors {
            // Values read before the outage say nothing about the door now.
            for s in &mut door.signals {
                s.value = None;
                s.pending = None;
            }
            if door.state != Some(DoorState::OutOfService) {
                events.push(EventBody::DoorChanged {
                    door: door.door.clone(),
                    device: self.device.clone(),
                    from: door.state,
                    to: DoorState::OutOfService,
                    signals: Signals::new(),
                    at: now,
                });
                door.state = Some(DoorState::OutOfService);
            }
        }
        events
    }

    /// When a pending change will have held for the debounce time: read
    /// again then, rather than at the next poll, to commit it on time.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.doors
            .iter()
            .flat_map(|d| &d.signals)
            .filter_map(|s| s.pending.map(|(_, since)| since + self.debounce))
            .min()
    }

    /// Bounces counted since the last call, per door (only doors with some).
    pub fn take_flaps(&mut self) -> Vec<(String, u64)> {
        self.doors
            .iter_mut()
            .filter(|d| d.flaps > 0)
            .map(|d| (d.door.clone(), std::mem::take(&mut d.flaps)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NAMES: [&str; 3] = ["door_open", "fault", "vehicle_present"];

    fn tracker(debounce: u64) -> DeviceTracker {
        let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
        DeviceTracker::new(
            "plc",
            vec![("D1".into(), names.clone()), ("D2".into(), names)],
            debounce,
            2,
        )
    }

    /// (door, from, to) of the door events, and the kinds of the others.
    fn summary(events: &[EventBody]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                EventBody::DoorChanged { door, from, to, .. } => format!(
                    "{door} {}->{}",
                    from.map_or("none", |f| f.as_str()),
                    to.as_str()
                ),
                other => other.kind().to_string(),
            })
            .collect()
    }

    const IDLE: [bool; 3] = [false, false, false];
    const DOCKED: [bool; 3] = [false, false, true];

    fn read(t: &mut DeviceTracker, d1: [bool; 3], d2: [bool; 3], now: Millis) -> Vec<String> {
        summary(&t.on_read(&[d1.to_vec(), d2.to_vec()], now))
    }

    #[test]
    fn first_read_logs_online_and_every_door_then_only_changes_that_hold() {
        let mut t = tracker(300);
        assert_eq!(
            read(&mut t, IDLE, DOCKED, 0),
            ["device_online", "D1 none->free", "D2 none->vehicle_docked"]
        );
        assert!(read(&mut t, IDLE, DOCKED, 100).is_empty());
        // D1 gets a vehicle at 200: pending until it has held 300 ms.
        assert!(read(&mut t, DOCKED, DOCKED, 200).is_empty());
        assert_eq!(t.next_deadline(), Some(500));
        assert!(read(&mut t, DOCKED, DOCKED, 400).is_empty());
        let events = t.on_read(&[DOCKED.to_vec(), DOCKED.to_vec()], 500);
        assert_eq!(summary(&events), ["D1 free->vehicle_docked"]);
        match &events[0] {
            EventBody::DoorChanged { signals, at, .. } => {
                assert_eq!(*at, 200, "the change is dated when first read");
                assert_eq!(signals.get("vehicle_present"), Some(&true));
                assert_eq!(signals.len(), 3);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn bounces_shorter_than_the_debounce_are_counted_not_logged() {
        let mut t = tracker(300);
        read(&mut t, IDLE, IDLE, 0);
        let mut logged = Vec::new();
        for i in 1..=20 {
            let v = if i % 2 == 1 { DOCKED } else { IDLE };
            logged.extend(read(&mut t, v, IDLE, i * 100));
        }
        assert!(logged.is_empty(), "{logged:?}");
        assert_eq!(t.take_flaps(), vec![("D1".to_string(), 10)]);
        assert!(t.take_flaps().is_empty());
    }

    #[test]
    fn a_signal_change_that_keeps_the_state_is_still_logged() {
        let mut t = tracker(0);
        read(&mut t, IDLE, IDLE, 0);
        assert_eq!(
            read(&mut t, [true, false, false], IDLE, 100),
            ["D1 free->free"]
        );
    }

    #[test]
    fn offline_after_repeated_failures_puts_doors_out_of_service_once() {
        let mut t = tracker(300);
        read(&mut t, IDLE, DOCKED, 0);
        let timeout = DeviceError::Timeout { after_ms: 100 };
        assert!(
            t.on_failure(&timeout, 100).is_empty(),
            "one failure is not an outage"
        );
        let events = t.on_failure(&timeout, 200);
        assert_eq!(
            summary(&events),
            [
                "device_offline",
                "D1 free->out_of_service",
                "D2 vehicle_docked->out_of_service"
            ]
        );
        match &events[0] {
            EventBody::DeviceOffline {
                error,
                last_good_read,
                ..
            } => {
                assert_eq!(error, &timeout);
                assert_eq!(*last_good_read, Some(0));
            }
            other => panic!("{other:?}"),
        }
        assert!(t.on_failure(&timeout, 300).is_empty());
        // Back: the values read now are the doors' state, without debounce.
        assert_eq!(
            read(&mut t, DOCKED, DOCKED, 400),
            [
                "device_online",
                "D1 out_of_service->vehicle_docked",
                "D2 out_of_service->vehicle_docked"
            ]
        );
    }

    #[test]
    fn a_success_between_failures_resets_the_count() {
        let mut t = tracker(300);
        read(&mut t, IDLE, IDLE, 0);
        let e = DeviceError::ConnectionRefused;
        for i in 0..5 {
            assert!(t.on_failure(&e, 10 + i * 10).is_empty());
            assert!(read(&mut t, IDLE, IDLE, 15 + i * 10).is_empty());
        }
    }

    #[test]
    fn a_restart_seeded_from_the_log_logs_only_real_differences() {
        let mut t = tracker(300);
        t.seed_health(Health::Online);
        let idle: Signals = NAMES.iter().map(|n| (n.to_string(), false)).collect();
        t.seed_door("D1", DoorState::Free, &idle);
        t.seed_door("D2", DoorState::Free, &idle);
        // D1 unchanged; D2 got a vehicle while we were down: debounced, then logged.
        assert!(read(&mut t, IDLE, DOCKED, 1000).is_empty());
        assert_eq!(
            read(&mut t, IDLE, DOCKED, 1300),
            ["D2 free->vehicle_docked"]
        );
    }

    #[test]
    fn a_device_still_down_after_a_restart_logs_nothing_new() {
        let mut t = tracker(300);
        t.seed_health(Health::Offline);
        t.seed_door("D1", DoorState::OutOfService, &Signals::new());
        t.seed_door("D2", DoorState::OutOfService, &Signals::new());
        let e = DeviceError::Timeout { after_ms: 100 };
        for i in 0..5 {
            assert!(t.on_failure(&e, i * 100).is_empty());
        }
        assert_eq!(
            read(&mut t, IDLE, IDLE, 1000),
            [
                "device_online",
                "D1 out_of_service->free",
                "D2 out_of_service->free"
            ]
        );
    }

    proptest! {
        /// Against a model of the input: a change is logged only after every
        /// read for at least the debounce time showed it, it is dated when it
        /// was first read, and once the input settles the log catches up.
        #[test]
        fn debounce_logs_only_changes_that_held(
            debounce in 0u64..300,
            reads in proptest::collection::vec((1i64..150, any::<bool>()), 1..200),
        ) {
            let mut t = DeviceTracker::new("plc", vec![("D1".into(), vec!["vehicle_present".into()])], debounce, 1);
            let mut now = 0;
            let mut history: Vec<(Millis, bool)> = Vec::new();
            let mut logged: Vec<(Millis, Millis, bool)> = Vec::new(); // (at, committed at, value)
            let mut feed = |t: &mut DeviceTracker, now: Millis, v: bool, history: &mut Vec<(Millis, bool)>| {
                history.push((now, v));
                for e in t.on_read(&[vec![v]], now) {
                    if let EventBody::DoorChanged { signals, at, .. } = e {
                        logged.push((at, now, signals["vehicle_present"]));
                    }
                }
            };
            for (dt, v) in &reads {
                now += dt;
                feed(&mut t, now, *v, &mut history);
            }
            let last = reads.last().map(|r| r.1).unwrap_or(false);
            for _ in 0..4 {
                now += debounce as i64 / 2 + 1;
                feed(&mut t, now, last, &mut history);
            }
            let (first_at, _, first_value) = logged[0];
            prop_assert_eq!((first_at, first_value), history[0]);
            for w in logged.windows(2) {
                prop_assert_ne!(w[0].2, w[1].2, "a repeated value was logged");
            }
            for &(at, committed, v) in &logged[1..] {
                prop_assert!(committed - at >= debounce as i64);
                prop_assert!(history.iter().any(|&(t, hv)| t == at && hv == v), "dated at a read of the value");
                for &(t, hv) in &history {
                    if t >= at && t <= committed {
                        prop_assert_eq!(hv, v, "a read at {} contradicted the change logged at {}", t, at);
                    }
                }
            }
            prop_assert_eq!(logged.last().map(|l| l.2), Some(last));
        }
    }
}
