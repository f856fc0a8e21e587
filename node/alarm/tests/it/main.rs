//! Integration tests of meridian-alarm: the crate against brute-force reference models and
//! CloudWatch's documented tables, through its public API only.

mod cloudwatch;
mod combine;
mod dry_run;
mod evaluator;
mod reference;
mod scenarios;
mod support;
mod threshold;
