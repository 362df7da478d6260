//! The uplink over mutual TLS to a real mosquitto, certificates made by
//! Debian's openssl CLI in the test; a client certificate from another CA is
//! refused with an error that says what to check.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{mixed_messages, publish_all, uplink_section, wait_for, Agent, Central, Mosquitto};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package `openssl`)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn new_key(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            name,
        ],
    );
    std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
}

fn new_ca(dir: &Path, name: &str) {
    new_key(dir, &format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// A leaf certificate `name` with common name `cn`, signed by `ca`.
fn new_leaf(dir: &Path, ca: &str, name: &str, cn: &str, ext: &str) {
    new_key(dir, &format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("basicConstraints=CA:FALSE\n{ext}\n"),
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

fn tls_section(dir: &Path, ca: &str, client: &str) -> String {
    format!(
        "[uplink.broker.tls]\nca_file = \"{d}/{ca}.crt\"\ncert_file = \"{d}/{client}.crt\"\nkey_file = \"{d}/{client}.key\"\n",
        d = dir.display()
    )
}

#[test]
fn mutual_tls_uplink_syncs_and_a_foreign_certificate_is_refused() {
    let certs = tempfile::tempdir().expect("tempdir");
    let d = certs.path();
    new_ca(d, "ca");
    new_ca(d, "other-ca");
    new_leaf(
        d,
        "ca",
        "server",
        "localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth",
    );
    new_leaf(d, "ca", "site", "dc-test", "extendedKeyUsage=clientAuth");
    new_leaf(d, "ca", "central", "central", "extendedKeyUsage=clientAuth");
    new_leaf(
        d,
        "other-ca",
        "intruder",
        "dc-test",
        "extendedKeyUsage=clientAuth",
    );
    new_leaf(
        d,
        "ca",
        "impostor",
        "dc-other",
        "extendedKeyUsage=clientAuth",
    );
    // The broker ties each certificate to its own topics: a site may write
    // only under its own id, so the certificate's identity must match.
    std::fs::write(
        d.join("acl"),
        "user central\ntopic readwrite dockside/#\n\npattern write dockside/%u/up\npattern write dockside/%u/status\npattern read dockside/%u/ack\npattern read dockside/%u/plan\n",
    )
    .expect("acl");
    let central_broker = Mosquitto::start_with(Some(format!(
        "listener {{port}} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\nrequire_certificate true\nuse_identity_as_username true\nacl_file {d}/acl",
        d = d.display()
    )));
    let site_broker = Mosquitto::start();
    let mut central = Central::new(
        central_broker.port,
        &format!(
            "[broker.tls]\nca_file = \"{d}/ca.crt\"\ncert_file = \"{d}/central.crt\"\nkey_file = \"{d}/central.key\"\n",
            d = d.display()
        ),
    );
    central.start();
    central.wait_subscribed(1);

    let mut agent = Agent::with_extra(
        site_broker.port,
        &(uplink_section(central_broker.port, "") + &tls_section(d, "ca", "site")),
    );
    agent.start();
    agent.wait_subscribed(1);
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(publish_all(
            site_broker.port,
            mixed_messages(500, "t"),
            None,
        ));
    wait_for(
        Duration::from_secs(60),
        "central to hold the site's events",
        || central.last_seq("dc-test") >= 500,
    );
    let epoch = agent.summary().expect("summary").epoch;
    assert_eq!(central.events("dc-test", &epoch), agent.events());

    // A certificate from another CA: refused, and the log says what to check.
    let mut intruder = Agent::with_extra(
        site_broker.port,
        &(uplink_section(central_broker.port, "") + &tls_section(d, "ca", "intruder")),
    );
    intruder.start();
    wait_for(Duration::from_secs(20), "the refusal to be logged", || {
        intruder.log().contains("central broker: connection lost")
    });
    let log = intruder.log();
    assert!(
        log.contains("UnknownCA") && log.contains("TLS was refused"),
        "{log}"
    );
    assert!(!log.contains("central broker: connected"), "{log}");

    // A valid certificate of another site: the broker's ACL keeps it off
    // dc-test's topics, so nothing it sends reaches central.
    let site_broker2 = Mosquitto::start();
    let mut impostor = Agent::with_extra(
        site_broker2.port,
        &(uplink_section(central_broker.port, "client_id = \"impostor\"\n")
            + &tls_section(d, "ca", "impostor")),
    );
    impostor.start();
    impostor.wait_subscribed(1);
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(publish_all(
            site_broker2.port,
            mixed_messages(50, "i"),
            None,
        ));
    wait_for(Duration::from_secs(20), "the impostor to connect", || {
        impostor.log().contains("central broker: connected")
    });
    std::thread::sleep(Duration::from_secs(3));
    let impostor_epoch = impostor.summary().expect("summary").epoch;
    assert!(central.events("dc-test", &impostor_epoch).is_empty());
    assert_eq!(impostor.summary().expect("summary").sync.backlog, 50);

    // A key file others can read is refused before anything connects.
    std::fs::set_permissions(d.join("site.key"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let exposed = Agent::with_extra(
        site_broker.port,
        &(uplink_section(central_broker.port, "") + &tls_section(d, "ca", "site")),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dockside"))
        .args(["run", "--config"])
        .arg(&exposed.config)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
