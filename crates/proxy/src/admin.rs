//! The admin listener: `GET /metrics` (Prometheus) and `GET /status` (every listener's
//! upstreams and their health, as JSON), on a listener of its own so no Tessera path is
//! shadowed.

use std::sync::Arc;

use cloister_addr::Endpoint;
use cloister_protocol::media;
use cloister_protocol::path::{METRICS as METRICS_PATH, STATUS as STATUS_PATH};
use http::{Method, StatusCode};

use crate::http1::{Answer, RequestHead};
use crate::metrics::Metrics;
use crate::policy::Role;
use crate::upstream::Group;

/// The largest request body the admin listener reads (it expects none).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// One listener's group, for `/status`.
pub(crate) struct Front {
    pub(crate) listen: Endpoint,
    pub(crate) role: Role,
    pub(crate) group: Arc<Group>,
}

/// What the admin listener reports on.
pub(crate) struct Admin {
    pub(crate) fronts: Arc<Vec<Front>>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Admin {
    /// Answers one admin request.
    pub(crate) fn answer(&self, head: &RequestHead) -> Answer {
        match (&head.method, head.path()) {
            (&Method::GET, METRICS_PATH) => {
                Answer::own(StatusCode::OK, media::OPENMETRICS, self.metrics.render())
            }
            (&Method::GET, STATUS_PATH) => Answer::own(
                StatusCode::OK,
                media::JSON,
                status(&self.fronts).to_string(),
            ),
            _ => Answer::own(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                format!("the admin listener serves GET {METRICS_PATH} and GET {STATUS_PATH}"),
            ),
        }
    }
}

/// Every listener's upstreams and their health.
pub(crate) fn status(fronts: &[Front]) -> serde_json::Value {
    let listeners: Vec<_> = fronts
        .iter()
        .map(|front| {
            serde_json::json!({
                "listen": front.listen.to_string(),
                "role": front.role.as_str(),
                "upstreams": front.group.upstreams.iter().map(|u| u.status()).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "listeners": listeners })
}
