//! Placeholder for the engine benchmark.
fn main() {}
