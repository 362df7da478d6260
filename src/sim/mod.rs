//! Simulators for tests, benchmarks and demos: site equipment (a door PLC)
//! and generated DC days played in simulated time.

pub mod day;
pub mod door_plc;
