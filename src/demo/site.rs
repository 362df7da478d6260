//! The simulated site around the agent: pickers' scanners, the WMS and the
//! yard publishing over MQTT, the door controller over Modbus, the link to
//! head office, and central receiving plans to send down — all driven by a
//! [`LiveDay`] in the demo's simulated time. The agent's decisions come back
//! over MQTT and the site acts on them: a released wave goes to the pickers
//! (and the WMS confirms it), a proposed deferral is accepted.

use std::collections::VecDeque;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::configs::{self, FAULT_BASE, SIGNALS_PER_DOOR};
use super::relay::Relay;
use super::DemoError;
use crate::config::CentralConfig;
use crate::domain::time::Clock;
use crate::domain::{Decision, Millis};
use crate::sim::day::{Day, Happening, Incident, LiveDay};
use crate::sim::door_plc::DoorPlc;

const MIN: Millis = 60_000;
/// Central sends a new plan (the waves built since) at most this often.
const PLAN_EVERY: Millis = 10 * MIN;
const UNIT: u8 = 1;

/// Something the script does at a time.
#[derive(Debug, Clone, PartialEq)]
enum Action {
    FaultOn(usize),
    FaultOff(usize),
    LinkDown,
    LinkUp,
    /// A departure's vehicle is at the gate.
    Arrive(usize),
    /// It leaves its door.
    Leave(usize),
}

/// A door as the site sees it, for the view.
#[derive(Debug, Clone, Default)]
pub struct DoorView {
    pub id: String,
    pub fault: bool,
    /// The departure whose vehicle is at the door.
    pub docked: Option<usize>,
    /// Vehicles waiting on the yard for it.
    pub queue: VecDeque<usize>,
}

/// What the view and the summary read while the day runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub now: Millis,
    pub doors: Vec<DoorView>,
    /// Decisions as they came, in order.
    pub decisions: Vec<Decision>,
    /// Decisions of kinds this build does not know (from a newer agent):
    /// (kind, fields worth showing).
    pub other_decisions: Vec<(String, String)>,
    pub released: Vec<(String, Millis)>,
    pub deferrals_accepted: usize,
    pub plans_pushed: u64,
    pub link_up: bool,
    pub lines_picked: u64,
    pub messages: u64,
}

pub struct Site<'d> {
    day: &'d Day,
    clock: Clock,
    live: LiveDay<'d>,
    devices: AsyncClient,
    decisions: mpsc::UnboundedReceiver<Heard>,
    plans: mpsc::UnboundedSender<String>,
    plc: DoorPlc,
    relay: Relay,
    script: Vec<(Millis, Action)>,
    next_action: usize,
    next_plan: Millis,
    pub progress: Progress,
}

impl<'d> Site<'d> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        day: &'d Day,
        outages: &[(Millis, Millis)],
        clock: Clock,
        broker: std::net::SocketAddr,
        central: CentralConfig,
        plc: DoorPlc,
        relay: Relay,
        stop: CancellationToken,
    ) -> Site<'d> {
        let devices = client(broker, "demo-devices", None, stop.clone());
        let (tx, decisions) = mpsc::unbounded_channel();
        let filter = format!("dockside/{}/decisions/#", day.site);
        client(
            broker,
            "demo-wms-decisions",
            Some((filter, tx)),
            stop.clone(),
        );
        let (plans, mut bodies) = mpsc::unbounded_channel::<String>();
        let site = day.site.clone();
        // Plans go through central (its store, then retained on the broker):
        // one at a time, so versions follow the day.
        tokio::spawn(async move {
            while let Some(body) = bodies.recv().await {
                let now = clock.now_ms();
                if let Err(e) = crate::central::push_plan_body(&central, &site, body, now).await {
                    tracing::warn!(error = %e, "demo: plan not pushed");
                }
            }
        });
        let mut script = Vec::new();
        for i in &day.incidents {
            if let Incident::DoorOutage { door, from, until } = i {
                if let Some(k) = day.doors.iter().position(|d| d == door) {
                    script.push((*from, Action::FaultOn(k)));
                    script.push((*until, Action::FaultOff(k)));
                }
            }
        }
        for &(from, until) in outages {
            script.push((from, Action::LinkDown));
            script.push((until, Action::LinkUp));
        }
        for (d, truth) in day.truth.iter().enumerate() {
            script.push((truth.vehicle_arrival, Action::Arrive(d)));
            let leave = day.departures[d]
                .scheduled_at
                .max(truth.vehicle_arrival + 30 * MIN);
            script.push((leave, Action::Leave(d)));
        }
        script.sort_by_key(|(t, _)| *t);
        let doors = day
            .doors
            .iter()
            .map(|id| DoorView {
                id: id.clone(),
                ..DoorView::default()
            })
            .collect();
        Site {
            day,
            clock,
            live: LiveDay::new(day),
            devices,
            decisions,
            plans,
            plc,
            relay,
            script,
            next_action: 0,
            next_plan: day.start,
            progress: Progress {
                doors,
                link_up: true,
                ..Progress::default()
            },
        }
    }

    /// Run the world up to the clock's now: publish what happened, act on
    /// the agent's decisions, play the script. True once the day is over.
    pub async fn step(&mut self) -> Result<bool, DemoError> {
        let now = self.clock.now_ms();
        self.progress.now = now;
        while let Ok(heard) = self.decisions.try_recv() {
            match heard {
                Heard::Known(d) => {
                    self.act_on(&d, now).await;
                    self.progress.decisions.push(d);
                }
                Heard::Other(kind, text) => self.progress.other_decisions.push((kind, text)),
            }
        }
        for h in self.live.advance(now) {
            self.publish(&h).await;
        }
        while let Some((t, action)) = self.script.get(self.next_action).cloned() {
            if t > now {
                break;
            }
            self.next_action += 1;
            self.play(action, t).await;
        }
        if now >= self.next_plan && self.live.take_plan_change() {
            let mut plan = self.live.plan().clone();
            plan.generated_at = now;
            let body = serde_json::to_string(&plan).expect("plans serialize");
            let _ = self.plans.send(body);
            self.progress.plans_pushed += 1;
            self.next_plan = now + PLAN_EVERY;
        }
        self.progress.lines_picked = self.live.lines_picked();
        Ok(self.over(now))
    }

    /// Real time to wait before the next step.
    pub fn pause(&self) -> Duration {
        let next = self
            .live
            .next_at()
            .into_iter()
            .chain(self.script.get(self.next_action).map(|(t, _)| *t))
            .min()
            .unwrap_or(self.progress.now + MIN);
        self.clock
            .until(next)
            .clamp(Duration::from_millis(1), Duration::from_millis(25))
    }

    fn over(&self, now: Millis) -> bool {
        let last_leave = self
            .day
            .departures
            .iter()
            .map(|d| d.scheduled_at)
            .max()
            .unwrap_or(now);
        let last_cutoff = self
            .day
            .departures
            .iter()
            .map(|d| d.cutoff)
            .max()
            .unwrap_or(now);
        (self.live.finished() && now > last_leave && self.next_action >= self.script.len())
            || now > last_cutoff + 2 * 60 * MIN
    }

    /// The day's ground truth, once it is over.
    pub fn finish(self) -> (crate::sim::day::DayOutcome, Progress) {
        (self.live.outcome(), self.progress)
    }

    async fn act_on(&mut self, d: &Decision, now: Millis) {
        match d {
            Decision::WaveRelease { wave, .. } if self.live.release(wave, now) => {
                self.progress.released.push((wave.clone(), now));
                let msg = json!({"msg_id": format!("rel-{wave}"), "wave": wave, "ts": now});
                self.send(configs::WAVES_RELEASED.to_owned(), msg).await;
            }
            // The WMS accepts; central's next plan carries the move.
            Decision::OrderDeferralProposed {
                order,
                to_departure,
                ..
            } if self.live.defer(order, to_departure, now) => {
                self.progress.deferrals_accepted += 1;
            }
            _ => {}
        }
    }

    async fn publish(&mut self, h: &Happening) {
        if let Happening::Picked {
            picker,
            order,
            line,
            sku,
            qty,
            at,
        } = h
        {
            let msg = json!({
                "msg_id": format!("{order}/{line}"),
                "device": picker,
                "barcode": sku,
                "action": "pick",
                "order": order,
                "line": line,
                "qty": qty,
                "ts": at,
            });
            self.send(format!("{}/{picker}", configs::SCANS), msg).await;
        }
    }

    async fn send(&mut self, topic: String, msg: serde_json::Value) {
        self.progress.messages += 1;
        let bytes = serde_json::to_vec(&msg).expect("json serializes");
        if let Err(e) = self
            .devices
            .publish(topic, QoS::AtLeastOnce, false, bytes)
            .await
        {
            tracing::warn!(error = %e, "demo: device message not sent");
        }
    }

    async fn play(&mut self, action: Action, t: Millis) {
        match action {
            Action::FaultOn(k) | Action::FaultOff(k) => {
                let on = matches!(action, Action::FaultOn(_));
                self.plc.set_discrete_input(UNIT, FAULT_BASE + k as u16, on);
                self.progress.doors[k].fault = on;
            }
            Action::LinkDown | Action::LinkUp => {
                let up = action == Action::LinkUp;
                self.relay.set_up(up);
                self.progress.link_up = up;
            }
            Action::Arrive(d) => {
                let id = &self.day.departures[d].id;
                let msg = json!({"msg_id": format!("arr-{id}"), "departure": id, "ts": t});
                self.send(configs::ARRIVALS.to_owned(), msg).await;
                if let Some(k) = self.door_of(d) {
                    if self.progress.doors[k].docked.is_none() {
                        self.dock(k, Some(d));
                    } else {
                        self.progress.doors[k].queue.push_back(d);
                    }
                }
            }
            Action::Leave(d) => {
                if let Some(k) = self.door_of(d) {
                    let door = &mut self.progress.doors[k];
                    if door.docked == Some(d) {
                        let next = door.queue.pop_front();
                        self.dock(k, next);
                    } else {
                        door.queue.retain(|&q| q != d);
                    }
                }
            }
        }
    }

    fn door_of(&self, d: usize) -> Option<usize> {
        let door = self.day.departures[d].door.as_deref()?;
        self.day.doors.iter().position(|x| x == door)
    }

    /// Set door `k`'s signals for a docked vehicle (loading) or none.
    fn dock(&mut self, k: usize, d: Option<usize>) {
        let base = k as u16 * SIGNALS_PER_DOOR;
        let on = d.is_some();
        for s in 0..SIGNALS_PER_DOOR {
            self.plc.set_discrete_input(UNIT, base + s, on);
        }
        self.progress.doors[k].docked = d;
    }

    pub fn link_up(&self) -> bool {
        self.relay.is_up()
    }
}

/// A decision heard on the broker.
enum Heard {
    Known(Decision),
    /// A kind this build does not know: its `kind` and its other fields.
    Other(String, String),
}

impl Heard {
    fn parse(payload: &[u8]) -> Option<Heard> {
        if let Ok(d) = serde_json::from_slice::<Decision>(payload) {
            return Some(Heard::Known(d));
        }
        let serde_json::Value::Object(mut fields) = serde_json::from_slice(payload).ok()? else {
            return None;
        };
        let kind = fields.remove("kind")?.as_str()?.to_owned();
        fields.remove("inputs");
        let text = fields
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k} {s}"),
                other => format!("{k} {other}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        Some(Heard::Other(kind, text))
    }
}

/// An MQTT client on the demo broker, its event loop polled until `stop`;
/// with a filter, what arrives on it is parsed as decisions and forwarded.
fn client(
    broker: std::net::SocketAddr,
    id: &str,
    decisions: Option<(String, mpsc::UnboundedSender<Heard>)>,
    stop: CancellationToken,
) -> AsyncClient {
    let mut options = MqttOptions::new(id, broker.ip().to_string(), broker.port());
    options
        .set_clean_session(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let subscriber = client.clone();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                e = eventloop.poll() => e,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some((filter, _)) = &decisions {
                        let _ = subscriber.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Some((_, tx)) = &decisions {
                        match Heard::parse(&p.payload) {
                            Some(h) => {
                                let _ = tx.send(h);
                            }
                            None => tracing::warn!(topic = %p.topic, "demo: unreadable decision"),
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "demo: device client reconnecting");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_of_kinds_this_build_does_not_know_are_kept_for_the_view() {
        let dock = br#"{"kind":"dock_assignment","departure":"DHL-R1-1","door":"D04","reason":"door D03 faulted","inputs":{}}"#;
        match Heard::parse(dock) {
            Some(Heard::Other(kind, text)) => {
                assert_eq!(kind, "dock_assignment");
                assert!(
                    text.contains("door D04") && text.contains("reason door D03 faulted"),
                    "{text}"
                );
                assert!(!text.contains("inputs"), "{text}");
            }
            _ => panic!("a dock decision is shown, not dropped"),
        }
        assert!(Heard::parse(b"not json").is_none());
    }
}
