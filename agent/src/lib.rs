//! ferry-agent: keeps one k3s node in sync with signed bundles.
//!
//! A pure core ([`engine`] planning, health and drift; bundle verification in `ferry_bundle`)
//! and a thin IO shell ([`kube`], [`store`], [`source`]); [`reconcile`] runs one sync and
//! [`daemon`] schedules them.

// Errors carry the object, source and server message they are about; they are built on the
// failure path only, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod budget;
pub mod clock;
pub mod config;
pub mod config_check;
pub mod daemon;
pub mod endpoints;
pub mod engine;
pub mod events;
pub mod fault;
pub mod fleet;
pub mod heap;
pub mod host;
pub mod httpd;
pub mod images;
pub mod kube;
pub mod logline;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod reconcile;
pub mod report;
pub mod secrets;
pub mod serve;
pub mod site;
pub mod source;
pub mod store;
