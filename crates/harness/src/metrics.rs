//! Reading a `/metrics` page (Prometheus text or OpenMetrics) the way a test asks of it.

/// The sum of every sample of `series` in `text` whose line names each of `labels` (for
/// example `outcome="won"`): a counter summed over the labels not named, 0 when none match.
pub fn sum(text: &str, series: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(series) && labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::sum;

    #[test]
    fn samples_of_the_series_with_every_label_are_summed() {
        let text = "# TYPE hedges counter\n\
                    hedges_total{listener=\"a\",outcome=\"won\"} 2\n\
                    hedges_total{listener=\"b\",outcome=\"won\"} 3\n\
                    hedges_total{listener=\"a\",outcome=\"lost\"} 7\n\
                    retries_total{outcome=\"won\"} 11\n";
        assert_eq!(sum(text, "hedges_total", &["outcome=\"won\""]), 5.0);
        assert_eq!(sum(text, "hedges_total", &[]), 12.0);
        assert_eq!(
            sum(
                text,
                "hedges_total",
                &["outcome=\"lost\"", "listener=\"b\""]
            ),
            0.0
        );
    }
}
