//! Plan (pure): desired objects and the last inventory -> ordered apply stages and a prune set.
//!
//! Stages: CRDs, Namespaces, other cluster-scoped objects, namespaced objects, webhooks last.
//! CRDs and Namespaces are waited for before the next stage. Prune runs in reverse order.

use super::object::{DesiredObject, InventoryEntry, ObjectId};
use std::collections::{BTreeMap, BTreeSet};

/// The apply stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Crds,
    Namespaces,
    ClusterScoped,
    Namespaced,
    Webhooks,
}

/// Where an object goes.
pub fn stage_of(id: &ObjectId) -> Stage {
    match (id.group.as_str(), id.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Stage::Crds,
        ("", "Namespace") => Stage::Namespaces,
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => Stage::Webhooks,
        _ if id.namespace.is_empty() => Stage::ClusterScoped,
        _ => Stage::Namespaced,
    }
}

/// Within a stage, things others refer to go first (accounts, config, RBAC, then workloads).
fn kind_rank(kind: &str) -> u8 {
    match kind {
        "ServiceAccount" => 0,
        "Secret" | "ConfigMap" => 1,
        "ClusterRole" | "Role" => 2,
        "ClusterRoleBinding" | "RoleBinding" => 3,
        "PersistentVolumeClaim" | "Service" => 4,
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" => 6,
        _ => 5,
    }
}

/// What one sync will do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Non-empty stages in apply order.
    pub stages: Vec<(Stage, Vec<DesiredObject>)>,
    /// Objects of the inventory the new revision dropped, in delete order.
    pub prune: Vec<InventoryEntry>,
    /// Desired objects whose content is the same as the inventory's record.
    pub same_as_inventory: BTreeSet<ObjectId>,
}

impl Plan {
    /// Every desired object, stage by stage.
    pub fn objects(&self) -> impl Iterator<Item = &DesiredObject> {
        self.stages.iter().flat_map(|(_, objects)| objects)
    }
}

/// Builds the plan. `inventory` is what ferry applied last (for this sync). The desired
/// objects move into their stages (a sync's desired set is held once, not copied).
pub fn plan(desired: Vec<DesiredObject>, inventory: &[InventoryEntry]) -> Plan {
    let previous: BTreeMap<&ObjectId, &InventoryEntry> =
        inventory.iter().map(|e| (&e.id, e)).collect();
    let mut same = BTreeSet::new();
    let mut prune: Vec<InventoryEntry> = {
        let wanted: BTreeSet<&ObjectId> = desired.iter().map(|d| &d.id).collect();
        inventory
            .iter()
            .filter(|e| !wanted.contains(&e.id))
            .cloned()
            .collect()
    };
    let mut by_stage: BTreeMap<Stage, Vec<DesiredObject>> = BTreeMap::new();
    for d in desired {
        if previous.get(&d.id).is_some_and(|p| p.hash == d.hash) {
            same.insert(d.id.clone());
        }
        by_stage.entry(stage_of(&d.id)).or_default().push(d);
    }
    for objs in by_stage.values_mut() {
        objs.sort_by(|a, b| (kind_rank(&a.id.kind), &a.id).cmp(&(kind_rank(&b.id.kind), &b.id)));
    }
    prune.sort_by(|a, b| {
        (stage_of(&b.id), kind_rank(&b.id.kind), &b.id).cmp(&(
            stage_of(&a.id),
            kind_rank(&a.id.kind),
            &a.id,
        ))
    });
    Plan {
        stages: by_stage.into_iter().collect(),
        prune,
        same_as_inventory: same,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api: &str, kind: &str, ns: &str, name: &str) -> DesiredObject {
        DesiredObject::new(
            api.into(),
            kind.into(),
            ns.into(),
            "f#0".into(),
            json!({"metadata": {"name": name}, "kind": kind}),
        )
    }

    #[test]
    fn stages_in_order_and_sorted_within() {
        let desired = vec![
            obj("apps/v1", "Deployment", "demo", "web"),
            obj("v1", "ConfigMap", "demo", "cfg"),
            obj(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "",
                "hook",
            ),
            obj("v1", "Namespace", "", "demo"),
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "",
                "sensors.edge.example.com",
            ),
        ];
        let p = plan(desired, &[]);
        let stages: Vec<Stage> = p.stages.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            stages,
            [
                Stage::Crds,
                Stage::Namespaces,
                Stage::ClusterScoped,
                Stage::Namespaced,
                Stage::Webhooks
            ]
        );
        let namespaced: Vec<&str> = p.stages[3].1.iter().map(|d| d.id.kind.as_str()).collect();
        assert_eq!(namespaced, ["ConfigMap", "Deployment"]);
        assert!(p.prune.is_empty());
    }

    #[test]
    fn prune_set_is_dropped_objects_in_reverse_order() {
        let old = [
            obj("v1", "Namespace", "", "old"),
            obj("v1", "ConfigMap", "old", "c"),
            obj("apps/v1", "Deployment", "demo", "web"),
        ];
        let inventory: Vec<InventoryEntry> = old.iter().map(InventoryEntry::from).collect();
        let p = plan(
            vec![obj("apps/v1", "Deployment", "demo", "web")],
            &inventory,
        );
        let pruned: Vec<String> = p.prune.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(pruned, ["ConfigMap/old/c", "Namespace/old"]);
        assert!(p.same_as_inventory.contains(&old[2].id));
    }
}
