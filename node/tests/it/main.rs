//! Cluster integration tests: real `meridian` processes on loopback ports, real disks, real
//! kills. Every wait is on a condition with a deadline, never a fixed sleep.

mod alarms;
mod api_hygiene;
mod api_idempotency;
mod api_limits;
mod api_openapi;
mod api_resources;
mod api_secrets;
mod api_tenants;
mod api_util;
mod api_validation;
mod cluster_core;
mod harness;
mod liveness;
mod notifier;
mod operations;
mod pollers;
mod series;
mod target;
