//! The two text formats Prometheus reads `/metrics` in, chosen by the
//! scraper's `Accept` header.
//!
//! prometheus-client writes OpenMetrics 1.0, where a counter family is named
//! without `_total` in its `# TYPE` line and the text ends with `# EOF`.
//! A scraper that asks for (or falls back to) the classic text format 0.0.4
//! would then see `foo_total` samples with no type: counters read as
//! untyped, and rate() alerts built on them misfire. So the classic reading
//! is derived from the OpenMetrics text rather than trusted to coincide.

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// True when the request's `Accept` header names OpenMetrics (Prometheus
/// sends it first by default); anything else gets the classic format.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            let mut it = part.split(';');
            let media = it.next().unwrap_or("").trim();
            let refused = it.any(|p| {
                let p = p.trim();
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        })
    })
}

/// Rewrites OpenMetrics text as the classic text format: counter families
/// take their samples' `_total` name in `# HELP`/`# TYPE`, and the
/// OpenMetrics-only `# UNIT` and `# EOF` lines go.
pub fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| {
            let mut it = rest.split(' ');
            let name = it.next()?;
            (it.next() == Some("counter")).then_some(name)
        })
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(l.trim_end()),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OM: &str = "# HELP silin_hub_syncs Syncs.\n# TYPE silin_hub_syncs counter\nsilin_hub_syncs_total 3\n# HELP silin_hub_open Open.\n# TYPE silin_hub_open gauge\nsilin_hub_open 1\n# EOF\n";

    #[test]
    fn counters_carry_their_total_name_in_the_classic_format() {
        let c = classic(OM);
        assert!(c.contains("# TYPE silin_hub_syncs_total counter\n"), "{c}");
        assert!(c.contains("# HELP silin_hub_syncs_total Syncs.\n"), "{c}");
        assert!(c.contains("# TYPE silin_hub_open gauge\n"), "{c}");
        assert!(!c.contains("# EOF"), "{c}");
    }

    #[test]
    fn accept_header_picks_the_format() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(!wants_openmetrics(None));
    }
}
