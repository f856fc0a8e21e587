//! Meridian's Jepsen-style chaos suite: histories, checkers, nemeses, cluster harness, reports.

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
pub mod monitoring_report;
pub mod nemesis;
pub mod net;
pub mod offline;
pub mod procs;
pub mod profiles;
pub mod report;
pub mod run;
pub mod target_schedule;
pub mod wgl;
pub mod workload;
