//! Which requests read a device's door signals: contiguous addresses of one
//! table in one request, within Modbus's limits. Pure.

use crate::config::{DeviceConfig, Table};

/// One read request: `count` items of `table` from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Block {
    pub table: Table,
    pub start: u16,
    pub count: u16,
}

/// What a block read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockData {
    Bits(Vec<bool>),
    Words(Vec<u16>),
}

/// Group addresses into the fewest requests that read only requested
/// addresses: each maximal run of consecutive addresses of one table, split
/// where it would exceed the table's per-request limit. Gaps are not bridged:
/// many controllers answer "illegal data address" for unmapped addresses.
pub fn group_reads(points: impl IntoIterator<Item = (Table, u16)>) -> Vec<Block> {
    let mut points: Vec<(Table, u16)> = points.into_iter().collect();
    points.sort_unstable();
    points.dedup();
    let mut blocks: Vec<Block> = Vec::new();
    for (table, address) in points {
        match blocks.last_mut() {
            Some(b)
                if b.table == table
                    && u32::from(b.start) + u32::from(b.count) == u32::from(address)
                    && b.count < table.max_per_request() =>
            {
                b.count += 1;
            }
            _ => blocks.push(Block {
                table,
                start: address,
                count: 1,
            }),
        }
    }
    blocks
}

/// Where one signal's value is found in the read results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Locator {
    block: usize,
    offset: usize,
    bit: Option<u8>,
    invert: bool,
}

/// A device's requests, and how to turn their results into door signals.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    pub blocks: Vec<Block>,
    /// Per door (config order): its signal names (sorted) and where each is.
    doors: Vec<Vec<(String, Locator)>>,
}

impl ReadPlan {
    /// The plan for a validated device config (addresses and bits in range).
    pub fn for_device(device: &DeviceConfig) -> ReadPlan {
        let points = device
            .doors
            .iter()
            .flat_map(|d| d.signals.values().map(|s| (s.table, address(s.address))));
        let blocks = group_reads(points);
        let doors = device
            .doors
            .iter()
            .map(|d| {
                d.signals
                    .iter()
                    .map(|(name, s)| {
                        let a = address(s.address);
                        let block = blocks
                            .iter()
                            .position(|b| {
                                b.table == s.table
                                    && b.start <= a
                                    && u32::from(a) < u32::from(b.start) + u32::from(b.count)
                            })
                            .expect("group_reads covers every address");
                        let locator = Locator {
                            block,
                            offset: usize::from(a - blocks[block].start),
                            bit: s.bit.map(|b| b.clamp(0, 15) as u8),
                            invert: s.invert,
                        };
                        (name.clone(), locator)
                    })
                    .collect()
            })
            .collect();
        ReadPlan { blocks, doors }
    }

    /// The signal names of door `i`, in the order `decode` returns values.
    pub fn signal_names(&self, door: usize) -> impl Iterator<Item = &str> {
        self.doors[door].iter().map(|(n, _)| n.as_str())
    }

    pub fn door_count(&self) -> usize {
        self.doors.len()
    }

    /// Signal values per door from one result per block (in block order,
    /// each as long as its block: the reader checks that).
    pub fn decode(&self, data: &[BlockData]) -> Vec<Vec<bool>> {
        self.doors
            .iter()
            .map(|signals| {
                signals
                    .iter()
                    .map(|(_, l)| {
                        let raw = match (&data[l.block], l.bit) {
                            (BlockData::Bits(bits), _) => bits[l.offset],
                            (BlockData::Words(words), Some(bit)) => {
                                (words[l.offset] >> bit) & 1 == 1
                            }
                            (BlockData::Words(words), None) => words[l.offset] != 0,
                        };
                        raw != l.invert
                    })
                    .collect()
            })
            .collect()
    }
}

/// Config addresses are validated to 0..=65535 before a plan is made.
fn address(a: i64) -> u16 {
    u16::try_from(a).expect("validated: addresses are 0..=65535")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;
    use crate::config::{DoorMap, SignalSpec, TransportKind};

    fn table() -> impl Strategy<Value = Table> {
        prop_oneof![
            Just(Table::Coil),
            Just(Table::DiscreteInput),
            Just(Table::HoldingRegister),
            Just(Table::InputRegister),
        ]
    }

    proptest! {
        /// Every address is read exactly once, only requested addresses are
        /// read, limits hold, and no two blocks could have been one.
        #[test]
        fn blocks_cover_exactly_the_points_within_limits(
            points in proptest::collection::vec(
                (table(), prop_oneof![0u16..300, 65_300u16..=65_535, 1_000u16..3_500]),
                0..1500,
            )
        ) {
            let blocks = group_reads(points.clone());
            let wanted: BTreeSet<(Table, u32)> =
                points.iter().map(|(t, a)| (*t, u32::from(*a))).collect();
            let mut read = BTreeSet::new();
            for b in &blocks {
                prop_assert!(b.count >= 1 && b.count <= b.table.max_per_request());
                for a in u32::from(b.start)..u32::from(b.start) + u32::from(b.count) {
                    prop_assert!(a <= 65_535);
                    prop_assert!(read.insert((b.table, a)), "{:?} read twice", (b.table, a));
                }
            }
            prop_assert_eq!(&read, &wanted);
            for w in blocks.windows(2) {
                let (a, b) = (w[0], w[1]);
                let adjacent = a.table == b.table
                    && u32::from(a.start) + u32::from(a.count) == u32::from(b.start);
                prop_assert!(!adjacent || a.count == a.table.max_per_request(),
                    "{:?} and {:?} could be one request", a, b);
            }
        }
    }

    #[test]
    fn long_runs_split_at_the_protocol_limits() {
        let coils = (0..4500).map(|a| (Table::Coil, a));
        let regs = (100..400).map(|a| (Table::HoldingRegister, a));
        let blocks = group_reads(coils.chain(regs));
        let summary: Vec<(Table, u16, u16)> =
            blocks.iter().map(|b| (b.table, b.start, b.count)).collect();
        assert_eq!(
            summary,
            vec![
                (Table::Coil, 0, 2000),
                (Table::Coil, 2000, 2000),
                (Table::Coil, 4000, 500),
                (Table::HoldingRegister, 100, 125),
                (Table::HoldingRegister, 225, 125),
                (Table::HoldingRegister, 350, 50),
            ]
        );
    }

    fn spec(table: Table, address: i64, bit: Option<i64>, invert: bool) -> SignalSpec {
        SignalSpec {
            table,
            address,
            bit,
            invert,
        }
    }

    #[test]
    fn decode_reads_bits_packed_registers_and_inverted_contacts() {
        let door = |name: &str, base: i64, reg_bit: i64| DoorMap {
            door: name.into(),
            signals: BTreeMap::from([
                (
                    "door_open".into(),
                    spec(Table::DiscreteInput, base, None, false),
                ),
                (
                    "vehicle_present".into(),
                    spec(Table::DiscreteInput, base + 1, None, false),
                ),
                (
                    "restraint_engaged".into(),
                    spec(Table::HoldingRegister, 10, Some(reg_bit), false),
                ),
                ("fault".into(), spec(Table::Coil, base, None, true)),
                (
                    "leveller_deployed".into(),
                    spec(Table::InputRegister, base, None, false),
                ),
            ]),
        };
        let device = DeviceConfig {
            name: "p".into(),
            transport: TransportKind::Tcp,
            host: Some("h".into()),
            port: None,
            serial_port: None,
            baud_rate: None,
            parity: None,
            data_bits: None,
            stop_bits: None,
            unit_id: 1,
            poll_interval_ms: 100,
            timeout_ms: 100,
            debounce_ms: None,
            offline_after_failures: 1,
            retry_min_ms: 100,
            retry_max_ms: 1000,
            doors: vec![door("D1", 0, 0), door("D2", 2, 5)],
        };
        let plan = ReadPlan::for_device(&device);
        assert_eq!(
            plan.blocks,
            vec![
                Block {
                    table: Table::Coil,
                    start: 0,
                    count: 1
                },
                Block {
                    table: Table::Coil,
                    start: 2,
                    count: 1
                },
                Block {
                    table: Table::DiscreteInput,
                    start: 0,
                    count: 4
                },
                Block {
                    table: Table::HoldingRegister,
                    start: 10,
                    count: 1
                },
                Block {
                    table: Table::InputRegister,
                    start: 0,
                    count: 1
                },
                Block {
                    table: Table::InputRegister,
                    start: 2,
                    count: 1
                },
            ]
        );
        let names: Vec<&str> = plan.signal_names(0).collect();
        assert_eq!(
            names,
            [
                "door_open",
                "fault",
                "leveller_deployed",
                "restraint_engaged",
                "vehicle_present"
            ]
        );
        let values = plan.decode(&[
            BlockData::Bits(vec![false]), // D1 fault contact open: fault (inverted)
            BlockData::Bits(vec![true]),  // D2 fault contact closed: no fault
            BlockData::Bits(vec![true, false, false, true]),
            BlockData::Words(vec![0b10_0000]), // bit 5 set: D2 restrained, D1 not
            BlockData::Words(vec![0]),
            BlockData::Words(vec![7]), // non-zero: deployed
        ]);
        assert_eq!(values[0], [true, true, false, false, false]);
        assert_eq!(values[1], [false, false, true, true, true]);
    }
}
