//! Running as a systemd service: readiness, status and watchdog messages
//! (`sd_notify`, for `Type=notify`), and secrets handed over as credentials
//! (`LoadCredential=`, read from `$CREDENTIALS_DIRECTORY`).
//!
//! Outside systemd (no `NOTIFY_SOCKET`) the notifications do nothing.

use std::path::PathBuf;
use std::time::Duration;

use sd_notify::NotifyState;

/// Sends state changes to the service manager, if there is one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Notifier;

impl Notifier {
    /// The store is open and the sources are started.
    pub fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// One line for `systemctl status`.
    pub fn status(&self, status: &str) {
        send(&[NotifyState::Status(status)]);
    }

    /// "Still making progress": only the health check may call this.
    pub fn watchdog(&self) {
        send(&[NotifyState::Watchdog]);
    }

    pub fn stopping(&self) {
        send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }
}

fn send(state: &[NotifyState]) {
    // Keep NOTIFY_SOCKET in the environment: status and watchdog messages
    // follow READY for the whole life of the process.
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!(error = %e, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}

/// The watchdog timeout systemd set (`WatchdogSec=` as `WATCHDOG_USEC`), if
/// it is meant for this process: as `sd_watchdog_enabled(3)`, a
/// `WATCHDOG_PID` naming another process disables it, a missing one does not.
pub fn watchdog_timeout() -> Option<Duration> {
    parse_watchdog(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn parse_watchdog(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    match pid {
        Some(p) if p.trim().parse::<u32>().ok() != Some(me) => None,
        _ => Some(Duration::from_micros(usec)),
    }
}

/// What a health check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The line for `systemctl status` (STATUS=).
    pub status: String,
    /// What has made no progress for longer than allowed; empty when healthy.
    pub stalled: Vec<String>,
}

/// Without a watchdog, how often health is checked (and stalls logged) ...
const CHECK_WITHOUT_WATCHDOG: Duration = Duration::from_secs(10);
/// ... and how long a loop may go without progress.
const LIMIT_WITHOUT_WATCHDOG: Duration = Duration::from_secs(60);

/// Call once the service is up: sends READY=1 with the first status at once.
/// Then until `stop`: every half watchdog period run `check` (passing how
/// long a loop may go without progress: the watchdog timeout) and send
/// WATCHDOG=1 only when nothing is stalled; STATUS= whenever the line
/// changes. So a wedged loop stops the pings and systemd restarts the process.
pub async fn supervise(
    notifier: Notifier,
    mut check: impl FnMut(Duration) -> Health,
    stop: tokio_util::sync::CancellationToken,
) {
    let timeout = watchdog_timeout();
    let (every, limit) = match timeout {
        Some(t) => ((t / 2).max(Duration::from_millis(10)), t),
        None => (CHECK_WITHOUT_WATCHDOG, LIMIT_WITHOUT_WATCHDOG),
    };
    if let Some(t) = timeout {
        tracing::info!(timeout_ms = t.as_millis() as u64, "watchdog: on");
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_status = String::new();
    let mut was_stalled = false;
    let mut ready = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let health = check(limit);
        let stalled = !health.stalled.is_empty();
        let status = if stalled {
            format!("STALLED: {}; watchdog withheld", health.stalled.join("; "))
        } else {
            health.status
        };
        if stalled && !was_stalled {
            tracing::error!(
                stalled = %health.stalled.join("; "),
                "ALARM health: no progress; the watchdog is withheld, so systemd restarts dockside"
            );
        } else if !stalled && was_stalled {
            tracing::warn!("health: progress again; watchdog resumed");
        }
        was_stalled = stalled;
        if !ready {
            notifier.ready(&status);
            ready = true;
        } else if status != last_status {
            notifier.status(&status);
        }
        last_status = status;
        if !stalled && timeout.is_some() {
            notifier.watchdog();
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credential `{name}` is configured, but dockside was not given any credentials ($CREDENTIALS_DIRECTORY is not set)\n    fix: add `LoadCredential={name}:/path/to/the/secret` to the unit (systemctl edit dockside), or use the matching *_file key instead")]
    NoDirectory { name: String },
    #[error("credential `{name}` is not among those systemd passed ({dir}/{name} does not exist)\n    fix: add `LoadCredential={name}:/path/to/the/secret` to the unit (systemctl edit dockside); the name must match the config")]
    Missing { name: String, dir: PathBuf },
}

/// The file systemd placed credential `name` in (`LoadCredential=name:...`).
/// systemd copies the secret there readable only by the service's user, so
/// the secret's own file on disk can stay readable by root alone.
pub fn credential_path(name: &str) -> Result<PathBuf, CredentialError> {
    credential_in(
        std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        name,
    )
}

fn credential_in(dir: Option<PathBuf>, name: &str) -> Result<PathBuf, CredentialError> {
    let dir = dir.ok_or_else(|| CredentialError::NoDirectory {
        name: name.to_owned(),
    })?;
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(CredentialError::Missing {
            name: name.to_owned(),
            dir,
        })
    }
}

/// A credential name as systemd accepts it and as a plain file name.
pub fn valid_credential_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_found_in_the_directory_systemd_gave_or_explained() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("site-broker"), "pw").expect("write");
        assert_eq!(
            credential_in(Some(dir.path().to_owned()), "site-broker").expect("found"),
            dir.path().join("site-broker")
        );
        let missing =
            credential_in(Some(dir.path().to_owned()), "uplink-key").expect_err("missing");
        assert!(
            missing.to_string().contains("LoadCredential=uplink-key:"),
            "{missing}"
        );
        let none = credential_in(None, "site-broker").expect_err("no directory");
        assert!(none.to_string().contains("CREDENTIALS_DIRECTORY"), "{none}");
    }

    #[test]
    fn the_watchdog_is_ours_unless_another_pid_is_named() {
        let two_s = Some(Duration::from_secs(2));
        assert_eq!(parse_watchdog(Some("2000000"), None, 7), two_s);
        assert_eq!(parse_watchdog(Some("2000000"), Some("7"), 7), two_s);
        assert_eq!(parse_watchdog(Some("2000000"), Some("8"), 7), None);
        assert_eq!(parse_watchdog(Some("0"), None, 7), None);
        assert_eq!(parse_watchdog(Some("soon"), None, 7), None);
        assert_eq!(parse_watchdog(None, Some("7"), 7), None);
    }

    #[test]
    fn credential_names_are_plain_file_names() {
        assert!(valid_credential_name("site-broker.password"));
        for bad in ["", ".", "..", "a/b", "/etc/x"] {
            assert!(!valid_credential_name(bad), "{bad:?}");
        }
    }
}
