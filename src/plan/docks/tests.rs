use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::timing::{Cost, Figures};
use super::*;

const MIN: Millis = 60_000;

fn door(id: &str, open_from: Millis) -> DockDoor {
    DockDoor {
        id: id.into(),
        open_from,
        open_until: None,
    }
}

/// A random instance: `n` vehicles, `m` doors, some doors not eligible,
/// windows loose or tight, a few vehicles on a current door, `frozen` of them frozen.
fn instance(seed: u64, n: usize, m: usize, frozen: usize) -> DockProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let doors = (0..m)
        .map(|k| DockDoor {
            id: format!("D{k}"),
            open_from: rng.gen_range(0..30) * MIN,
            open_until: None,
        })
        .collect();
    let vehicles = (0..n)
        .map(|j| {
            let release = rng.gen_range(0..240) * MIN;
            let base = rng.gen_range(20..50);
            let mut load_ms: Vec<Option<Millis>> = (0..m)
                .map(|_| (rng.gen_bool(0.8)).then(|| (base + rng.gen_range(0..20)) * MIN))
                .collect();
            if load_ms.iter().all(Option::is_none) {
                load_ms[rng.gen_range(0..m)] = Some(base * MIN);
            }
            let current_door = if rng.gen_bool(0.5) || j < frozen {
                load_ms.iter().position(Option::is_some)
            } else {
                None
            };
            DockVehicle {
                id: format!("V{j}"),
                weight: rng.gen_range(1..4),
                arrival: release - rng.gen_range(0..30) * MIN,
                release,
                due: release + rng.gen_range(40..200) * MIN,
                load_ms,
                current_door,
                frozen: j < frozen,
            }
        })
        .collect();
    DockProblem {
        doors,
        vehicles,
        change_penalty_ms: 10 * MIN,
    }
}

#[test]
fn every_rule_and_the_search_give_valid_schedules_no_worse_than_edd() {
    for seed in 0..40 {
        let p = instance(seed, 25, 5, 3);
        p.validate().expect("valid instance");
        for s in [construct::edd(&p), construct::atc(&p), construct::fcfs(&p)] {
            assert!(s.is_valid(&p), "seed {seed}: {s:?}");
        }
        let out = outcome::plan(&p, 7, &mut Rounds(50)).expect("plans");
        assert!(out.assignments.len() == p.vehicles.len());
        let edd = construct::edd(&p).cost(&p);
        let best = search::iterate(&p, construct::edd(&p), 7, &mut Rounds(50));
        assert!(best.is_valid(&p), "seed {seed}");
        assert!(best.cost(&p) <= edd, "seed {seed}: search made it worse");
    }
}

#[test]
fn the_search_is_deterministic_for_a_seed() {
    let p = instance(3, 40, 6, 2);
    let a = search::iterate(&p, construct::edd(&p), 11, &mut Rounds(80));
    let b = search::iterate(&p, construct::edd(&p), 11, &mut Rounds(80));
    assert_eq!(a, b);
}

#[test]
fn frozen_vehicles_keep_their_door_ahead_of_the_rest() {
    for seed in 0..20 {
        let p = instance(seed, 20, 4, 4);
        let s = search::iterate(&p, construct::atc(&p), seed, &mut Rounds(100));
        assert!(s.is_valid(&p));
        for (k, seq) in s.doors.iter().enumerate() {
            let frozen = seq.iter().take_while(|&&v| p.vehicles[v].frozen).count();
            assert!(seq[frozen..].iter().all(|&v| !p.vehicles[v].frozen));
            assert!(seq[..frozen]
                .iter()
                .all(|&v| p.vehicles[v].current_door == Some(k)));
        }
    }
}

/// Every assignment of vehicles to eligible doors, every order on each door.
fn brute_force(p: &DockProblem) -> Cost {
    fn orders(p: &DockProblem, k: usize, set: &[usize]) -> Cost {
        let mut best: Option<Cost> = None;
        let mut perm = set.to_vec();
        permute(&mut perm, 0, &mut |seq| {
            let frozen_ok = {
                let f = seq.iter().take_while(|&&v| p.vehicles[v].frozen).count();
                seq[f..].iter().all(|&v| !p.vehicles[v].frozen)
            };
            if frozen_ok {
                let c = timing::time_door(p, k, seq).1;
                if best.map_or(true, |b| c < b) {
                    best = Some(c);
                }
            }
        });
        best.unwrap_or(Cost {
            overrun: i64::MAX / 4,
            ..Cost::default()
        })
    }
    fn permute(v: &mut Vec<usize>, i: usize, f: &mut dyn FnMut(&[usize])) {
        if i == v.len() {
            f(v);
            return;
        }
        for j in i..v.len() {
            v.swap(i, j);
            permute(v, i + 1, f);
            v.swap(i, j);
        }
    }
    let n = p.vehicles.len();
    let m = p.doors.len();
    let mut best: Option<Cost> = None;
    let mut assign = vec![0usize; n];
    let total = m.pow(n as u32);
    for code in 0..total {
        let mut c = code;
        for a in assign.iter_mut() {
            *a = c % m;
            c /= m;
        }
        let ok = (0..n).all(|v| {
            p.load(v, assign[v]).is_some()
                && (!p.vehicles[v].frozen || p.vehicles[v].current_door == Some(assign[v]))
        });
        if !ok {
            continue;
        }
        // Doors are independent given the assignment: best order per door.
        let cost = (0..m)
            .map(|k| {
                let set: Vec<usize> = (0..n).filter(|&v| assign[v] == k).collect();
                orders(p, k, &set)
            })
            .fold(Cost::default(), |a, b| a + b);
        if best.map_or(true, |b| cost < b) {
            best = Some(cost);
        }
    }
    best.expect("some assignment is valid")
}

#[test]
fn branch_and_bound_finds_the_brute_force_optimum() {
    for seed in 0..30 {
        let p = instance(seed, 6, 2, (seed % 2) as usize);
        let exact = exact::solve(&p, construct::edd(&p), 10_000_000).expect("small");
        assert!(exact.is_valid(&p));
        assert_eq!(exact.cost(&p), brute_force(&p), "seed {seed}");
    }
}

#[test]
fn the_heuristic_is_never_better_than_the_exact_optimum() {
    for seed in 0..10 {
        let p = instance(100 + seed, 8, 3, 1);
        let heuristic = search::iterate(&p, construct::edd(&p), 1, &mut Rounds(100));
        let exact = exact::solve(&p, heuristic.clone(), 50_000_000).expect("small");
        assert!(exact.cost(&p) <= heuristic.cost(&p), "seed {seed}");
    }
}

#[test]
fn a_door_out_of_service_is_used_only_once_it_returns() {
    // Two vehicles, two doors; D1 is out until minute 500.
    let p = DockProblem {
        doors: vec![door("D0", 0), door("D1", 500 * MIN)],
        vehicles: (0..2)
            .map(|j| DockVehicle {
                id: format!("V{j}"),
                weight: 1,
                arrival: 0,
                release: 0,
                due: 200 * MIN,
                load_ms: vec![Some(60 * MIN), Some(60 * MIN)],
                current_door: None,
                frozen: false,
            })
            .collect(),
        change_penalty_ms: 0,
    };
    let out = outcome::plan(&p, 1, &mut Rounds(20)).expect("plans");
    assert!(out.assignments.iter().all(|a| a.door == "D0"));
    assert!(out.figures.feasible);
}

#[test]
fn sequencing_by_cutoff_beats_first_come_first_served() {
    // One door: the early arrival has a late cutoff, the later one a tight one.
    let v = |id: &str, arrival: Millis, due: Millis| DockVehicle {
        id: id.into(),
        weight: 1,
        arrival,
        release: arrival,
        due,
        load_ms: vec![Some(60 * MIN)],
        current_door: None,
        frozen: false,
    };
    let p = DockProblem {
        doors: vec![door("D0", 30 * MIN)],
        vehicles: vec![v("relaxed", 0, 600 * MIN), v("tight", 10 * MIN, 100 * MIN)],
        change_penalty_ms: 0,
    };
    let fcfs = Figures::of(&p, &construct::fcfs(&p));
    let out = outcome::plan(&p, 1, &mut Rounds(20)).expect("plans");
    assert_eq!(fcfs.late, 1);
    assert_eq!(out.figures.late, 0);
    assert_eq!(out.assignments[0].vehicle, "tight");
}

#[test]
fn moving_a_vehicle_off_its_door_needs_a_reason() {
    // Two equal doors; the vehicle is planned at D1: it stays there.
    let p = DockProblem {
        doors: vec![door("D0", 0), door("D1", 0)],
        vehicles: vec![DockVehicle {
            id: "V".into(),
            weight: 1,
            arrival: 0,
            release: 0,
            due: 100 * MIN,
            load_ms: vec![Some(30 * MIN), Some(30 * MIN)],
            current_door: Some(1),
            frozen: false,
        }],
        change_penalty_ms: 10 * MIN,
    };
    let out = outcome::plan(&p, 1, &mut Rounds(20)).expect("plans");
    assert_eq!(out.assignments[0].door, "D1");
    assert!(!out.assignments[0].door_changed);
}

#[test]
fn bad_instances_are_refused_with_the_fix() {
    let mut p = instance(1, 3, 2, 0);
    p.vehicles[0].load_ms = vec![None, None];
    let e = p.validate().unwrap_err();
    assert!(e.to_string().contains("can use no door"), "{e}");
    p.vehicles[0].load_ms = vec![Some(1)];
    assert!(matches!(p.validate(), Err(DockError::LoadTimes { .. })));
}

#[test]
fn the_public_benchmark_csv_is_read() {
    let csv = "Problem_ID,M,N,w,r,d,p,s,e,instance_name\n\
        1,2,3,\"[1,2,1]\",\"[0,5,10]\",\"[50,60,70]\",\"[10,1000,12];[11,20,1000]\",\"[0,3]\",\"[300,300]\",\"tiny-01\"\n";
    let all = tadumadze::parse(csv).expect("parses");
    assert_eq!(all.len(), 1);
    let p = &all[0].problem;
    assert_eq!(all[0].name, "tiny-01");
    assert_eq!(p.doors.len(), 2);
    assert_eq!(p.doors[1].open_from, 3 * MIN);
    assert_eq!(p.vehicles[1].load_ms, vec![None, Some(20 * MIN)]);
    assert_eq!(p.vehicles[2].load_ms, vec![Some(12 * MIN), None]);
    assert_eq!(p.vehicles[1].weight, 2);
    p.validate().expect("valid");
    let bad = "Problem_ID,M,N,w,r,d,p,s,e,instance_name\n1,2,3,\"[1,2]\",\"[0,5,10]\",\"[50,60,70]\",\"[1,1,1];[1,1,1]\",\"[0,3]\",\"[300,300]\",x\n";
    let e = tadumadze::parse(bad).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("w has 2 values"), "{e}");
}
