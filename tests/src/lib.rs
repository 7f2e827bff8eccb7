pub mod client;
pub mod kube_sim;
pub mod recorder;
pub mod static_server;
