//! The two text formats `/metrics` speaks. prometheus-client renders OpenMetrics 1.0.0, which
//! Prometheus asks for first and every part serves by default. Prometheus's older text format
//! (0.0.4) is what `promtool check metrics` and other text-format readers parse: read as that
//! format, OpenMetrics's counter families (named without their samples' `_total`) look like
//! families without help text. A scraper that asks for `text/plain` and not for OpenMetrics gets
//! the older format, from the same rendering.

/// Whether a request's `Accept` fields ask for Prometheus's text format rather than OpenMetrics:
/// they name `text/plain` and do not name OpenMetrics, each with a non-zero `q`. No `Accept`,
/// or `*/*`, keeps OpenMetrics, what `/metrics` always served.
pub fn wants_prometheus_text<'a>(accept: impl IntoIterator<Item = &'a str>) -> bool {
    let mut text = false;
    for range in accept.into_iter().flat_map(|field| field.split(',')) {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        if essence.eq_ignore_ascii_case("application/openmetrics-text") {
            return false;
        }
        text |= essence.eq_ignore_ascii_case("text/plain");
    }
    text
}

/// The `Content-Type` and body `/metrics` answers a request with `Accept` fields `accept`,
/// from prometheus-client's OpenMetrics rendering: one rule for the node, the proxy and the
/// gateway.
pub fn answer<'a>(
    accept: impl IntoIterator<Item = &'a str>,
    openmetrics: String,
) -> (&'static str, String) {
    if wants_prometheus_text(accept) {
        (crate::media::PROMETHEUS_TEXT, prometheus_text(&openmetrics))
    } else {
        (crate::media::OPENMETRICS, openmetrics)
    }
}

/// Rewrites OpenMetrics text as Prometheus text format 0.0.4: a counter's `# HELP` and
/// `# TYPE` name the family with the `_total` its samples carry, `unknown` is `untyped`,
/// `# UNIT` and `# EOF` go, and help text unescapes `\"` (an escape only OpenMetrics has).
/// Samples are the same in both formats and are copied as they are.
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("# TYPE ")?.split(' ');
            let name = words.next()?;
            (words.next()? == "counter").then_some(name)
        })
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        let Some((prefix, rest)) = descriptor else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        out.push_str(prefix);
        out.push_str(name);
        if counters.contains(&name) {
            out.push_str("_total");
        }
        out.push(' ');
        match prefix {
            "# HELP " => out.push_str(&tail.replace("\\\"", "\"")),
            _ if tail == "unknown" => out.push_str("untyped"),
            _ => out.push_str(tail),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_asks_for_openmetrics_and_promtool_style_readers_for_text() {
        // What Prometheus 2.42 sends.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(!wants_prometheus_text([prometheus]));
        assert!(wants_prometheus_text(["text/plain"]));
        assert!(wants_prometheus_text([
            "text/plain;version=0.0.4, application/openmetrics-text;q=0"
        ]));
        assert!(!wants_prometheus_text([
            "text/plain",
            "application/openmetrics-text"
        ]));
        assert!(!wants_prometheus_text(["*/*"]));
        assert!(!wants_prometheus_text([]));
        assert!(!wants_prometheus_text(["text/plain;q=0"]));
    }

    #[test]
    fn counters_are_named_with_their_total_and_the_end_marker_goes() {
        let openmetrics = "# HELP a_requests Requests \\\"answered\\\".\n# TYPE a_requests counter\na_requests_total{x=\"1\"} 2\n# HELP a_up 1 when up.\n# TYPE a_up gauge\na_up 1\n# TYPE a_x unknown\na_x 3\n# EOF\n";
        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP a_requests_total Requests \"answered\".\n# TYPE a_requests_total counter\na_requests_total{x=\"1\"} 2\n# HELP a_up 1 when up.\n# TYPE a_up gauge\na_up 1\n# TYPE a_x untyped\na_x 3\n"
        );
    }
}
