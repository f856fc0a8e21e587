//! Meridian's Jepsen-style chaos suite: histories, checkers, nemeses, cluster harness, reports.
//!
//! Architecture invariant: the checkers (`linearizability`, `wgl`, `monitoring_check`,
//! `monitoring_deliveries`) and the schedules (`nemesis`, `target_schedule`) are pure: data in,
//! verdict or schedule out, no clock, no sockets, so any stored history can be re-checked.
//!
//! Architecture invariant: the suite talks only to loopback and to the namespaces it creates;
//! its targets and webhook receiver bind where they are told and nowhere else.

pub mod api;
pub mod checks;
pub mod cluster;
pub mod config;
pub mod delayer;
pub mod faults;
pub mod history;
pub mod html;
pub mod linearizability;
pub mod model;
pub mod monitoring_check;
pub mod monitoring_deliveries;
pub mod monitoring_history;
pub mod monitoring_parse;
pub mod monitoring_record;
pub mod monitoring_report;
pub mod nemesis;
pub mod net;
pub mod offline;
pub mod procs;
pub mod profiles;
pub mod report;
pub mod run;
pub mod target_driver;
pub mod target_schedule;
pub mod target_server;
pub mod webhook_receiver;
pub mod webhook_signature;
pub mod wgl;
pub mod workload;
