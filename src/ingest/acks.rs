//! Committed messages' acks on their way back to the site broker, in arrival
//! order.
//!
//! rumqttc sends one queued request per turn of its event loop but reads up
//! to ten messages per turn, so acks sent through the client fall behind a
//! busy broker, and the committed-but-unacked tickets pile up (mosquitto
//! 2.0.11 keeps sending past `max_inflight_messages` once acks flow). So the
//! MQTT loop writes acks straight onto its connection after every event it
//! handles, many per write. When that loop is idle in `poll`, only a request
//! wakes it: the forwarder then sends the oldest ticket through the client.
//! While that forwarded ack is outstanding nothing is written directly, so
//! acks leave in the order the messages came. Subscriptions are QoS 1, so
//! every ack is a PUBACK (a QoS 0 message needs none).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use rumqttc::QoS;
use tokio::sync::Notify;

use crate::store::AckSink;

/// What the writer hands back once a message is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckTicket {
    /// Connection the message came on; acks for an earlier one are dropped,
    /// as the broker redelivers those messages anyway.
    pub generation: u64,
    pub pkid: u16,
    pub qos: QoS,
}

#[derive(Debug, Default)]
pub struct AckQueue {
    inner: Mutex<Inner>,
    /// Tells the forwarder that there is something to look at.
    ready: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    tickets: VecDeque<AckTicket>,
    /// Packet id of the ack sent through the client and not yet written.
    forwarded: Option<u16>,
    /// The writer has ended: no more tickets.
    closed: bool,
}

/// What the forwarder does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    Forward(AckTicket),
    Wait,
    /// Closed, and every ticket is out.
    Done,
}

impl AckTicket {
    /// Whether this ticket still calls for an ack: not QoS 0, and of the
    /// current connection.
    fn due(&self, generation: u64) -> bool {
        self.generation == generation && self.qos == QoS::AtLeastOnce
    }
}

impl AckQueue {
    pub fn new() -> Arc<AckQueue> {
        Arc::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave it inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer's end; dropping it closes the queue.
    pub fn sender(self: &Arc<Self>) -> AckSender {
        AckSender(Arc::clone(self))
    }

    /// Take the acks the loop may write itself now, oldest first: none while
    /// a forwarded ack is outstanding.
    pub fn take_direct(&self, generation: u64, out: &mut Vec<u16>) {
        let mut q = self.lock();
        if q.forwarded.is_none() {
            out.extend(
                q.tickets
                    .drain(..)
                    .filter(|t| t.due(generation))
                    .map(|t| t.pkid),
            );
        }
    }

    /// The forwarder's next step.
    pub fn claim(&self, generation: u64) -> Claim {
        let mut q = self.lock();
        if q.forwarded.is_some() {
            return Claim::Wait;
        }
        while q.tickets.front().is_some_and(|t| !t.due(generation)) {
            q.tickets.pop_front();
        }
        match q.tickets.pop_front() {
            Some(t) => {
                q.forwarded = Some(t.pkid);
                Claim::Forward(t)
            }
            None if q.closed => Claim::Done,
            None => Claim::Wait,
        }
    }

    /// Wait until there may be something to claim.
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    /// The client has written the PUBACK for `pkid`.
    pub fn written(&self, pkid: u16) {
        let mut q = self.lock();
        if q.forwarded == Some(pkid) {
            q.forwarded = None;
            drop(q);
            self.ready.notify_one();
        }
    }

    /// A new connection: a forwarded ack still queued in the client belongs
    /// to the old one and is not waited for.
    pub fn reconnected(&self) {
        self.lock().forwarded = None;
        self.ready.notify_one();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().tickets.len()
    }
}

pub struct AckSender(Arc<AckQueue>);

impl AckSink<AckTicket> for AckSender {
    fn committed(&self, tickets: impl Iterator<Item = AckTicket>) {
        self.0.lock().tickets.extend(tickets);
        self.0.ready.notify_one();
    }
}

impl Drop for AckSender {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(generation: u64, pkid: u16, qos: QoS) -> AckTicket {
        AckTicket {
            generation,
            pkid,
            qos,
        }
    }

    const Q1: QoS = QoS::AtLeastOnce;

    #[test]
    fn direct_acks_wait_for_the_forwarded_one_and_keep_order() {
        let q = AckQueue::new();
        let tx = q.sender();
        tx.committed([t(1, 1, Q1), t(1, 2, Q1)].into_iter());
        assert_eq!(q.claim(1), Claim::Forward(t(1, 1, Q1)));
        tx.committed([t(1, 3, Q1)].into_iter());
        let mut out = Vec::new();
        q.take_direct(1, &mut out);
        assert!(out.is_empty(), "nothing passes the forwarded ack");
        assert_eq!(q.claim(1), Claim::Wait);
        q.written(9); // some other packet id: still outstanding
        q.take_direct(1, &mut out);
        assert!(out.is_empty());
        q.written(1);
        q.take_direct(1, &mut out);
        assert_eq!(out, vec![2, 3]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn moot_tickets_are_dropped_on_both_ways_out() {
        let q = AckQueue::new();
        let tx = q.sender();
        let zero = QoS::AtMostOnce; // nothing to ack
        tx.committed(
            [
                t(0, 7, Q1),
                t(1, 2, zero),
                t(1, 1, Q1),
                t(0, 8, Q1),
                t(1, 4, Q1),
            ]
            .into_iter(),
        );
        let mut out = Vec::new();
        q.take_direct(1, &mut out);
        assert_eq!(out, vec![1, 4]);
        tx.committed([t(0, 9, Q1), t(1, 3, zero), t(1, 5, Q1)].into_iter());
        assert_eq!(q.claim(1), Claim::Forward(t(1, 5, Q1)));
    }

    #[test]
    fn done_only_when_closed_and_everything_is_out() {
        let q = AckQueue::new();
        let tx = q.sender();
        tx.committed([t(1, 1, Q1)].into_iter());
        drop(tx);
        assert_eq!(q.claim(1), Claim::Forward(t(1, 1, Q1)));
        assert_eq!(
            q.claim(1),
            Claim::Wait,
            "the forwarded ack is not written yet"
        );
        q.written(1);
        assert_eq!(q.claim(1), Claim::Done);
    }

    #[test]
    fn a_reconnect_stops_waiting_for_the_old_connections_ack() {
        let q = AckQueue::new();
        let tx = q.sender();
        tx.committed([t(1, 1, Q1), t(2, 5, Q1)].into_iter());
        assert_eq!(q.claim(1), Claim::Forward(t(1, 1, Q1)));
        q.reconnected();
        let mut out = Vec::new();
        q.take_direct(2, &mut out);
        assert_eq!(out, vec![5]);
    }
}
