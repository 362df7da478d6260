//! A site's plan from the allocation: its departures with their stops in
//! delivery order, and its orders in waves. Only that site's data.

use std::collections::BTreeMap;

use super::network::HOUR_MS;
use super::{Allocator, OrderState};
use crate::domain::plan::{self, SitePlan, Stop, Wave};
use crate::domain::Millis;

/// A wave's orders, by (promise, id).
type OrdersByPromise<'a> = BTreeMap<(Millis, &'a str), plan::Order>;

impl Allocator {
    /// The plan of `site` as of `now`, with `version` (None: not a site).
    pub fn site_plan(&self, site: &str, version: u64, now: Millis) -> Option<SitePlan> {
        let &si = self.net.site_index.get(site)?;
        let s = &self.net.sites[si];
        let mut departures = Vec::new();
        // wave id -> (departure cutoff, orders by (promise, id))
        let mut waves: BTreeMap<&str, (Millis, OrdersByPromise)> = BTreeMap::new();
        for d in s.departures.values() {
            if d.orders.is_empty() {
                continue;
            }
            let svc = &self.net.services[d.service];
            // Stops in delivery order: the nearest destination zone first.
            let mut stops: Vec<(Millis, &str)> = Vec::new();
            for id in &d.orders {
                let Some(e) = self.orders.get(id) else {
                    continue;
                };
                let OrderState::Allocated { shipments } = &e.state else {
                    continue;
                };
                let Some(sh) = shipments
                    .iter()
                    .find(|sh| sh.site_idx == si && sh.dep == (d.cutoff, d.service))
                else {
                    continue;
                };
                let zone = e.order.destination_zone.as_str();
                let transit = svc.transit_ms.get(zone).copied().unwrap_or(0);
                if !stops.iter().any(|(_, z)| *z == zone) {
                    stops.push((transit, zone));
                }
                let order = plan::Order {
                    id: e.order.id.clone(),
                    departure: d.id.clone(),
                    stop: zone.to_owned(),
                    lines: sh
                        .lines
                        .iter()
                        .map(|l| plan::OrderLine {
                            id: l.sku.clone(),
                            sku: Some(l.sku.clone()),
                            zone: s.zone_of(&l.sku).to_owned(),
                            qty: l.qty,
                        })
                        .collect(),
                    locked: sh.locked,
                };
                waves
                    .entry(sh.wave.as_str())
                    .or_insert_with(|| (d.cutoff, BTreeMap::new()))
                    .1
                    .insert((e.order.promised_delivery, e.order.id.as_str()), order);
            }
            stops.sort();
            departures.push(plan::Departure {
                id: d.id.clone(),
                carrier: svc.carrier.clone(),
                scheduled_at: d.cutoff,
                cutoff: d.cutoff,
                door: None,
                vehicle_due: None,
                stops: stops
                    .into_iter()
                    .map(|(_, z)| Stop {
                        id: z.to_owned(),
                        name: None,
                    })
                    .collect(),
                load: s.load,
            });
        }
        let rate = s.rate();
        let mut waves: Vec<Wave> = waves
            .into_iter()
            .map(|(id, (cutoff, orders))| {
                let lines: usize = orders.values().map(|o| o.lines.len()).sum();
                let pick_ms = (lines as f64 / rate * HOUR_MS).round() as Millis;
                Wave {
                    id: id.to_owned(),
                    planned_release: cutoff - s.lead_ms(lines as u64) - pick_ms,
                    orders: orders.into_values().collect(),
                }
            })
            .collect();
        waves.sort_by(|a, b| {
            a.planned_release
                .cmp(&b.planned_release)
                .then_with(|| a.id.cmp(&b.id))
        });
        Some(SitePlan {
            site: s.id.clone(),
            version,
            generated_at: now,
            zones: s.zones.clone(),
            departures,
            waves,
        })
    }
}
