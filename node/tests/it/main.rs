//! Cluster integration tests: real `meridian` processes on loopback ports, real disks, real
//! kills. Every wait is on a condition with a deadline, never a fixed sleep.

mod api_openapi;
mod api_resources;
mod api_util;
mod api_validation;
mod cluster_core;
mod harness;
mod liveness;
mod operations;
mod pollers;
mod series;
