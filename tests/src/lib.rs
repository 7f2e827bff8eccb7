pub mod client;
pub mod containerd;
pub mod git_server;
pub mod kube_sim;
pub mod oci_image;
pub mod recorder;
pub mod registry;
pub mod static_server;
