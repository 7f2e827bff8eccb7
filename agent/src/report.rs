//! Reporting after sync passes: the fleet heartbeat and queued notifications (delivered from
//! the outbox), the metrics textfile, and the `ferry-status` ConfigMap in the cluster.

pub mod config;

use crate::engine::object::DesiredObject;
use crate::reconcile::Agent;

impl Agent {
    /// Heartbeat (when `heartbeat`), outbox delivery, metrics textfile and the status object.
    pub fn report(&self, heartbeat: bool) {
        let reports = match crate::fleet::reports(&self.store, &self.config) {
            Ok(r) => r,
            Err(e) => return tracing::error!("reporting: {e}"),
        };
        if heartbeat && self.config.fleet.is_some() {
            let dropped = self
                .store
                .counters()
                .ok()
                .and_then(|c| {
                    c.into_iter()
                        .find(|(n, _)| n == "outbox_dropped")
                        .map(|(_, v)| v)
                })
                .unwrap_or(0);
            let mut hb = crate::fleet::heartbeat(
                &self.config.device_id(),
                &self.config.device.labels,
                self.started.elapsed(),
                crate::store::now(),
                &reports,
                dropped,
            );
            if let Some(site) = &self.site {
                // Which node leads the site's syncs (one Lease leads them all).
                hb["site"] = site.heartbeat_field();
                if let Some(r) = &self.rollout {
                    // This node's part in the host rollout (stopped: at which node, why).
                    hb["site"]["hostRollout"] = r.heartbeat_field();
                }
            }
            if let Err(e) = self.store.enqueue(
                crate::fleet::FLEET_TARGET,
                &hb.to_string(),
                self.config.outbox_limit,
            ) {
                tracing::error!("cannot queue heartbeat: {e}");
            }
        }
        if let Err(e) = crate::fleet::flush(&self.store, &self.config) {
            tracing::error!("outbox: {e}");
        }
        if let Some(path) = &self.config.metrics.textfile {
            match crate::metrics::current(&self.store, &self.config) {
                Ok(text) => {
                    if let Err(e) = crate::metrics::write_textfile(path, &text) {
                        tracing::warn!("metrics textfile {}: {e}", path.display());
                    }
                }
                Err(e) => tracing::warn!("metrics: {e}"),
            }
        }
        // On a site, only the leader writes the status object (followers' writes are fenced).
        let leads = self.site.as_ref().is_none_or(|s| s.fence().holds());
        if self.config.status_object.enabled && leads {
            if let Err(e) = self.write_status_object(&reports) {
                tracing::warn!("status object: {e}");
            }
        }
    }

    /// Keeps the `ferry-status` ConfigMap current; writes only when its content changed.
    fn write_status_object(&self, reports: &[crate::fleet::SyncReport]) -> Result<(), String> {
        let syncs: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| serde_json::json!({"name": r.name, "revision": r.state.good.as_ref().map(|g| g.revision), "health": crate::fleet::health_word(r), "lastError": r.state.last_error}))
            .collect();
        let ns = &self.config.status_object.namespace;
        let manifest = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ferry-status", "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "ferry"}},
            "data": {"device": self.config.device_id(), "agent": env!("CARGO_PKG_VERSION"), "syncs.json": serde_json::to_string(&syncs).unwrap_or_default()}
        });
        let obj = DesiredObject::new(
            "v1".into(),
            "ConfigMap".into(),
            ns.clone(),
            "status".into(),
            manifest,
        );
        if self
            .store
            .kv_get("status_object_hash")
            .map_err(|e| e.to_string())?
            .as_deref()
            == Some(obj.hash.as_str())
        {
            return Ok(());
        }
        let info = crate::engine::resolve::info_for(&self.client, &self.discovery, &obj)
            .map_err(|e| e.to_string())?;
        let policy = crate::engine::write::WritePolicy {
            force: true,
            recreate: crate::engine::write::RecreatePolicy::Never,
            timeout: std::time::Duration::from_secs(30),
            poll: self.poll_interval,
        };
        crate::engine::write::apply_object(
            &self.client,
            &self.discovery,
            &info,
            &obj,
            &[],
            &policy,
            crate::engine::write::Mode::Real,
        )
        .map_err(|e| e.to_string())?;
        self.store
            .kv_set("status_object_hash", &obj.hash)
            .map_err(|e| e.to_string())
    }
}
