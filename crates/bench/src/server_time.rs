//! Time spent inside the nodes' handlers, from their Prometheus `/metrics`.
//!
//! Comparing the client's latency with A's handler time and the recipients' `/push` handler
//! time splits a `/send` into its legs (driver and socket, A's own work, the push to a peer)
//! without instrumenting the node.

use cloister_harness::http::Request;
use cloister_harness::nodes::NodeDir;
use cloister_protocol::path;

/// The node's request-duration histogram (`crates/node/src/metrics.rs`).
const DURATION: &str = "cloister_http_request_duration_seconds";

/// One route's running totals: seconds spent and requests handled.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RouteTotals {
    /// Seconds spent in the handler, summed over requests.
    pub seconds: f64,
    /// Requests handled.
    pub count: u64,
}

impl RouteTotals {
    /// Reads `app`'s `route` totals from `node` (over ThirdParty, which serves the node-wide
    /// registry); zero when the route has not been called or the node does not answer.
    pub fn of(node: &NodeDir, app: &str, route: &str) -> Self {
        Request::new("GET", path::METRICS)
            .try_send(&node.third_party_target(), None)
            .ok()
            .filter(|response| response.status == 200)
            .map(|response| parse(&response.text(), app, route))
            .unwrap_or_default()
    }

    /// These totals plus `other`'s.
    pub fn plus(self, other: Self) -> Self {
        Self {
            seconds: self.seconds + other.seconds,
            count: self.count + other.count,
        }
    }

    /// Mean handler time in seconds since `earlier`; `None` without requests in between.
    pub fn mean_since(&self, earlier: &Self) -> Option<f64> {
        let count = self.count.checked_sub(earlier.count)?;
        (count > 0).then(|| (self.seconds - earlier.seconds) / count as f64)
    }
}

fn parse(text: &str, app: &str, route: &str) -> RouteTotals {
    let labels = format!("{{app=\"{app}\",route=\"{route}\"}}");
    let value = |suffix: &str| {
        let name = format!("{DURATION}_{suffix}{labels}");
        text.lines()
            .find_map(|line| line.strip_prefix(name.as_str()))
            .and_then(|rest| rest.trim().parse::<f64>().ok())
    };
    RouteTotals {
        seconds: value("sum").unwrap_or_default(),
        count: value("count").map_or(0, |c| c as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_routes_sum_and_count() {
        let text = "\
cloister_http_request_duration_seconds_sum{app=\"Q2T\",route=\"/send\"} 58.5\n\
cloister_http_request_duration_seconds_count{app=\"Q2T\",route=\"/send\"} 9132\n\
cloister_http_request_duration_seconds_count{app=\"P2P\",route=\"/push\"} 7\n";
        let send = parse(text, "Q2T", "/send");
        assert_eq!(
            send,
            RouteTotals {
                seconds: 58.5,
                count: 9132
            }
        );
        assert_eq!(parse(text, "Q2T", "/nothing"), RouteTotals::default());
        let later = RouteTotals {
            seconds: 60.5,
            count: 9134,
        };
        assert_eq!(later.mean_since(&send), Some(1.0));
        assert_eq!(send.mean_since(&send), None);
    }
}
