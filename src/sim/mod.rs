//! Simulated site equipment for tests, benchmarks and demos.

pub mod door_plc;
