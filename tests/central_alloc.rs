//! The central allocator end to end: real agents on their own site brokers,
//! syncing to central over a real central broker. Orders come in on
//! `dockside/central/orders`; stock and picks come from the sites' WMS
//! through the agents; plans go down to the agents, which store them.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{publish_all, uplink_section, wait_for, Agent, Central, Mosquitto};
use dockside::domain::time::now_ms;
use dockside::domain::SitePlan;
use serde_json::{json, Value};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// An inventory feed every test site has, besides the common subscriptions.
const STOCK_FEED: &str = r#"
[[subscriptions]]
topic = "wms/stock"
format = "json"
kind = "inventory_snapshot"
[subscriptions.mapping]
id = "/id"
sku = "/sku"
qty = "/qty"
"#;

/// `HH:MM` (UTC) of `t`: a cutoff in the carrier calendar.
fn hhmm(t: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .expect("a valid time")
        .format("%H:%M")
        .to_string()
}

/// `t` rounded down to the minute: what a cutoff of `hhmm(t)` means today.
fn minute(t: i64) -> i64 {
    t - t.rem_euclid(MIN)
}

fn publish(port: u16, messages: Vec<(String, Vec<u8>)>) {
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(publish_all(port, messages, None));
}

fn order_msg(order: Value) -> (String, Vec<u8>) {
    (
        "dockside/central/orders".to_string(),
        serde_json::to_vec(&order).expect("json"),
    )
}

fn order(id: &str, zone: &str, lines: &[(&str, u32)], promise: i64) -> Value {
    json!({
        "id": id,
        "destination_zone": zone,
        "promised_delivery": promise,
        "lines": lines.iter().map(|(sku, qty)| json!({"sku": sku, "qty": qty})).collect::<Vec<_>>(),
    })
}

fn stock(skus: &[(&str, i64)]) -> Vec<(String, Vec<u8>)> {
    skus.iter()
        .enumerate()
        .map(|(i, (sku, qty))| {
            (
                "wms/stock".to_string(),
                json!({"id": format!("st-{sku}-{i}"), "sku": sku, "qty": qty})
                    .to_string()
                    .into_bytes(),
            )
        })
        .collect()
}

/// A site: its broker and its agent syncing to `central_port`.
struct Site {
    id: &'static str,
    broker: Mosquitto,
    agent: Agent,
}

impl Site {
    fn start(id: &'static str, central_port: u16, extra: &str) -> Site {
        let broker = Mosquitto::start();
        let mut agent = Agent::for_site(
            id,
            broker.port,
            &format!(
                "{STOCK_FEED}\n{extra}\n{}",
                uplink_section(central_port, "")
            ),
        );
        agent.start();
        agent.wait_subscribed(1);
        Site { id, broker, agent }
    }

    /// The site plan the agent applies, if central sent one.
    fn plan(&self) -> Option<SitePlan> {
        let stored = self.agent.plan()?;
        let mut plan: SitePlan = serde_json::from_str(&stored.body).expect("a site plan");
        plan.version = stored.version;
        Some(plan)
    }
}

/// Order ids in a site plan, with their lines' SKUs and whether locked.
fn plan_orders(plan: &SitePlan) -> BTreeMap<String, (Vec<String>, bool, String)> {
    plan.waves
        .iter()
        .flat_map(|w| &w.orders)
        .map(|o| {
            (
                o.id.clone(),
                (
                    o.lines.iter().filter_map(|l| l.sku.clone()).collect(),
                    o.locked,
                    o.departure.clone(),
                ),
            )
        })
        .collect()
}

fn cli_json(central: &Central, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = central.cli(&all);
    assert!(
        out.status.success(),
        "dockside central {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// `dockside central orders --json`: id -> the stored order with its state.
fn orders(central: &Central) -> BTreeMap<String, Value> {
    cli_json(central, &["orders"])["orders"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|o| {
            (
                o["order"]["id"].as_str().expect("id").to_string(),
                o.clone(),
            )
        })
        .collect()
}

/// The shipments of a stored order: (site, carrier, departure, cutoff, delivery, lines).
fn shipments(o: &Value) -> Vec<&Value> {
    o["detail"]["shipments"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// `dockside central plans --json`: site -> latest version.
fn central_plan_versions(central: &Central) -> BTreeMap<String, u64> {
    cli_json(central, &["plans"])
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| {
            (
                p["site"].as_str().expect("site").to_string(),
                p["version"].as_u64().expect("version"),
            )
        })
        .collect()
}

/// Wait until each site's agent applies central's latest plan for it.
fn wait_plans_down(central: &Central, sites: &[&Site]) {
    wait_for(
        Duration::from_secs(60),
        "every site to apply central's latest plan",
        || {
            let versions = central_plan_versions(central);
            sites.iter().all(|s| {
                versions
                    .get(s.id)
                    .is_some_and(|v| s.plan().is_some_and(|p| p.version == *v))
            })
        },
    );
}

/// Units of each (site, sku) allocated and not yet picked.
fn reserved(orders: &BTreeMap<String, Value>) -> HashMap<(String, String), u64> {
    let mut out = HashMap::new();
    for o in orders.values() {
        for sh in shipments(o) {
            if sh["locked"].as_bool() == Some(true) {
                continue;
            }
            for l in sh["lines"].as_array().expect("lines") {
                *out.entry((
                    sh["site"].as_str().expect("site").to_string(),
                    l["sku"].as_str().expect("sku").to_string(),
                ))
                .or_default() += l["qty"].as_u64().expect("qty");
            }
        }
    }
    out
}

#[test]
fn orders_are_allocated_within_stock_capacity_and_cutoffs_and_survive_a_restart() {
    let t0 = now_ms();
    let van = hhmm(t0 + 60 * MIN);
    let slow = hhmm(t0 + 120 * MIN);
    let central_broker = Mosquitto::start();
    // dc-a is the cheapest but its van takes 3 shipments a day; its pallet
    // service is cheaper still but takes 20 h. dc-c is the only one with SKU-3.
    let mut central = Central::new(
        central_broker.port,
        &format!(
            r#"
[allocation]
horizon_h = 12
push_coalesce_ms = 100

[[sites]]
id = "dc-a"
lines_per_hour = 600
[[sites]]
id = "dc-b"
lines_per_hour = 600
[[sites]]
id = "dc-c"
lines_per_hour = 600

[[carriers]]
carrier = "van"
site = "dc-a"
cutoffs = ["{van}"]
transit_h = {{ north = 3, south = 8 }}
cost_per_shipment = 3.0
daily_capacity = 3

[[carriers]]
carrier = "pallet"
site = "dc-a"
cutoffs = ["{slow}"]
transit_h = {{ north = 20 }}
cost_per_shipment = 1.0
daily_capacity = 100

[[carriers]]
carrier = "van"
site = "dc-b"
cutoffs = ["{van}"]
transit_h = {{ north = 4, south = 3 }}
cost_per_shipment = 5.0
daily_capacity = 100

[[carriers]]
carrier = "van"
site = "dc-c"
cutoffs = ["{van}"]
transit_h = {{ north = 5, south = 5 }}
cost_per_shipment = 6.0
daily_capacity = 100

[[tenants]]
client = "acme"
allowed_carriers = ["van"]
priority = 5
"#
        ),
    );
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_dockside"))
        .arg("check-config")
        .arg(&central.config)
        .output()
        .expect("check-config");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    central.start();
    central.wait_subscribed(1);
    let a = Site::start("dc-a", central_broker.port, "");
    let b = Site::start("dc-b", central_broker.port, "");
    let c = Site::start("dc-c", central_broker.port, "");

    // Stock, from each site's WMS through its agent.
    publish(a.broker.port, stock(&[("SKU-1", 4), ("SKU-4", 100)]));
    publish(
        b.broker.port,
        stock(&[("SKU-1", 100), ("SKU-2", 100), ("SKU-4", 100)]),
    );
    publish(c.broker.port, stock(&[("SKU-3", 50)]));
    wait_for(
        Duration::from_secs(60),
        "central to know every site's stock",
        || {
            let sites = cli_json(&central, &["sites"]);
            let skus: BTreeMap<&str, u64> = sites
                .as_array()
                .expect("a list")
                .iter()
                .map(|s| {
                    (
                        s["site"].as_str().expect("site"),
                        s["skus_in_stock"].as_u64().expect("count"),
                    )
                })
                .collect();
            skus.get("dc-a") == Some(&2)
                && skus.get("dc-b") == Some(&3)
                && skus.get("dc-c") == Some(&1)
        },
    );

    let promise = t0 + 8 * HOUR;
    let mut messages = vec![
        order_msg(order("O1", "north", &[("SKU-1", 2)], promise)),
        order_msg(order("O2", "north", &[("SKU-1", 2)], promise)),
        order_msg(order("O3", "north", &[("SKU-1", 2)], promise)),
        order_msg(order("O4", "north", &[("SKU-4", 1)], promise)),
        order_msg(order("O5", "north", &[("SKU-4", 1)], promise)),
        order_msg(order("O6", "north", &[("SKU-4", 1)], t0 + 30 * HOUR)),
        order_msg(order("O7", "north", &[("SKU-4", 1)], promise)),
        order_msg(order("O8", "north", &[("SKU-2", 1), ("SKU-3", 1)], promise)),
    ];
    let mut acme = order("O9", "north", &[("SKU-4", 1)], t0 + 30 * HOUR);
    acme["client"] = json!("acme");
    messages.push(order_msg(acme));
    // Refused: no promise, a zone nobody serves, a line without a quantity.
    messages.push(order_msg(json!({
        "id": "BAD-1",
        "destination_zone": "atlantis",
        "lines": [{"sku": "SKU-1"}],
    })));
    // O1 again: a redelivery.
    messages.push(order_msg(order("O1", "north", &[("SKU-1", 2)], promise)));
    publish(central_broker.port, messages);

    wait_for(
        Duration::from_secs(60),
        "every good order to be allocated",
        || {
            let o = orders(&central);
            o.len() == 9 && o.values().all(|o| o["state"] == "allocated")
        },
    );
    let all = orders(&central);
    // Stock: no site has more of a SKU allocated than it has.
    let on_hand: HashMap<(&str, &str), u64> = [
        (("dc-a", "SKU-1"), 4),
        (("dc-a", "SKU-4"), 100),
        (("dc-b", "SKU-1"), 100),
        (("dc-b", "SKU-2"), 100),
        (("dc-b", "SKU-4"), 100),
        (("dc-c", "SKU-3"), 50),
    ]
    .into_iter()
    .collect();
    let held = reserved(&all);
    for ((site, sku), qty) in &held {
        let have = on_hand
            .get(&(site.as_str(), sku.as_str()))
            .copied()
            .unwrap_or(0);
        assert!(
            *qty <= have,
            "{site} has {qty} of {sku} allocated but {have} on hand"
        );
    }
    // Six SKU-1 ordered, four at dc-a: at least one SKU-1 order went to dc-b.
    assert_eq!(held.get(&("dc-a".into(), "SKU-1".into())), Some(&4));
    assert_eq!(held.get(&("dc-b".into(), "SKU-1".into())), Some(&2));
    // Capacity: dc-a's van takes three shipments.
    let on_a_van = all
        .values()
        .flat_map(|o| shipments(o))
        .filter(|s| s["site"] == "dc-a" && s["carrier"] == "van")
        .count();
    assert_eq!(on_a_van, 3, "dc-a's van is full, never over");
    // Cutoffs: every shipment leaves after it was allocated and arrives by
    // its promise; the cheap 20-hour pallet only carries the order promised
    // in 30 hours that may use it.
    for (id, o) in &all {
        for sh in shipments(o) {
            assert!(sh["cutoff"].as_i64().expect("cutoff") > t0, "{id}: {sh}");
            assert!(
                sh["delivery"].as_i64() <= o["order"]["promised_delivery"].as_i64(),
                "{id} is late: {sh}"
            );
        }
    }
    let carriers_of = |id: &str| -> Vec<(String, String)> {
        shipments(&all[id])
            .iter()
            .map(|s| {
                (
                    s["site"].as_str().expect("site").to_string(),
                    s["carrier"].as_str().expect("carrier").to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        carriers_of("O6"),
        vec![("dc-a".to_string(), "pallet".to_string())]
    );
    // acme may use vans only, even for an order the pallet could carry.
    assert!(
        carriers_of("O9").iter().all(|(_, c)| c == "van"),
        "{:?}",
        carriers_of("O9")
    );
    // Nobody has SKU-2 and SKU-3 together: O8 ships from two sites.
    let mut o8 = carriers_of("O8");
    o8.sort();
    assert_eq!(
        o8,
        vec![
            ("dc-b".to_string(), "van".to_string()),
            ("dc-c".to_string(), "van".to_string())
        ]
    );
    let van_cutoff = minute(t0 + 60 * MIN);
    assert!(shipments(&all["O8"])
        .iter()
        .all(|s| s["cutoff"] == van_cutoff));

    // The bad order is refused, with every reason, and kept.
    let view = cli_json(&central, &["orders"]);
    let rejected = view["rejected"].as_array().expect("a list");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let reasons = rejected[0]["reasons"].to_string();
    for why in ["promised_delivery", "atlantis", "qty"] {
        assert!(reasons.contains(why), "{why} missing from {reasons}");
    }
    assert_eq!(rejected[0]["order_id"], "BAD-1");

    // Plans down: each site gets its orders and only its own lines.
    let expected = |site: &str| -> BTreeMap<String, Vec<String>> {
        let mut m = BTreeMap::new();
        for (id, o) in &all {
            for sh in shipments(o) {
                if sh["site"] == site {
                    m.insert(
                        id.clone(),
                        sh["lines"]
                            .as_array()
                            .expect("lines")
                            .iter()
                            .map(|l| l["sku"].as_str().expect("sku").to_string())
                            .collect(),
                    );
                }
            }
        }
        m
    };
    let skus_in_plan = |site: &Site| -> Option<BTreeMap<String, Vec<String>>> {
        let plan = site.plan()?;
        assert_eq!(plan.site, site.id);
        Some(
            plan_orders(&plan)
                .into_iter()
                .map(|(id, (skus, _, _))| (id, skus))
                .collect(),
        )
    };
    for site in [&a, &b, &c] {
        wait_for(
            Duration::from_secs(60),
            &format!("{}'s plan to hold its orders", site.id),
            || skus_in_plan(site) == Some(expected(site.id)),
        );
    }
    assert_eq!(
        plan_orders(&c.plan().expect("plan"))
            .get("O8")
            .map(|o| o.0.clone()),
        Some(vec!["SKU-3".to_string()]),
        "dc-c holds only its own line of O8"
    );

    // The site reports an order picked: its carrier is locked, and the
    // lock reaches the site in its plan.
    let (picked_site, picked_order) = ("dc-b", "O8");
    publish(
        b.broker.port,
        vec![(
            "wms/picks".to_string(),
            json!({"id": "pk-1", "order": picked_order})
                .to_string()
                .into_bytes(),
        )],
    );
    wait_for(
        Duration::from_secs(60),
        "the lock to reach the site",
        || {
            b.plan()
                .and_then(|p| plan_orders(&p).get(picked_order).map(|o| o.1))
                == Some(true)
        },
    );
    let o8 = orders(&central)["O8"].clone();
    for sh in shipments(&o8) {
        assert_eq!(
            sh["locked"].as_bool(),
            Some(sh["site"] == picked_site),
            "only the picked site's shipment is locked: {sh}"
        );
    }
    wait_plans_down(&central, &[&a, &b, &c]);

    // Per-site figures.
    let sites = cli_json(&central, &["sites"]);
    for s in sites.as_array().expect("a list") {
        let site = s["site"].as_str().expect("site");
        let n = all
            .values()
            .flat_map(|o| shipments(o))
            .filter(|sh| sh["site"] == site)
            .count() as u64;
        assert_eq!(s["allocated"].as_u64(), Some(n), "{site}: {s}");
        assert_eq!(s["late"].as_u64(), Some(0), "{site}: {s}");
    }
    let text = central.cli(&["sites"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("dc-c"));

    // Orders from a CSV file: good rows are taken, a bad one is refused
    // with its line and reason, and the running central allocates the rest.
    let csv = central.dir.path().join("orders.csv");
    std::fs::write(
        &csv,
        format!(
            "order_id,destination_zone,promised_delivery,service_tier,client,sku,qty\n\
             O11,north,{promise},,,SKU-4,1\n\
             O11,north,{promise},,,SKU-1,1\n\
             BAD-2,north,{promise},,,SKU-4,lots\n"
        ),
    )
    .expect("csv");
    let out = central.cli(&["import-orders", csv.to_str().expect("utf-8")]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !out.status.success(),
        "a refused row fails the import: {said}"
    );
    assert!(
        said.contains("1 taken") && said.contains("1 refused"),
        "{said}"
    );
    assert!(said.contains("BAD-2"), "{said}");
    wait_for(Duration::from_secs(60), "O11 to be allocated", || {
        orders(&central)
            .get("O11")
            .is_some_and(|o| o["state"] == "allocated")
    });
    let o11 = orders(&central)["O11"].clone();
    let o11_lines: usize = shipments(&o11)
        .iter()
        .map(|s| s["lines"].as_array().expect("lines").len())
        .sum();
    assert_eq!(o11_lines, 2, "both rows of O11 are one order: {o11}");

    // Central restarts (kill -9): orders and plans are as they were, no
    // plan is re-issued, a redelivered order is still taken once, and new
    // orders see the reservations made before the restart.
    let before_orders = orders(&central);
    let before_plans = central_plan_versions(&central);
    central.kill9();
    central.start();
    central.wait_subscribed(2);
    publish(
        central_broker.port,
        vec![
            order_msg(order("O2", "north", &[("SKU-1", 2)], promise)),
            order_msg(order("O10", "north", &[("SKU-1", 1)], promise)),
        ],
    );
    wait_for(Duration::from_secs(60), "O10 to be allocated", || {
        orders(&central)
            .get("O10")
            .is_some_and(|o| o["state"] == "allocated")
    });
    let after = orders(&central);
    assert_eq!(after.len(), 11);
    for (id, o) in &before_orders {
        assert_eq!(
            after[id]["detail"], o["detail"],
            "{id} unchanged by the restart"
        );
    }
    // dc-a's SKU-1 was all reserved before the restart.
    assert_eq!(
        shipments(&after["O10"])
            .iter()
            .map(|s| s["site"].as_str().expect("site"))
            .collect::<Vec<_>>(),
        vec!["dc-b"]
    );
    wait_for(Duration::from_secs(60), "O10 to reach dc-b", || {
        b.plan()
            .is_some_and(|p| plan_orders(&p).contains_key("O10"))
    });
    wait_plans_down(&central, &[&a, &b, &c]);
    let after_plans = central_plan_versions(&central);
    assert_eq!(
        after_plans["dc-a"], before_plans["dc-a"],
        "dc-a's plan did not change"
    );
    assert_eq!(
        after_plans["dc-c"], before_plans["dc-c"],
        "dc-c's plan did not change"
    );
    let text = String::from_utf8_lossy(&central.cli(&["plans"]).stdout).to_string();
    assert!(text.contains("dc-a") && text.contains("dc-b"), "{text}");
}

#[test]
fn a_sites_risk_moves_orders_and_both_sites_receive_the_change() {
    let t0 = now_ms();
    let van = hhmm(t0 + 60 * MIN);
    let central_broker = Mosquitto::start();
    // Central plans dc-a at 600 lines an hour, but its plan's single zone
    // has one picker at 2 lines an hour: the site's planner will see its
    // departure cannot make the cutoff and say so.
    let mut central = Central::new(
        central_broker.port,
        &format!(
            r#"
[allocation]
horizon_h = 12
push_coalesce_ms = 100

[[sites]]
id = "dc-a"
lines_per_hour = 600
load = {{ staging_s = 60, fixed_s = 60, per_line_s = 1 }}
[[sites.zones]]
id = "pick"
standard_lines_per_hour = 2
headcount = 1

[[sites]]
id = "dc-b"
lines_per_hour = 600
load = {{ staging_s = 60, fixed_s = 60, per_line_s = 1 }}

[[carriers]]
carrier = "van"
site = "dc-a"
cutoffs = ["{van}"]
transit_h = {{ north = 3 }}
cost_per_shipment = 3.0
daily_capacity = 100

[[carriers]]
carrier = "van"
site = "dc-b"
cutoffs = ["{van}"]
transit_h = {{ north = 3 }}
cost_per_shipment = 5.0
daily_capacity = 100
"#
        ),
    );
    central.start();
    central.wait_subscribed(1);
    let planning = "[planning]\nround_s = 1\n";
    let a = Site::start("dc-a", central_broker.port, planning);
    let b = Site::start("dc-b", central_broker.port, planning);
    publish(a.broker.port, stock(&[("SKU-1", 100), ("SKU-2", 100)]));
    publish(b.broker.port, stock(&[("SKU-1", 100), ("SKU-2", 100)]));
    wait_for(Duration::from_secs(60), "central to know the stock", || {
        cli_json(&central, &["sites"])
            .as_array()
            .expect("a list")
            .iter()
            .all(|s| s["skus_in_stock"] == 2)
    });
    let promise = t0 + 8 * HOUR;
    publish(
        central_broker.port,
        (1..=3)
            .map(|i| {
                order_msg(order(
                    &format!("R{i}"),
                    "north",
                    &[("SKU-1", 1), ("SKU-2", 1)],
                    promise,
                ))
            })
            .collect(),
    );
    // First everything goes to dc-a, the cheaper site ...
    wait_for(Duration::from_secs(60), "dc-a to get the orders", || {
        a.plan().is_some_and(|p| plan_orders(&p).len() == 3)
    });
    let first_a = a.plan().expect("plan").version;
    // ... whose planner raises the risk; central moves orders to dc-b and
    // both sites get new plans.
    wait_for(
        Duration::from_secs(90),
        "orders to move from dc-a to dc-b",
        || {
            let on_b = b.plan().map(|p| plan_orders(&p)).unwrap_or_default();
            let on_a = a.plan().map(|p| plan_orders(&p)).unwrap_or_default();
            !on_b.is_empty() && on_b.keys().all(|id| !on_a.contains_key(id))
        },
    );
    wait_plans_down(&central, &[&a, &b]);
    let on_a = plan_orders(&a.plan().expect("plan"));
    let on_b = plan_orders(&b.plan().expect("plan"));
    assert!(
        a.plan().expect("plan").version > first_a,
        "dc-a got a new plan"
    );
    let mut every: Vec<&String> = on_a.keys().chain(on_b.keys()).collect();
    every.sort();
    assert_eq!(
        every,
        vec!["R1", "R2", "R3"],
        "each order at one site, once"
    );
    // What central recorded agrees with what the sites hold.
    let all = orders(&central);
    for (id, o) in &all {
        let sites: Vec<&str> = shipments(o)
            .iter()
            .map(|s| s["site"].as_str().expect("site"))
            .collect();
        let want = if on_b.contains_key(id) {
            "dc-b"
        } else {
            "dc-a"
        };
        assert_eq!(sites, vec![want], "{id}");
    }
    // The move followed dc-a's own report.
    let risk_seen = central
        .events("dc-a", &a.agent.summary().expect("summary").epoch)
        .iter()
        .any(|e| {
            e.body.kind() == "departure_at_risk" || e.body.kind() == "order_deferral_proposed"
        });
    assert!(risk_seen, "dc-a reported the risk to central");
    let figures = cli_json(&central, &["sites"]);
    let dc_a = figures
        .as_array()
        .expect("a list")
        .iter()
        .find(|s| s["site"] == "dc-a")
        .expect("dc-a")
        .clone();
    assert_eq!(
        dc_a["allocated"].as_u64(),
        Some(on_a.len() as u64),
        "{dc_a}"
    );
}
