//! The verbs (create, update, merge, JSON and strategic patch, apply) as requests to the write
//! pipeline [`State::write`].

use super::super::State;
use super::{WriteRequest, WriteVerb, Written};
use crate::kube_sim::errors::ApiError;
use crate::kube_sim::resources::ResourceType;
use crate::kube_sim::roundtrip::FieldValidation;
use serde_json::Value;

impl State {
    /// POST.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        body: Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        self.write(WriteRequest {
            rt,
            namespace: ns,
            name: None,
            subresource: "",
            verb: WriteVerb::Create,
            body,
            manager,
            dry_run,
            field_validation: FieldValidation::default(),
        })
    }

    /// PUT.
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        body: Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        self.write(WriteRequest {
            rt,
            namespace: ns,
            name: Some(name),
            subresource: "",
            verb: WriteVerb::Update,
            body,
            manager,
            dry_run,
            field_validation: FieldValidation::default(),
        })
    }

    /// PATCH with a JSON merge patch.
    pub fn merge_patch(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        patch: Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        self.write(WriteRequest {
            rt,
            namespace: ns,
            name: Some(name),
            subresource: "",
            verb: WriteVerb::MergePatch,
            body: patch,
            manager,
            dry_run,
            field_validation: FieldValidation::default(),
        })
    }

    /// PATCH with a patch of the given kind (merge, strategic or JSON patch).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        verb: WriteVerb,
        patch: Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        self.write(WriteRequest {
            rt,
            namespace: ns,
            name: Some(name),
            subresource: "",
            verb,
            body: patch,
            manager,
            dry_run,
            field_validation: FieldValidation::default(),
        })
    }

    /// PATCH with a strategic merge patch.
    pub fn strategic_patch(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        patch: Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        self.write(WriteRequest {
            rt,
            namespace: ns,
            name: Some(name),
            subresource: "",
            verb: WriteVerb::StrategicPatch,
            body: patch,
            manager,
            dry_run,
            field_validation: FieldValidation::default(),
        })
    }

    /// PATCH with `application/apply-patch+yaml`: server-side apply.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        body: Value,
        manager: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        self.write(WriteRequest {
            rt,
            namespace: ns,
            name: Some(name),
            subresource: "",
            verb: WriteVerb::Apply { force },
            body,
            manager,
            dry_run,
            field_validation: FieldValidation::default(),
        })
    }
}
