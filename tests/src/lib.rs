pub mod client;
pub mod git_server;
pub mod kube_sim;
pub mod recorder;
pub mod registry;
pub mod static_server;
pub mod tcp_count;
