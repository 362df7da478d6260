//! Central allocator figures (issue 8).
//!
//! `cargo bench --bench alloc`:
//! 1. throughput: the allocator (pure, one thread) on a generated network of
//!    BENCH_SITES (default 50) sites, BENCH_SKUS (default 10,000) SKUs and a
//!    three-service carrier calendar per site; BENCH_ORDERS (default 20,000)
//!    orders allocated in groups of 64, as the receiver hands them over;
//! 2. cost and late orders against a baseline (per order: the nearest site
//!    with the stock, then the cheapest carrier with room on the day), both
//!    played through the same day: each site picks its departures in cutoff
//!    order at its true rate (its planned rate times 0.8-1.05), a shipment
//!    not ready by its cutoff leaves a day later;
//! 3. latency, loopback, real processes (two mosquitto brokers, an agent,
//!    `dockside central`): a site's `pick_complete` published on its broker
//!    to the agent storing the plan that locks the order's carrier, for
//!    BENCH_LOCKS (default 200) orders one after another.
//!
//! BENCH_SEED (default 1) seeds the network and orders. Prints markdown.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use common::{publish_all, uplink_section, wait_for, Agent, Central, Mosquitto};
use dockside::central::allocate::{Allocator, Line, Order, OrderState};
use dockside::config::CentralConfig;
use dockside::domain::time::now_ms;
use dockside::domain::{EventBody, Millis};

const HOUR: Millis = 3_600_000;
/// Monday 2026-11-23 06:00 UTC.
const T0: Millis = 1_795_413_600_000;
const ZONES: usize = 10;
const GROUP: usize = 64;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One carrier service of the generated calendar.
struct Svc {
    carrier: &'static str,
    tiers: &'static [&'static str],
    cutoffs: &'static [&'static str],
    weekdays_only: bool,
    extra_h: f64,
    cost: f64,
    capacity: u32,
}

const SERVICES: [Svc; 3] = [
    Svc {
        carrier: "express",
        tiers: &["express", "standard"],
        cutoffs: &["12:00", "18:00"],
        weekdays_only: false,
        extra_h: 0.0,
        cost: 9.0,
        capacity: 150,
    },
    Svc {
        carrier: "road",
        tiers: &["standard", "economy"],
        cutoffs: &["16:00"],
        weekdays_only: false,
        extra_h: 12.0,
        cost: 5.0,
        capacity: 250,
    },
    Svc {
        carrier: "pallet",
        tiers: &["economy"],
        cutoffs: &["14:00"],
        weekdays_only: true,
        extra_h: 36.0,
        cost: 3.0,
        capacity: 200,
    },
];

struct Network {
    config: CentralConfig,
    /// Site -> (sku, qty) on hand.
    stock: Vec<Vec<(String, i64)>>,
    /// Each site's true pick rate, lines an hour.
    true_rate: Vec<f64>,
}

/// Transit hours from site `s` to zone `z`: sites sit on a ring of zones.
fn base_transit(s: usize, z: usize, sites: usize) -> f64 {
    let home = s * ZONES / sites;
    let d = home.abs_diff(z).min(ZONES - home.abs_diff(z));
    10.0 + 6.0 * d as f64
}

fn network(rng: &mut ChaCha8Rng, sites: usize, skus: usize) -> Network {
    let mut toml = String::from(
        "data_dir = \"/tmp/unused\"\n[broker]\nhost = \"localhost\"\n[allocation]\nlate_penalty = 40.0\nlate_penalty_by_tier = { express = 120.0, economy = 15.0 }\n",
    );
    let mut true_rate = Vec::new();
    for s in 0..sites {
        let rate: f64 = rng.gen_range(120.0..400.0);
        true_rate.push(rate * rng.gen_range(0.8..1.05));
        toml.push_str(&format!(
            "[[sites]]\nid = \"dc-{s:02}\"\nlines_per_hour = {rate:.0}\n"
        ));
    }
    for s in 0..sites {
        for svc in &SERVICES {
            let transit: Vec<String> = (0..ZONES)
                .map(|z| format!("z{z} = {}", base_transit(s, z, sites) + svc.extra_h))
                .collect();
            toml.push_str(&format!(
                "[[carriers]]\ncarrier = \"{}\"\nsite = \"dc-{s:02}\"\ntiers = {:?}\ncutoffs = {:?}\n{}transit_h = {{ {} }}\ncost_per_shipment = {}\ndaily_capacity = {}\n",
                svc.carrier,
                svc.tiers,
                svc.cutoffs,
                if svc.weekdays_only { "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n" } else { "" },
                transit.join(", "),
                svc.cost + rng.gen_range(-0.5..0.5),
                svc.capacity,
            ));
        }
    }
    let config =
        CentralConfig::parse(&toml, std::path::Path::new("generated.toml")).expect("valid");
    // Each SKU at a fifth of the sites.
    let mut stock = vec![Vec::new(); sites];
    for k in 0..skus {
        for _ in 0..(sites / 5).max(1) {
            let s = rng.gen_range(0..sites);
            stock[s].push((format!("SKU-{k:05}"), rng.gen_range(5..60)));
        }
    }
    Network {
        config,
        stock,
        true_rate,
    }
}

/// Skewed SKU choice: a few SKUs sell a lot.
fn sku(rng: &mut ChaCha8Rng, skus: usize) -> String {
    let u: f64 = rng.gen();
    format!("SKU-{:05}", ((u * u * u) * skus as f64) as usize % skus)
}

fn orders(rng: &mut ChaCha8Rng, n: usize, skus: usize) -> Vec<Order> {
    (0..n)
        .map(|i| {
            let (tier, window) = match rng.gen_range(0..10) {
                0..=1 => ("express", 24),
                2..=7 => ("standard", 48),
                _ => ("economy", 96),
            };
            let mut lines: Vec<Line> = (0..rng.gen_range(1..=4))
                .map(|_| Line {
                    sku: sku(rng, skus),
                    qty: rng.gen_range(1..=3),
                })
                .collect();
            lines.sort_by(|a, b| a.sku.cmp(&b.sku));
            lines.dedup_by(|a, b| a.sku == b.sku);
            Order {
                id: format!("SO-{i:06}"),
                destination_zone: format!("z{}", rng.gen_range(0..ZONES)),
                lines,
                promised_delivery: T0 + window * HOUR + rng.gen_range(0..12) * HOUR,
                tier: tier.into(),
                client: None,
                received_at: T0,
            }
        })
        .collect()
}

/// A shipment as the day plays it.
struct Ship {
    order: usize,
    site: usize,
    lines: u64,
    cutoff: Millis,
    transit: Millis,
    cost: f64,
}

/// Play the day: each site picks its shipments in cutoff order at its true
/// rate; one not ready by its cutoff leaves a day later. Returns (cost,
/// late orders, late shipments).
fn play(net: &Network, ships: &[Ship], orders: &[Order]) -> (f64, usize, usize) {
    let lead = (900 + 900) as f64 / 3600.0;
    let mut by_site: Vec<Vec<&Ship>> = vec![Vec::new(); net.true_rate.len()];
    for s in ships {
        by_site[s.site].push(s);
    }
    let mut late_order = vec![false; orders.len()];
    let mut late_ships = 0;
    for (si, list) in by_site.iter_mut().enumerate() {
        list.sort_by_key(|s| (s.cutoff, s.order));
        let mut cum = 0u64;
        for s in list.iter() {
            cum += s.lines;
            let ready = T0 + ((cum as f64 / net.true_rate[si] + lead) * HOUR as f64) as Millis;
            let leaves = if ready <= s.cutoff {
                s.cutoff
            } else {
                late_ships += 1;
                s.cutoff + 24 * HOUR
            };
            if leaves + s.transit > orders[s.order].promised_delivery {
                late_order[s.order] = true;
            }
        }
    }
    (
        ships.iter().map(|s| s.cost).sum(),
        late_order.iter().filter(|l| **l).count(),
        late_ships,
    )
}

/// The baseline: nearest site holding the line, then the cheapest carrier
/// serving the tier and zone with room on the day, its next departure.
fn baseline(net: &Network, orders: &[Order]) -> (Vec<Ship>, usize) {
    let sites = net.config.sites.len();
    let mut atp: Vec<HashMap<&str, i64>> = net
        .stock
        .iter()
        .map(|l| {
            let mut m = HashMap::new();
            for (k, q) in l {
                *m.entry(k.as_str()).or_default() += q;
            }
            m
        })
        .collect();
    let mut used: HashMap<(usize, usize, Millis), u32> = HashMap::new();
    let mut ships = Vec::new();
    let mut unplaced = 0;
    for (oi, o) in orders.iter().enumerate() {
        let z: usize = o.destination_zone[1..].parse().expect("z<n>");
        let mut by_near: Vec<usize> = (0..sites).collect();
        by_near.sort_by(|a, b| {
            base_transit(*a, z, sites)
                .total_cmp(&base_transit(*b, z, sites))
                .then(a.cmp(b))
        });
        // Lines by site: the whole order at the nearest site that has it, else line by line.
        let whole = by_near.iter().copied().find(|&s| {
            o.lines
                .iter()
                .all(|l| atp[s].get(l.sku.as_str()).copied().unwrap_or(0) >= l.qty as i64)
        });
        let mut parts: HashMap<usize, Vec<&Line>> = HashMap::new();
        for l in &o.lines {
            let site = whole.or_else(|| {
                by_near
                    .iter()
                    .copied()
                    .find(|&s| atp[s].get(l.sku.as_str()).copied().unwrap_or(0) >= l.qty as i64)
            });
            match site {
                Some(s) => {
                    *atp[s].get_mut(l.sku.as_str()).expect("has it") -= l.qty as i64;
                    parts.entry(s).or_default().push(l);
                }
                None => unplaced += 1,
            }
        }
        let mut parts: Vec<_> = parts.into_iter().collect();
        parts.sort_by_key(|(s, _)| *s);
        for (s, lines) in parts {
            let mut best: Option<(f64, Millis, Millis, usize)> = None;
            for c in net
                .config
                .carriers
                .iter()
                .filter(|c| c.site == net.config.sites[s].id)
            {
                let Some(h) = c.transit_h.get(&o.destination_zone) else {
                    continue;
                };
                if !c.serves_tier(&o.tier) {
                    continue;
                }
                let svc = SERVICES
                    .iter()
                    .position(|x| x.carrier == c.carrier)
                    .expect("generated");
                // Next departure after the pick lead, with room that day.
                let mut cutoff = None;
                'days: for day in 0..7 {
                    let midnight = T0 - T0.rem_euclid(24 * HOUR) + day * 24 * HOUR;
                    let weekday = (midnight / (24 * HOUR) + 3).rem_euclid(7);
                    if c.day_mask() & (1 << weekday) == 0 {
                        continue;
                    }
                    for m in c.cutoff_minutes() {
                        let t = midnight + m as Millis * 60_000;
                        if t > T0 + HOUR
                            && used.get(&(s, svc, midnight)).copied().unwrap_or(0)
                                < c.daily_capacity
                        {
                            cutoff = Some((t, midnight));
                            break 'days;
                        }
                    }
                }
                let Some((t, midnight)) = cutoff else {
                    continue;
                };
                if best.map_or(true, |b| c.cost_per_shipment < b.0) {
                    best = Some((c.cost_per_shipment, t, (h * HOUR as f64) as Millis, svc));
                    let _ = midnight;
                }
            }
            let Some((cost, cutoff, transit, svc)) = best else {
                unplaced += lines.len();
                continue;
            };
            let midnight = cutoff - cutoff.rem_euclid(24 * HOUR);
            *used.entry((s, svc, midnight)).or_default() += 1;
            ships.push(Ship {
                order: oi,
                site: s,
                lines: lines.len() as u64,
                cutoff,
                transit,
                cost,
            });
        }
    }
    (ships, unplaced)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let seed = env_or("BENCH_SEED", 1);
    let n_sites = env_or("BENCH_SITES", 50) as usize;
    let n_skus = env_or("BENCH_SKUS", 10_000) as usize;
    let n_orders = env_or("BENCH_ORDERS", 20_000) as usize;
    let n_locks = env_or("BENCH_LOCKS", 200) as usize;

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let net = network(&mut rng, n_sites, n_skus);
    let orders = orders(&mut rng, n_orders, n_skus);
    let lines: usize = orders.iter().map(|o| o.lines.len()).sum();

    // 1. Throughput.
    let mut alloc = Allocator::new(&net.config);
    for (si, list) in net.stock.iter().enumerate() {
        let events: Vec<EventBody> = list
            .iter()
            .map(|(sku, qty)| EventBody::InventoryDelta {
                sku: sku.clone(),
                qty: *qty,
                at: T0,
            })
            .collect();
        alloc.apply_events(&net.config.sites[si].id, events.iter(), T0);
    }
    let start = Instant::now();
    for group in orders.chunks(GROUP) {
        alloc.allocate(group.to_vec(), T0);
        let _ = alloc.take_changed_orders();
    }
    let spent = start.elapsed();
    let rate = n_orders as f64 / spent.as_secs_f64();

    // 2. Cost and late orders against the baseline.
    let mut ships = Vec::new();
    let mut pending = 0;
    let site_ix: HashMap<&str, usize> = net
        .config
        .sites
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    for (oi, o) in orders.iter().enumerate() {
        match alloc.order(&o.id).map(|(_, s)| s) {
            Some(OrderState::Allocated { shipments }) => {
                for sh in shipments {
                    ships.push(Ship {
                        order: oi,
                        site: site_ix[sh.site.as_str()],
                        lines: sh.lines.len() as u64,
                        cutoff: sh.cutoff,
                        transit: sh.delivery - sh.cutoff,
                        cost: sh.ship_cost,
                    });
                }
            }
            _ => pending += 1,
        }
    }
    let (cost, late, late_ships) = play(&net, &ships, &orders);
    let (base_ships, unplaced) = baseline(&net, &orders);
    let (base_cost, base_late, base_late_ships) = play(&net, &base_ships, &orders);

    // 3. Pick complete to the carrier lock at the site.
    let lock_ms = lock_latency(n_locks);
    let mut sorted = lock_ms.clone();
    sorted.sort_by(f64::total_cmp);

    println!("## Central allocation (seed {seed})\n");
    println!(
        "Network: {n_sites} sites, {n_skus} SKUs, {} carrier services; {n_orders} orders, {lines} lines.\n",
        net.config.carriers.len()
    );
    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| allocation throughput, one thread, groups of {GROUP} | {rate:.0} orders/s ({:.1} s for {n_orders}) |",
        spent.as_secs_f64()
    );
    println!(
        "| pick complete → carrier lock stored at the site (loopback, n = {}) | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms |",
        sorted.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or(f64::NAN)
    );
    println!();
    println!("| | allocator | baseline (nearest with stock, cheapest carrier) |");
    println!("| --- | --- | --- |");
    println!(
        "| shipping cost | {cost:.0} | {base_cost:.0} ({:+.1}%) |",
        (base_cost - cost) / cost * 100.0
    );
    println!("| shipments | {} | {} |", ships.len(), base_ships.len());
    println!(
        "| late orders | {late} ({:.1}%) | {base_late} ({:.1}%) |",
        late as f64 / n_orders as f64 * 100.0,
        base_late as f64 / n_orders as f64 * 100.0
    );
    println!("| shipments missing their departure | {late_ships} | {base_late_ships} |");
    println!("| orders not placed (no stock or service) | {pending} | {unplaced} lines |");
}

/// Loopback rig: an agent syncing to central; `n` one-line orders allocated
/// to its site; each order's pick published on the site broker and timed
/// until the agent stores a plan with that order locked.
fn lock_latency(n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    let site_broker = Mosquitto::start();
    let central_broker = Mosquitto::start();
    let mut central = Central::new(
        central_broker.port,
        r#"
[allocation]
horizon_h = 30
[[sites]]
id = "dc-test"
lines_per_hour = 100000
[[carriers]]
carrier = "van"
site = "dc-test"
cutoffs = ["00:00", "06:00", "12:00", "18:00"]
transit_h = { z0 = 4 }
cost_per_shipment = 5.0
daily_capacity = 100000
"#,
    );
    central.start();
    central.wait_subscribed(1);
    let mut agent = Agent::with_extra(
        site_broker.port,
        &format!(
            "[[subscriptions]]\ntopic = \"wms/stock\"\nformat = \"json\"\nkind = \"inventory_snapshot\"\n[subscriptions.mapping]\nid = \"/id\"\nsku = \"/sku\"\nqty = \"/qty\"\n{}",
            uplink_section(central_broker.port, "")
        ),
    );
    agent.start();
    agent.wait_subscribed(1);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(publish_all(
        site_broker.port,
        vec![(
            "wms/stock".into(),
            br#"{"id":"s1","sku":"SKU-1","qty":1000000}"#.to_vec(),
        )],
        None,
    ));
    // Stock first, so every order is allocated on arrival.
    wait_for(Duration::from_secs(60), "central to see the stock", || {
        central.last_seq("dc-test") >= 1
    });
    std::thread::sleep(Duration::from_millis(500));
    let promise = now_ms() + 48 * HOUR;
    let orders: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            (
                "dockside/central/orders".to_string(),
                format!(r#"{{"id":"L{i:05}","destination_zone":"z0","promised_delivery":{promise},"lines":[{{"sku":"SKU-1","qty":1}}]}}"#).into_bytes(),
            )
        })
        .collect();
    rt.block_on(publish_all(central_broker.port, orders, None));
    let reader = || dockside::store::LogReader::open(&agent.db()).ok();
    let locked = |order: &str| -> Option<bool> {
        let plan = reader()?.current_plan().ok()??;
        let plan: dockside::domain::SitePlan = serde_json::from_str(&plan.body).ok()?;
        plan.waves
            .iter()
            .flat_map(|w| &w.orders)
            .find(|o| o.id == order)
            .map(|o| o.locked)
    };
    wait_for(
        Duration::from_secs(120),
        "every order in the site's plan",
        || locked(&format!("L{:05}", n - 1)).is_some(),
    );
    // One publisher, connected once: the clock starts at the publish.
    let (client, mut eventloop) = rumqttc::AsyncClient::new(
        rumqttc::MqttOptions::new("bench-wms", "127.0.0.1", site_broker.port),
        64,
    );
    rt.spawn(async move { while eventloop.poll().await.is_ok() {} });
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("L{i:05}");
        let start = Instant::now();
        rt.block_on(client.publish(
            "wms/picks",
            rumqttc::QoS::AtLeastOnce,
            false,
            format!(r#"{{"id":"pk{i}","order":"{id}"}}"#).into_bytes(),
        ))
        .expect("publish");
        while locked(&id) != Some(true) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the lock of {id} never reached the site"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        out.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    out
}
