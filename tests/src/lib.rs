pub mod client;
pub mod kube_sim;
