//! Cluster integration tests: real `meridian` processes on loopback ports, real disks, real
//! kills. Every wait is on a condition with a deadline, never a fixed sleep.

mod cluster_core;
mod harness;
mod liveness;
mod operations;
