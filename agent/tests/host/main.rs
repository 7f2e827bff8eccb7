//! Host payloads end to end with the real `ferry-agent` binary: a signed bundle upgrades a
//! stand-in k3s (a script that serves `/readyz` on the port its `config.yaml` names, started by
//! the process supervisor) and ferry-agent itself on a test root; a broken k3s and a broken
//! agent are rolled back; hostile host sections are refused with named errors; kill -9 at every
//! step leaves all old or all new files.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod backoff;
mod crash;
mod gate;
mod hostile;
mod k3s;
mod secrets;
mod self_update;
