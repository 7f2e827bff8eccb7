//! Shared fidelity checks for the kubectl tests (see `fidelity_apply.rs`).

pub mod checks;
pub mod cluster;
