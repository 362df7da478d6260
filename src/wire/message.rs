//! The messages between a site agent and central, as the rest of the code
//! sees them. Their bytes are defined in `format`, not by these types.

use crate::domain::{EventBody, Millis, StoredEvent};

use super::{epoch, WireError};

/// One message on the uplink (`Batch`, `Status`) or the downlink (`Ack`, `Plan`).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Batch(Batch),
    Ack(Ack),
    Plan(Plan),
    Status(Status),
}

/// Consecutive events of one site's log: seqs `first_seq ..= last_seq()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub site: String,
    /// 32 lowercase hex characters, as the store keeps it.
    pub epoch: String,
    pub first_seq: i64,
    pub events: Vec<BatchEvent>,
}

/// A stored event without the parts its batch implies (seq, epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchEvent {
    pub source_topic: String,
    pub source_id: Option<String>,
    pub received_at: Millis,
    pub body: EventBody,
}

/// Central has committed every event of `(site, epoch)` up to and including `upto_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub site: String,
    pub epoch: String,
    pub upto_seq: i64,
}

/// A plan from central; a site applies only versions newer than the one it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub site: String,
    pub version: u64,
    pub issued_at: Millis,
    /// The plan as JSON text.
    pub body: String,
}

/// A site's health, published retained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub site: String,
    pub online: bool,
    pub at: Millis,
    pub epoch: String,
    pub last_seq: i64,
    /// Events not yet acknowledged by central.
    pub backlog: u64,
}

impl Batch {
    /// A batch of `events` as the store returned them: at least one, all of
    /// one epoch, with consecutive seqs.
    pub fn from_stored(site: &str, events: &[StoredEvent]) -> Result<Batch, WireError> {
        let first = events.first().ok_or(WireError::EmptyBatch)?;
        epoch::to_bytes(&first.epoch)?;
        for pair in events.windows(2) {
            let (previous, event) = (&pair[0], &pair[1]);
            if event.epoch != first.epoch {
                return Err(WireError::MixedEpochs {
                    seq: event.seq,
                    expected: first.epoch.clone(),
                    found: event.epoch.clone(),
                });
            }
            if previous.seq.checked_add(1) != Some(event.seq) {
                return Err(WireError::NotConsecutive {
                    previous: previous.seq,
                    found: event.seq,
                });
            }
        }
        check_seq_range(first.seq, events.len())?;
        Ok(Batch {
            site: site.to_owned(),
            epoch: first.epoch.clone(),
            first_seq: first.seq,
            events: events
                .iter()
                .map(|e| BatchEvent {
                    source_topic: e.source_topic.clone(),
                    source_id: e.source_id.clone(),
                    received_at: e.received_at,
                    body: e.body.clone(),
                })
                .collect(),
        })
    }

    /// The seq of the last event (`first_seq - 1` for an empty batch, which
    /// `encode` refuses).
    pub fn last_seq(&self) -> i64 {
        match i64::try_from(self.events.len()) {
            Ok(0) => self.first_seq.saturating_sub(1),
            Ok(len) => self.first_seq.saturating_add(len - 1),
            Err(_) => i64::MAX,
        }
    }

    /// The events as the log holds them: seq `first_seq + index`, this batch's epoch.
    /// (Exact for any batch that `decode` or `from_stored` returned, which
    /// check that the seqs fit.)
    pub fn into_stored(self) -> Vec<StoredEvent> {
        let Batch {
            epoch,
            first_seq,
            events,
            ..
        } = self;
        events
            .into_iter()
            .zip(0i64..)
            .map(|(e, index)| StoredEvent {
                seq: first_seq.saturating_add(index),
                epoch: epoch.clone(),
                source_topic: e.source_topic,
                source_id: e.source_id,
                received_at: e.received_at,
                body: e.body,
            })
            .collect()
    }
}

/// Seqs start at 1 (the store's counter) and the last one must fit in an i64,
/// so `into_stored` and `last_seq` are exact.
pub(super) fn check_seq_range(first_seq: i64, events: usize) -> Result<(), WireError> {
    if events == 0 {
        return Err(WireError::EmptyBatch);
    }
    let last = i64::try_from(events - 1)
        .ok()
        .and_then(|span| first_seq.checked_add(span));
    match last {
        Some(_) if first_seq >= 1 => Ok(()),
        _ => Err(WireError::SeqRange { first_seq, events }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ScanAction;

    const EPOCH: &str = "00112233445566778899aabbccddeeff";

    fn stored(seq: i64, epoch: &str) -> StoredEvent {
        StoredEvent {
            seq,
            epoch: epoch.into(),
            source_topic: "wms/scans".into(),
            source_id: Some(format!("m-{seq}")),
            received_at: 1_000 + seq % 1_000,
            body: EventBody::Scan {
                scanner: "HS-07".into(),
                code: "5012345678900".into(),
                action: ScanAction::Pick,
                order: None,
                wave: None,
                line: None,
                qty: Some(seq),
                at: 900 + seq % 1_000,
            },
        }
    }

    #[test]
    fn a_batch_from_the_store_gives_back_the_same_events() {
        let events: Vec<StoredEvent> = (41..=44).map(|s| stored(s, EPOCH)).collect();
        let batch = Batch::from_stored("DC1", &events).expect("consecutive");
        assert_eq!((batch.site.as_str(), batch.first_seq), ("DC1", 41));
        assert_eq!(batch.last_seq(), 44);
        assert_eq!(batch.into_stored(), events);
    }

    #[test]
    fn from_stored_refuses_what_is_not_one_run_of_one_epoch() {
        assert_eq!(Batch::from_stored("DC1", &[]), Err(WireError::EmptyBatch));
        let gap = [stored(1, EPOCH), stored(3, EPOCH)];
        assert_eq!(
            Batch::from_stored("DC1", &gap),
            Err(WireError::NotConsecutive {
                previous: 1,
                found: 3
            })
        );
        let other = "ffeeddccbbaa99887766554433221100";
        let mixed = [stored(1, EPOCH), stored(2, other)];
        assert_eq!(
            Batch::from_stored("DC1", &mixed),
            Err(WireError::MixedEpochs {
                seq: 2,
                expected: EPOCH.into(),
                found: other.into()
            })
        );
        assert_eq!(
            Batch::from_stored("DC1", &[stored(1, "e1")]),
            Err(WireError::BadEpoch("e1".into()))
        );
        assert_eq!(
            Batch::from_stored("DC1", &[stored(0, EPOCH)]),
            Err(WireError::SeqRange {
                first_seq: 0,
                events: 1
            })
        );
        let at_the_end = [stored(i64::MAX - 1, EPOCH), stored(i64::MAX, EPOCH)];
        let batch = Batch::from_stored("DC1", &at_the_end).expect("fits");
        assert_eq!(batch.last_seq(), i64::MAX);
    }
}
