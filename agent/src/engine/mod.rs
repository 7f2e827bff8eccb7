//! The apply engine, modelled on Flux's `ssa` package: a pure core (render, plan, health,
//! drift comparison) and a thin executor (apply, wait, prune) over the kube client.

pub mod apply;
pub mod changeset;
pub mod drift;
pub mod health;
pub mod object;
pub mod plan;
pub mod prune;
pub mod render;
pub mod wait;

/// Label ferry puts on every object it applies: the sync that owns it.
pub const SYNC_LABEL: &str = "ferry.dev/sync";
/// Annotation that keeps an object from being pruned.
pub const PRUNE_ANNOTATION: &str = "ferry.dev/prune";
/// Field manager of every ferry apply.
pub const FIELD_MANAGER: &str = "ferry";
