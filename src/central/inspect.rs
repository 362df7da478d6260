//! `dockside central orders|sites|plans`: what central holds, for people
//! (text) and scripts (`--json`).

use serde::Serialize;

use super::allocate::{OrderState, SiteFigures};
use super::store::{OrderReject, StoredOrder, StoredPlan};
use crate::domain::time::format_rfc3339;
use crate::domain::{Millis, SitePlan};

/// Orders (optionally only those with a shipment at `site`, or in `state`)
/// and the refused ones.
#[derive(Debug, Serialize)]
pub struct OrdersView {
    pub orders: Vec<StoredOrder>,
    pub rejected: Vec<OrderReject>,
}

pub fn filter_orders(
    orders: Vec<StoredOrder>,
    site: Option<&str>,
    state: Option<&str>,
) -> Vec<StoredOrder> {
    orders
        .into_iter()
        .filter(|o| state.is_none_or_eq(&o.state))
        .filter(|o| match site {
            None => true,
            Some(s) => matches!(&o.detail, Some(OrderState::Allocated { shipments }) if shipments.iter().any(|sh| sh.site == s)),
        })
        .collect()
}

trait NoneOrEq {
    fn is_none_or_eq(&self, v: &str) -> bool;
}

impl NoneOrEq for Option<&str> {
    fn is_none_or_eq(&self, v: &str) -> bool {
        self.map_or(true, |s| s == v)
    }
}

pub fn render_orders(view: &OrdersView) -> String {
    let mut out = String::new();
    if view.orders.is_empty() {
        out.push_str("no orders\n");
    } else {
        out.push_str(&format!(
            "{:<16} {:<12} {:<10} {:<25} {:<10} where\n",
            "order", "client", "tier", "promised", "state"
        ));
    }
    for o in &view.orders {
        let detail = match &o.detail {
            Some(OrderState::Allocated { shipments }) => shipments
                .iter()
                .map(|s| {
                    format!(
                        "{} {} ({} line{}{}{})",
                        s.site,
                        s.departure,
                        s.lines.len(),
                        if s.lines.len() == 1 { "" } else { "s" },
                        if s.delivery > o.order.promised_delivery {
                            ", late"
                        } else {
                            ""
                        },
                        if s.locked { ", picked" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            Some(OrderState::Pending { reason }) => reason.clone(),
            None => "waiting for the allocator".into(),
        };
        out.push_str(&format!(
            "{:<16} {:<12} {:<10} {:<25} {:<10} {}\n",
            o.order.id,
            o.order.client.as_deref().unwrap_or("-"),
            o.order.tier,
            format_rfc3339(o.order.promised_delivery),
            o.state,
            detail
        ));
    }
    if !view.rejected.is_empty() {
        out.push_str("\nrefused (newest first):\n");
        for r in &view.rejected {
            out.push_str(&format!(
                "  {} {} {}: {}\n",
                format_rfc3339(r.at),
                r.source,
                r.order_id.as_deref().unwrap_or("(no id)"),
                r.reasons.join("; ")
            ));
        }
    }
    out
}

/// A site's figures with its latest plan version.
#[derive(Debug, Serialize)]
pub struct SiteRow {
    #[serde(flatten)]
    pub figures: SiteFigures,
    pub plan_version: Option<u64>,
}

pub fn render_sites(rows: &[SiteRow]) -> String {
    let mut out = format!(
        "{:<16} {:>9} {:>7} {:>8} {:>5} {:>10} {:>9} {:>6} {:>7} {:>6}\n",
        "site",
        "allocated",
        "picked",
        "at risk",
        "late",
        "open lines",
        "lines/h",
        "skus",
        "doors",
        "plan"
    );
    for r in rows {
        let f = &r.figures;
        out.push_str(&format!(
            "{:<16} {:>9} {:>7} {:>8} {:>5} {:>10} {:>8.0}{} {:>6} {:>7} {:>6}\n",
            f.site,
            f.allocated,
            f.picked,
            f.at_risk,
            f.late,
            f.open_lines,
            f.lines_per_hour,
            if f.rate_reported { "*" } else { " " },
            f.skus_in_stock,
            if f.doors == 0 {
                "-".to_string()
            } else {
                format!("{}/{}", f.doors_in_service, f.doors)
            },
            r.plan_version
                .map(|v| format!("v{v}"))
                .unwrap_or_else(|| "-".into()),
        ));
        if !f.departures_at_risk.is_empty() {
            out.push_str(&format!(
                "{:<16} departures at risk: {}\n",
                "",
                f.departures_at_risk.join(", ")
            ));
        }
    }
    out.push_str("(* lines/h as the site's planner reports it; else as configured)\n");
    out
}

pub fn render_plans(plans: &[StoredPlan], now: Millis) -> String {
    if plans.is_empty() {
        return "no plans pushed yet\n".into();
    }
    let mut out = format!(
        "{:<16} {:>6} {:<26} {:>10} {:>7}\n",
        "site", "plan", "issued", "departures", "orders"
    );
    for p in plans {
        let (deps, orders) = match serde_json::from_str::<SitePlan>(&p.body) {
            Ok(plan) => (
                plan.departures.len().to_string(),
                plan.waves
                    .iter()
                    .map(|w| w.orders.len())
                    .sum::<usize>()
                    .to_string(),
            ),
            Err(_) => ("?".into(), "?".into()),
        };
        out.push_str(&format!(
            "{:<16} {:>6} {:<26} {:>10} {:>7}\n",
            p.site,
            format!("v{}", p.version),
            format!(
                "{} ({} s ago)",
                format_rfc3339(p.issued_at),
                (now - p.issued_at).max(0) / 1000
            ),
            deps,
            orders
        ));
    }
    out
}
