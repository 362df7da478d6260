//! Plans down: each site's plan rebuilt when the allocation changed it,
//! stored under its next version and published retained on
//! `{prefix}/{site}/plan` — only when its content differs from the last one.

use std::collections::HashMap;

use super::allocate::Allocator;
use super::store::{CentralStore, Reads};
use crate::domain::{Millis, SitePlan};
use crate::store::StoreError;
use crate::wire::{self, Message};

/// The last plan content of each site, to push only on change.
pub struct Pusher {
    prefix: String,
    /// Site -> the plan JSON without its version and time.
    last: HashMap<String, String>,
}

/// A plan's content: what a site would notice changing.
fn content(plan: &SitePlan) -> String {
    let mut p = plan.clone();
    p.version = 0;
    p.generated_at = 0;
    serde_json::to_string(&p).expect("plans always serialize")
}

impl Pusher {
    pub fn load(prefix: &str, reads: &Reads<'_>) -> Result<Pusher, StoreError> {
        let mut last = HashMap::new();
        for p in reads.latest_plans()? {
            // A plan pushed by hand (`push-plan`) may not be a site plan:
            // then the next allocation change replaces it.
            if let Ok(plan) = serde_json::from_str::<SitePlan>(&p.body) {
                last.insert(p.site, content(&plan));
            }
        }
        Ok(Pusher {
            prefix: prefix.to_owned(),
            last,
        })
    }

    /// Store a new version of each site's plan that changed; returns the
    /// messages to publish (retained), one per site.
    pub fn push(
        &mut self,
        store: &mut CentralStore,
        alloc: &Allocator,
        sites: &[String],
        now: Millis,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for site in sites {
            let Some(plan) = alloc.site_plan(site, 0, now) else {
                continue;
            };
            let key = content(&plan);
            let last = self.last.get(site);
            // Nothing allocated there yet: leave the site its own plan
            // (a `plan_file`, a hand-pushed one) rather than send it nothing.
            if last == Some(&key) || (last.is_none() && plan.departures.is_empty()) {
                continue;
            }
            let (version, body) = store.new_plan_with(site, now, |version| {
                let mut p = plan.clone();
                p.version = version;
                serde_json::to_string(&p).expect("plans always serialize")
            })?;
            self.last.insert(site.clone(), key);
            out.push(self.message(site, version, now, body));
        }
        Ok(out)
    }

    /// Every site's latest plan again (after a reconnect: a retained
    /// publish in flight may have been lost; sites ignore what they have).
    pub fn latest(&self, reads: &Reads<'_>) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(reads
            .latest_plans()?
            .into_iter()
            .map(|p| self.message(&p.site, p.version, p.issued_at, p.body))
            .collect())
    }

    fn message(
        &self,
        site: &str,
        version: u64,
        issued_at: Millis,
        body: String,
    ) -> (String, Vec<u8>) {
        let msg = Message::Plan(wire::Plan {
            site: site.to_owned(),
            version,
            issued_at,
            body,
        });
        (
            format!("{}/{site}/plan", self.prefix),
            wire::encode(&msg).expect("plans carry no epoch"),
        )
    }
}
