//! Connecting to an MQTT broker: client options, credentials and TLS, with
//! secrets read from files nobody else can read.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::tokio_rustls::rustls;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};

use crate::config::{BrokerConfig, TlsConfig};
use crate::ingest::backoff::Backoff;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot read {what} {path}: {source}\n    fix: check the path in the config and that the dockside user may read it")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path} is readable by other users (mode {mode:o})\n    fix: chmod 600 {path} (or 640 with a group only dockside is in), or pass it with systemd's LoadCredential=")]
    Exposed {
        what: &'static str,
        path: PathBuf,
        mode: u32,
    },
    #[error("{what} {path} holds no usable PEM {expected}\n    fix: give a PEM file (-----BEGIN ...-----)")]
    Pem {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("TLS setup failed: {0}\n    fix: check that the client certificate and key belong together and the CA file is the broker's CA")]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Credential(#[from] crate::systemd::CredentialError),
}

/// Client options for `broker` under `client_id`: persistent session,
/// manual acks, credentials and TLS as configured.
pub fn mqtt_options(
    broker: &BrokerConfig,
    client_id: String,
    max_incoming_packet: usize,
) -> Result<MqttOptions, LinkError> {
    let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    options
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(broker.keep_alive_s))
        .set_max_packet_size(max_incoming_packet, 16 * 1024 * 1024);
    if let Some(user) = &broker.username {
        let password = match secret_path(&broker.password_file, &broker.password_credential)? {
            Some(path) => {
                let text = read_secret("password file", &path)?;
                String::from_utf8_lossy(&text)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned()
            }
            None => String::new(),
        };
        options.set_credentials(user.clone(), password);
    }
    if let Some(tls) = &broker.tls {
        options.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(
            client_tls(tls)?,
        ))));
    }
    Ok(options)
}

/// Reconnect backoff as configured for `broker`.
pub fn backoff(broker: &BrokerConfig) -> Backoff {
    Backoff::new(
        Duration::from_millis(broker.reconnect_min_ms),
        Duration::from_millis(broker.reconnect_max_ms),
    )
}

fn client_tls(tls: &TlsConfig) -> Result<rustls::ClientConfig, LinkError> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = read("CA file", &tls.ca_file)?;
    let mut found = false;
    for cert in rustls_pemfile::certs(&mut ca.as_slice()).flatten() {
        roots.add(cert)?;
        found = true;
    }
    if !found {
        return Err(LinkError::Pem {
            what: "CA file",
            path: tls.ca_file.clone(),
            expected: "certificate",
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let key_path = secret_path(&tls.key_file, &tls.key_credential)?;
    Ok(match (&tls.cert_file, &key_path) {
        (Some(cert_path), Some(key_path)) => {
            let pem = read("client certificate", cert_path)?;
            let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
                .flatten()
                .collect();
            if certs.is_empty() {
                return Err(LinkError::Pem {
                    what: "client certificate",
                    path: cert_path.clone(),
                    expected: "certificate",
                });
            }
            let key_pem = read_secret("client key", key_path)?;
            let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .ok()
                .flatten()
                .ok_or_else(|| LinkError::Pem {
                    what: "client key",
                    path: key_path.clone(),
                    expected: "private key",
                })?;
            builder.with_client_auth_cert(certs, key)?
        }
        _ => builder.with_no_client_auth(),
    })
}

/// Where a secret is: its own file, or a systemd credential (`LoadCredential=`).
fn secret_path(
    file: &Option<PathBuf>,
    credential: &Option<String>,
) -> Result<Option<PathBuf>, LinkError> {
    Ok(match (file, credential) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(name)) => Some(crate::systemd::credential_path(name)?),
        (None, None) => None,
    })
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, LinkError> {
    std::fs::read(path).map_err(|source| LinkError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Read a secret, refusing one that other users can read.
fn read_secret(what: &'static str, path: &Path) -> Result<Vec<u8>, LinkError> {
    let meta = std::fs::metadata(path).map_err(|source| LinkError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        return Err(LinkError::Exposed {
            what,
            path: path.to_owned(),
            mode,
        });
    }
    read(what, path)
}

/// What to check after a connection error, for the log line.
pub fn hint(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("alert")
        || e.contains("certificate")
        || e.contains("tls")
        || e.contains("handshake")
    {
        "TLS was refused: check the broker section's tls.ca_file (the CA that signed the broker's certificate) and that cert_file is signed by a CA the broker trusts"
    } else if e.contains("refused") {
        "nothing accepts connections there: check host and port, and that the broker is running"
    } else if e.contains("notauthorized") || e.contains("badusernamepassword") {
        "the broker refused our credentials: check username and password_file"
    } else {
        "retrying; the link comes back by itself once the broker is reachable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_readable_secret_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "secret\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = read_secret("password file", &path).expect_err("exposed");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            read_secret("password file", &path).expect("ok"),
            b"secret\n"
        );
    }
}
