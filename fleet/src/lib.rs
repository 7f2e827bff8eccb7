//! ferry-fleet: the receiving side of the agents' heartbeat and events. HTTPS ingest with
//! per-device tokens and/or mutual TLS, SQLite (default) or PostgreSQL storage behind one
//! trait, a server-rendered status page, a JSON API and fleet-level metrics. See docs/fleet.md.

pub mod aggregate;
pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod conn;
pub mod devsetup;
pub mod guard;
pub mod html;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod overview_page;
pub mod pages;
pub mod pgtest;
pub mod plots;
pub mod run;
pub mod safe;
pub mod server;
pub mod signin;
pub mod site;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod views;
