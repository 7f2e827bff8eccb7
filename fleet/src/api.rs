//! The JSON API: the same views as the status page (`/api/overview`, `/api/devices` with the
//! same filters, sort and pagination, `/api/devices/{id}`).

use crate::app::App;
use crate::ingest::reject;
use crate::store::{DeviceDetail, Store, StoreError};
use crate::views::{self, DevicePage, DeviceQuery, Overview};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

/// Event kinds the overview lists as "recent drift corrections and rollbacks".
pub const RECENT_KINDS: [&str; 2] = ["drift-corrected", "rolled-back"];
/// Newest events of those kinds read for the overview, before at most two per device are kept
/// (so one device's flood does not push every other device's rollback off the page).
pub const RECENT_SCAN: usize = 1000;
/// Changes and events shown on a device page.
pub const DEVICE_HISTORY: usize = 50;

impl<S: Store> App<S> {
    /// Waits for one of the [`crate::app::VIEWS_AT_ONCE`] view permits (bounds the memory of
    /// views computed at once, whatever the number of clients).
    pub(crate) async fn view_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, StoreError> {
        self.views
            .acquire()
            .await
            .map_err(|_| StoreError::WriterGone)
    }

    pub async fn overview(&self) -> Result<Overview, StoreError> {
        let _permit = self.view_permit().await?;
        let recent = self.store.recent_events(&RECENT_KINDS, RECENT_SCAN).await?;
        let recent = views::few_per_device(recent, 2, views::LIST_LIMIT);
        let now = self.clock.now();
        Ok(self.fleet.with(|f| f.overview(now, recent)))
    }

    pub async fn device_page(&self, q: &DeviceQuery) -> Result<DevicePage, StoreError> {
        let _permit = self.view_permit().await?;
        let now = self.clock.now();
        Ok(self.fleet.with(|f| f.device_page(q, now)))
    }

    pub async fn device_detail(&self, id: &str) -> Result<Option<DeviceDetail>, StoreError> {
        self.store.device(id, DEVICE_HISTORY).await
    }
}

pub fn store_failed(e: StoreError) -> Response {
    tracing::error!("store: {e}");
    reject(
        StatusCode::SERVICE_UNAVAILABLE,
        "store-unavailable",
        "store unavailable",
    )
}

pub async fn overview<S: Store>(State(app): State<Arc<App<S>>>) -> Response {
    match app.overview().await {
        Ok(o) => Json(o).into_response(),
        Err(e) => store_failed(e),
    }
}

pub async fn devices<S: Store>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<DeviceQuery>,
) -> Response {
    match app.device_page(&q).await {
        Ok(p) => Json(p).into_response(),
        Err(e) => store_failed(e),
    }
}

pub async fn device<S: Store>(State(app): State<Arc<App<S>>>, Path(id): Path<String>) -> Response {
    match app.device_detail(&id).await {
        Ok(Some(d)) => {
            let status = app.limits.staleness.status(&d.device, app.clock.now());
            let mut v = serde_json::to_value(&d).unwrap_or_default();
            v["status"] = serde_json::json!(status);
            Json(v).into_response()
        }
        Ok(None) => reject(StatusCode::NOT_FOUND, "not-found", "no such device"),
        Err(e) => store_failed(e),
    }
}
