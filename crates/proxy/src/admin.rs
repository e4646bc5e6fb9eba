//! The admin listener: `GET /metrics` (Prometheus) and `GET /status` (every listener's
//! upstreams and their health, as JSON), on a listener of its own so no Tessera path is
//! shadowed.

use std::sync::Arc;

use cloister_addr::Endpoint;
use cloister_protocol::path::{METRICS as METRICS_PATH, STATUS as STATUS_PATH};
use cloister_protocol::{exposition, media};
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
    /// Its hedging, when enabled.
    pub(crate) hedge: Option<Arc<crate::hedge::Hedging>>,
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
                // OpenMetrics, or Prometheus's text format to a client asking for `text/plain`.
                let (content_type, body) =
                    exposition::answer(accept_fields(&head.fields), self.metrics.render());
                Answer::own(StatusCode::OK, content_type, body)
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

/// The values of the `Accept` fields among a head's raw field lines.
fn accept_fields(fields: &[u8]) -> impl Iterator<Item = &str> {
    fields.split(|&b| b == b'\n').filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("accept")
            .then(|| value.trim())
    })
}

/// Every listener's upstreams and their health.
pub(crate) fn status(fronts: &[Front]) -> serde_json::Value {
    let listeners: Vec<_> = fronts
        .iter()
        .map(|front| {
            let mut listener = serde_json::json!({
                "listen": front.listen.to_string(),
                "role": front.role.as_str(),
                "upstreams": front.group.upstreams.iter().map(|u| u.status()).collect::<Vec<_>>(),
            });
            if let Some(hedge) = &front.hedge {
                listener["hedge"] = hedge.status();
            }
            listener
        })
        .collect();
    serde_json::json!({ "listeners": listeners })
}
