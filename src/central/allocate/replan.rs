//! Re-allocation when a site says a departure may miss its cutoff, proposes
//! deferring an order, or lets a cutoff pass with orders unpicked. Picked
//! (locked) orders never move.

use std::collections::HashSet;

use super::network::{DepKey, HOUR_MS};
use super::{Allocator, OrderState, Shipment};

/// Picking time shed beyond the reported lateness, so the departure has
/// some slack again.
const SHED_MARGIN_H: f64 = 0.25;

impl Allocator {
    /// Move orders off the departure at `key` of site `si`: as many lines as
    /// the site is late by (plus a margin), those that lose least by moving
    /// first, orders in waves not yet released before released ones. An
    /// order moves only to a cheaper option than staying (staying costs the
    /// late penalty times the reported probability). `missed`: the cutoff
    /// has passed; everything unpicked moves.
    pub(super) fn replan_departure(&mut self, si: usize, key: DepKey, missed: bool) {
        let s = &self.net.sites[si];
        let Some(d) = s.departures.get(&key) else {
            return;
        };
        let (p_stay, mut shed) = if missed {
            (1.0, f64::INFINITY)
        } else {
            let Some((p, slack_ms)) = d.risk else {
                return;
            };
            let late_h = (-slack_ms).max(0) as f64 / HOUR_MS;
            (p, ((late_h + SHED_MARGIN_H) * s.rate()).ceil())
        };
        let released = d.waves_released;
        let ids: Vec<String> = d.orders.iter().cloned().collect();
        // (released wave, gain of moving, order)
        let mut moves: Vec<(bool, i64, String)> = Vec::new();
        for id in ids {
            let Some((sh, _)) = self.shipment_on(&id, si, key) else {
                continue;
            };
            if sh.locked {
                continue;
            }
            let stay = self.stay_cost(&id, &sh, p_stay);
            if let Some(alt) = self.alternative(&id, &sh) {
                let gain = stay - alt.cost;
                if missed || gain > 0.0 {
                    let in_released = wave_generation(&sh.wave) <= released;
                    moves.push((in_released, -(gain * 100.0).round() as i64, id));
                }
            }
        }
        moves.sort();
        for (_, _, id) in moves {
            if shed <= 0.0 {
                break;
            }
            let Some((sh, _)) = self.shipment_on(&id, si, key) else {
                continue;
            };
            let lines = sh.lines.len() as f64;
            let stay = self.stay_cost(&id, &sh, p_stay);
            if self.move_shipment(&id, &sh, |alt| missed || alt.cost < stay) {
                shed -= lines;
            }
        }
    }

    /// The site proposes moving `order` off `from` (it cannot be ready in
    /// time): to the best other departure there or elsewhere.
    pub(super) fn defer(&mut self, si: usize, order: &str, from: DepKey) {
        let Some((sh, _)) = self.shipment_on(order, si, from) else {
            return; // already moved, or not ours
        };
        if sh.locked {
            return;
        }
        self.move_shipment(order, &sh, |_| true);
    }

    /// The order's unlocked shipment at site `si` on departure `key`.
    fn shipment_on(&self, order: &str, si: usize, key: DepKey) -> Option<(Shipment, usize)> {
        let OrderState::Allocated { shipments } = &self.orders.get(order)?.state else {
            return None;
        };
        shipments
            .iter()
            .position(|sh| sh.site_idx == si && sh.dep == key)
            .map(|i| (shipments[i].clone(), i))
    }

    fn stay_cost(&self, order: &str, sh: &Shipment, p: f64) -> f64 {
        let penalty = self
            .orders
            .get(order)
            .map_or(self.cfg.late_penalty, |e| self.cfg.penalty(&e.order.tier));
        sh.ship_cost + p * penalty
    }

    /// The best place for `sh` other than where it is, with its own
    /// reservation set aside; the view is left as it was.
    fn alternative(&mut self, order: &str, sh: &Shipment) -> Option<super::Choice> {
        self.release(order, sh);
        let alt = self.alternative_released(order, sh);
        let mut back = sh.clone();
        self.hold(order, &mut back);
        alt
    }

    fn alternative_released(&self, order: &str, sh: &Shipment) -> Option<super::Choice> {
        let entry = self.orders.get(order)?;
        // Other shipments' sites are not used: one shipment per site.
        let skip: HashSet<usize> = match &entry.state {
            OrderState::Allocated { shipments } => shipments
                .iter()
                .filter(|o| o.site_idx != sh.site_idx)
                .map(|o| o.site_idx)
                .collect(),
            OrderState::Pending { .. } => HashSet::new(),
        };
        self.best_single(&entry.order, &sh.lines, sh.dep, sh.site_idx, &skip)
    }

    /// Move `sh` to its best alternative if `accept` takes it; else leave it.
    fn move_shipment(
        &mut self,
        order: &str,
        sh: &Shipment,
        accept: impl Fn(&super::Choice) -> bool,
    ) -> bool {
        let Some((_, pos)) = self.shipment_on(order, sh.site_idx, sh.dep) else {
            return false;
        };
        self.release(order, sh);
        match self.alternative_released(order, sh) {
            Some(alt) if accept(&alt) => {
                let moved = self.commit(order, alt);
                let Some(OrderState::Allocated { shipments }) =
                    self.orders.get_mut(order).map(|e| &mut e.state)
                else {
                    return false;
                };
                shipments[pos] = moved;
                self.changed.insert(order.to_owned());
                true
            }
            _ => {
                let mut back = sh.clone();
                self.hold(order, &mut back);
                false
            }
        }
    }
}

/// `...-w{n}` → n (0 when not one of ours).
fn wave_generation(wave: &str) -> u32 {
    wave.rsplit_once("-w")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}
