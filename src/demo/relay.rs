//! The link to head office as a TCP relay the scenario can cut: while down it
//! drops every connection through it and refuses new ones, as a failed WAN
//! link would, so the agent's uplink sees a real outage and reconnects.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::DemoError;

pub struct Relay {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Relay {
    /// Listen on a free loopback port and forward to `target`.
    pub async fn start(target: SocketAddr, stop: CancellationToken) -> Result<Relay, DemoError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DemoError::Port)?;
        let addr = listener.local_addr().map_err(DemoError::Port)?;
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = watch::channel(0u64);
        let link = Arc::clone(&up);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((inbound, _)) = accepted else { continue };
                if !link.load(Ordering::SeqCst) {
                    continue; // dropped: the link is down
                }
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut a, mut b) = (inbound, outbound);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Ok(Relay { addr, up, cut })
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Take the link down (cutting what is connected) or bring it back.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.cut.send_modify(|n| *n += 1);
        }
    }
}
