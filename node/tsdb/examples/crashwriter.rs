//! Placeholder for the crash-test writer (filled in with the crash test).
fn main() {}
