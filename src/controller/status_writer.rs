//! The one write path: server-side apply of `status` on the `/status` subresource.

use kube::Api;
use kube::api::{Patch, PatchParams};

use super::context::FIELD_MANAGER;
use crate::api::{BmsJob, BmsJobStatus};

/// The apply patch body for a status.
pub fn status_patch(status: &BmsJobStatus) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "bms.operator.dev/v1alpha1",
        "kind": "BmsJob",
        "status": status,
    })
}

/// Applies `status` to the BmsJob `name`, owning every status field with one field manager.
pub async fn write_status(
    api: &Api<BmsJob>,
    name: &str,
    status: &BmsJobStatus,
) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(name, &params, &Patch::Apply(status_patch(status)))
        .await
        .map(|_| ())
}
