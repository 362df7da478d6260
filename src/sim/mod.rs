//! Simulators: generated DC days played in simulated time.

pub mod day;
