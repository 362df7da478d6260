//! The agent's health: the check behind systemd's watchdog and the STATUS=
//! line. WATCHDOG=1 is sent only while the writer, the site-broker loop and
//! the uplink all make progress (`systemd::supervise` sends it).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::agent::uplink::UplinkStats;
use crate::ingest::site_mqtt::IngestStats;
use crate::store::WriterStats;
use crate::systemd::Health;

/// What the check reads: the progress figures each part keeps.
pub struct Probes {
    pub writer: Arc<WriterStats>,
    pub ingest: Arc<IngestStats>,
    pub uplink: Option<Arc<UplinkStats>>,
    /// How long a healthy site-broker loop may stay quiet: connected and
    /// idle, it turns once a keep-alive.
    pub ingest_quiet: Duration,
}

impl Probes {
    /// Stalled parts: those busy (or due to turn) for longer than `limit`.
    /// The writer counts as making progress when it finishes its work within
    /// `limit`, or waits for records (nothing queued). A held intake (full
    /// disk, disk cap) is progress too: the writer retries every few seconds.
    pub fn check(&self, limit: Duration) -> Health {
        let mut stalled = Vec::new();
        let writer_age = self.writer.beat.age();
        if self.writer.busy.load(Ordering::SeqCst) && writer_age > limit {
            stalled.push(format!(
                "writer: busy for {}s without finishing",
                writer_age.as_secs()
            ));
        }
        let ingest_age = self.ingest.beat.age();
        if ingest_age > limit.max(self.ingest_quiet) {
            stalled.push(format!(
                "site broker loop: has not turned for {}s",
                ingest_age.as_secs()
            ));
        }
        if let Some(up) = &self.uplink {
            let age = up.beat.age();
            if age > limit {
                stalled.push(format!("uplink: has not turned for {}s", age.as_secs()));
            }
        }
        Health {
            status: self.status_line(),
            stalled,
        }
    }

    /// `systemctl status` line: last seq, links, backlog, alarms.
    pub fn status_line(&self) -> String {
        let last_seq = self.writer.last_seq.load(Ordering::SeqCst);
        let up_down = |up: bool| if up { "up" } else { "down" };
        let mut line = format!(
            "last seq {last_seq}, site broker {}",
            up_down(self.ingest.connected.load(Ordering::Relaxed))
        );
        match &self.uplink {
            Some(u) => {
                let backlog = (last_seq - u.acked.load(Ordering::Relaxed)).max(0);
                line.push_str(&format!(
                    ", central {}, backlog {backlog}",
                    up_down(u.connected.load(Ordering::Relaxed))
                ));
            }
            None => line.push_str(", no uplink"),
        }
        if self.writer.disk_full.load(Ordering::SeqCst) {
            line.push_str("; ALARM cannot commit (disk full?), acks held");
        } else if self.writer.at_cap.load(Ordering::SeqCst) {
            line.push_str("; ALARM log at max_disk_mb, acks held");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::Heartbeat;

    fn probes(uplink: bool) -> Probes {
        Probes {
            writer: Arc::default(),
            ingest: Arc::default(),
            uplink: uplink.then(Arc::default),
            ingest_quiet: Duration::from_secs(60),
        }
    }

    const LIMIT: Duration = Duration::from_secs(30);

    #[test]
    fn fresh_parts_are_healthy_and_the_status_names_the_links_and_backlog() {
        let p = probes(true);
        p.writer.last_seq.store(12, Ordering::SeqCst);
        p.ingest.connected.store(true, Ordering::Relaxed);
        p.uplink
            .as_ref()
            .expect("uplink")
            .acked
            .store(9, Ordering::Relaxed);
        let h = p.check(LIMIT);
        assert!(h.stalled.is_empty(), "{h:?}");
        assert_eq!(
            h.status,
            "last seq 12, site broker up, central down, backlog 3"
        );
    }

    #[test]
    fn an_idle_writer_is_healthy_however_long_it_waits_but_a_busy_one_is_not() {
        let mut p = probes(false);
        p.writer = Arc::new(WriterStats {
            beat: Heartbeat::aged(Duration::from_secs(50)),
            ..WriterStats::default()
        });
        assert!(p.check(LIMIT).stalled.is_empty());
        p.writer.busy.store(true, Ordering::SeqCst);
        let h = p.check(LIMIT);
        assert_eq!(h.stalled.len(), 1, "{h:?}");
        assert!(h.stalled[0].starts_with("writer: busy for 50s"), "{h:?}");
    }

    #[test]
    fn a_quiet_site_broker_loop_is_allowed_its_keep_alive_then_counts_as_stuck() {
        let mut p = probes(false);
        p.ingest = Arc::new(IngestStats {
            beat: Heartbeat::aged(Duration::from_secs(45)),
            ..IngestStats::default()
        });
        assert!(p.check(LIMIT).stalled.is_empty(), "within keep-alive");
        p.ingest_quiet = Duration::from_secs(40);
        let h = p.check(LIMIT);
        assert!(h.stalled[0].starts_with("site broker loop"), "{h:?}");
    }

    #[test]
    fn a_stuck_uplink_is_stalled_and_a_held_intake_shows_in_the_status() {
        let mut p = probes(false);
        p.uplink = Some(Arc::new(UplinkStats {
            beat: Heartbeat::aged(Duration::from_secs(31)),
            ..UplinkStats::default()
        }));
        p.writer.disk_full.store(true, Ordering::SeqCst);
        let h = p.check(LIMIT);
        assert_eq!(
            h.stalled,
            vec!["uplink: has not turned for 31s".to_string()]
        );
        assert!(
            h.status
                .ends_with("ALARM cannot commit (disk full?), acks held"),
            "{h:?}"
        );
    }
}
