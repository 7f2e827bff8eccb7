//! The apply engine, modelled on Flux's `ssa` package: a pure core (render, plan, health,
//! drift and ownership rules) and a thin executor (list, check, write, apply, wait, prune) over the kube client.

pub mod apply;
pub mod changeset;
pub mod check;
pub mod drift;
pub mod error;
pub mod health;
pub mod jobs;
pub mod livelist;
pub mod object;
pub mod ownership;
pub mod parallel;
pub mod plan;
pub mod prune;
pub mod render;
pub mod resolve;
pub mod wait;
pub mod write;

#[cfg(test)]
mod wait_tests;

/// Label ferry puts on every object it applies: the sync that owns it.
pub const SYNC_LABEL: &str = "ferry.dev/sync";
/// Annotation that keeps an object from being pruned.
pub const PRUNE_ANNOTATION: &str = "ferry.dev/prune";
/// Field manager of every ferry apply.
pub const FIELD_MANAGER: &str = "ferry";
