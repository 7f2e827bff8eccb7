//! kube-sim against the real control plane (kube-apiserver v1.37.2, issue 21 item 2): each test
//! replays one request sequence against both and compares the normalized answers (status codes,
//! `Warning` headers, bodies without uids, resourceVersions, timestamps and generated names,
//! managedFields with manager, operation and fieldsV1). Differences are fixed in kube-sim or
//! listed with their reason in `differential/allow.rs` (and docs/kube-sim.md); anything else
//! fails.

#[path = "differential/mod.rs"]
mod differential;

use differential::Pair;

macro_rules! sequences {
    ($($name:ident => $seq:path),* $(,)?) => {$(
        #[test]
        fn $name() {
            let mut p = Pair::new(stringify!($name));
            $seq(&mut p);
            p.finish();
        }
    )*};
}

sequences! {
    configmap_writes => differential::basic::configmap_writes,
    lists => differential::basic::lists,
    service => differential::basic::service,
    namespace => differential::basic::namespace,
    deployment_scale_and_patch => differential::workloads::deployment_scale_and_patch,
    deletion_propagation => differential::workloads::deletion_propagation,
    job => differential::workloads::job,
    crd_and_custom_resources => differential::custom::crd_and_custom_resources,
    discovery => differential::discovery::discovery,
    kinds_new_in_1_37 => differential::kinds::kinds_new_in_1_37,
    kinds_without_controllers => differential::kinds::kinds_without_controllers,
}
