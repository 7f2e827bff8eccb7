//! Sites with several nodes, end to end: three real `ferry-agent run` processes with separate
//! state directories elect one writer with a Lease, on kube-sim and on the real control plane, on one test clock the test
//! moves (see [`harness`]). kill -9 of the leader, SIGSTOP of the leader past its lease, a leader
//! that dies in the middle of an apply, a leader cut off the API server (a proxy per node), a drop on a follower reaching the leader
//! through its relay, host payloads rolled through the nodes one at a time under a second
//! Lease (a failed node stops the rollout); in every test no node writes outside its own
//! lease term (checked on the server's request log, by the node named in each request's
//! User-Agent) and the site never goes below its last good revision.

#[path = "../common/mod.rs"]
mod common;
mod drops;
mod harness;
mod hostile;
mod proxy;
mod real;
mod rollout;
mod rollout_cases;
mod scenarios;
mod shutdown;
mod sim;
