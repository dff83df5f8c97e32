//! A run report in the forms CI systems read: JUnit XML (one test case per threshold) and a
//! Markdown summary for a job page (GitHub's `$GITHUB_STEP_SUMMARY`, GitLab's and Jenkins'
//! Markdown panels).
//!
//! Both are views of the same [`Report`]: they say nothing the JSON does not, and the verdict
//! they show is [`Report::exit_code`]'s, so a CI page never disagrees with the exit status.

use super::report::{exit_code, PhaseReport, Report};
use crate::engine::errors::ErrorCode;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// A code as the report keys it (`130429`, `http_500`, `timeout`) with Meta's name when it is
/// a Graph code wabasim knows: `130429 Rate limit hit`.
pub fn code_label(key: &str) -> String {
    match key.parse::<u32>().ok().and_then(ErrorCode::from_code) {
        Some(code) => format!("{key} {}", code.title()),
        None => key.to_string(),
    }
}

/// `130429 Rate limit hit ×206, 131047 Re-engagement message ×205`.
pub fn codes_line(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{} ×{v}", code_label(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verdict in one word, as the exit code decides it.
fn verdict(r: &Report) -> &'static str {
    match r.exit_code() {
        exit_code::OK => "PASS",
        exit_code::INTERRUPTED => "INTERRUPTED",
        exit_code::TARGET_UNHEALTHY => "UNHEALTHY",
        _ => "FAIL",
    }
}

fn actual_text(a: Option<f64>) -> String {
    a.map_or_else(|| "no data".to_string(), |v| format!("{v:.4}"))
}

/// JUnit XML: a suite `wabasim run` with one case per threshold (`failure` with the actual
/// value when it failed, `skipped` with the reason when it had no source), plus one case for
/// the run itself (an `error` when it was interrupted) and, without thresholds, one for the
/// target's health (the check that decides the exit code then). The terminal summary goes in
/// the suite's `system-out`.
pub fn junit(r: &Report, summary: &str) -> String {
    let mut suite = TestSuite::new("wabasim run");
    suite.set_time(Duration::from_secs_f64(r.elapsed_ms.max(0.0) / 1000.0));
    let mut completed = TestCaseStatus::success();
    if r.stop_reason == "interrupted" {
        completed = TestCaseStatus::non_success(NonSuccessKind::Error);
        completed.set_message("the run was interrupted: the report is partial");
    }
    suite.add_test_case(case("run completed", completed));
    for t in &r.thresholds {
        let status = if let Some(reason) = &t.skipped {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason.clone());
            s
        } else if t.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{}: actual {}", t.check, actual_text(t.actual)));
            s
        };
        suite.add_test_case(case(&t.check, status));
    }
    if r.thresholds.is_empty() {
        let status = match r.unhealthy() {
            None => TestCaseStatus::success(),
            Some(why) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(why);
                s
            }
        };
        suite.add_test_case(case("target healthy", status));
    }
    suite.set_system_out(summary);
    let mut report = quick_junit::Report::new("wabasim");
    report.add_test_suite(suite);
    // Serialising plain strings into a Vec cannot fail.
    report.to_string().unwrap_or_default()
}

fn case(name: &str, status: TestCaseStatus) -> TestCase {
    let mut c = TestCase::new(name, status);
    c.set_classname("wabasim.thresholds");
    c
}

/// Escapes what Markdown table cells and inline text would otherwise read as syntax.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A Markdown summary: the verdict, the phase table with accepted sends and latency, the
/// thresholds, the codes by phase, webhooks and cost.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let passed = r.thresholds.iter().filter(|t| t.passed).count();
    let skipped = r.thresholds.iter().filter(|t| t.skipped.is_some()).count();
    let _ = write!(s, "## wabasim run: {}", verdict(r));
    if !r.thresholds.is_empty() {
        let _ = write!(s, " ({passed} of {} thresholds passed", r.thresholds.len());
        if skipped > 0 {
            let _ = write!(s, ", {skipped} skipped");
        }
        s.push(')');
    }
    let _ = writeln!(
        s,
        "\n\nseed {} · {:.1} s · stop reason `{}` · report schema {}\n",
        r.seed,
        r.elapsed_ms / 1000.0,
        r.stop_reason,
        r.schema_version
    );
    if let Some(why) = r.unhealthy() {
        let _ = writeln!(s, "**Target unhealthy:** {}\n", md(&why));
    }
    s.push_str(
        "| phase | model | target/s | achieved/s | requests | accepted | inbound | throttled | \
         refused | failed | p50 ms | p99 ms |\n",
    );
    s.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    let rows = r
        .phases
        .iter()
        .map(|p| (p.name.clone(), p))
        .chain(r.streams.iter().map(|p| (format!("[{}]", p.name), p)))
        .chain(std::iter::once(("**total**".to_string(), &r.total)));
    for (name, p) in rows {
        let _ = writeln!(s, "{}", phase_row(&md(&name), p));
    }
    if !r.thresholds.is_empty() {
        s.push_str("\n| result | threshold | actual |\n|---|---|--:|\n");
        for t in &r.thresholds {
            let result = match (&t.skipped, t.passed) {
                (Some(_), _) => "⏭️ SKIP",
                (None, true) => "✅ PASS",
                (None, false) => "❌ FAIL",
            };
            let actual = match &t.skipped {
                Some(reason) => md(reason),
                None => actual_text(t.actual),
            };
            let _ = writeln!(s, "| {result} | `{}` | {actual} |", md(&t.check));
        }
    }
    let mut details = Vec::new();
    for p in &r.phases {
        let c = &p.codes;
        for (class, map) in [
            ("throttled", &c.throttled),
            ("refused", &c.refused),
            ("failed", &c.failed),
        ] {
            if !map.is_empty() {
                details.push(format!("- {} {class}: {}", md(&p.name), codes_line(map)));
            }
        }
        if p.retries.total > 0 {
            details.push(format!(
                "- {} retries: {} requests retried; {} messages accepted after a retry, {} gave up",
                md(&p.name),
                p.retries.total,
                p.retries.recovered,
                p.retries.gave_up
            ));
        }
    }
    if let Some(w) = &r.webhooks {
        let statuses = w
            .statuses
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        details.push(format!(
            "- webhooks: {} posts ({statuses}; inbound {}), bad signatures {}, malformed {}",
            w.posts, w.inbound_messages, w.bad_signature, w.malformed
        ));
        if !w.failed_codes.is_empty() {
            details.push(format!(
                "- failed statuses: {}",
                codes_line(&w.failed_codes)
            ));
        }
    }
    if let Some(cost) = r.server.as_ref().and_then(|sv| sv.cost.as_ref()) {
        for (currency, t) in &cost.by_currency {
            details.push(format!(
                "- cost: {} messages priced (free ones at 0), platform {} {currency}, BSP price {} {currency}",
                t.messages,
                t.amount.format(2),
                t.bsp_price.format(2)
            ));
        }
    }
    if !details.is_empty() {
        s.push('\n');
        for d in details {
            s.push_str(&d);
            s.push('\n');
        }
    }
    s
}

fn phase_row(name: &str, p: &PhaseReport) -> String {
    let target = p
        .target_rate
        .map_or_else(|| "–".to_string(), |t| format!("{t:.1}"));
    let q = &p.requests;
    format!(
        "| {name} | {} | {target} | {:.1} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} |",
        p.model,
        p.achieved_rate,
        q.total,
        q.ok - p.inbound.min(q.ok),
        p.inbound,
        q.throttled,
        q.refused,
        q.failed,
        p.latency.ok.p50_ms,
        p.latency.ok.p99_ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::report::ThresholdResult;

    fn threshold(check: &str, actual: Option<f64>, passed: bool, skip: bool) -> ThresholdResult {
        ThresholdResult {
            check: check.into(),
            actual,
            passed,
            skipped: skip.then(|| "phase \"late\" never started".into()),
        }
    }

    fn report() -> Report {
        let mut r = crate::load::report::tests::sample_report();
        r.thresholds = vec![
            threshold("p99_ms < 250", Some(4.4), true, false),
            threshold("failed < 1", Some(3.0), false, false),
            threshold("rate_ratio[late] >= 0.95", None, false, true),
        ];
        r
    }

    #[test]
    fn codes_carry_meta_names_when_known() {
        assert_eq!(code_label("130429"), "130429 Rate limit hit");
        assert_eq!(code_label("http_500"), "http_500");
        assert_eq!(code_label("999999"), "999999");
    }

    #[test]
    fn junit_has_a_case_per_threshold_with_failures_and_skips() {
        let xml = junit(&report(), "summary <text> & more");
        assert!(xml.contains(r#"tests="4""#), "{xml}");
        assert!(xml.contains(r#"failures="1""#), "{xml}");
        assert!(xml.contains(r#"disabled="1""#), "{xml}");
        assert!(xml.contains("<skipped message=\"phase"), "{xml}");
        assert!(xml.contains("failed &lt; 1: actual 3.0000"), "{xml}");
        assert!(xml.contains("summary &lt;text&gt; &amp; more"), "{xml}");
        // With thresholds, health is not a case: thresholds decide the exit code.
        assert!(!xml.contains("target healthy"), "{xml}");
    }

    #[test]
    fn junit_without_thresholds_judges_the_target() {
        let mut r = report();
        r.thresholds.clear();
        r.total.requests.ok = 0;
        let xml = junit(&r, "");
        assert!(xml.contains(r#"<testcase name="target healthy""#), "{xml}");
        assert!(xml.contains("succeeded"), "{xml}");
        r.stop_reason = "interrupted".into();
        let xml = junit(&r, "");
        assert!(xml.contains(r#"errors="1""#), "{xml}");
    }

    #[test]
    fn markdown_says_the_exit_codes_verdict() {
        let md = markdown(&report());
        assert!(
            md.starts_with("## wabasim run: FAIL (1 of 3 thresholds passed, 1 skipped)"),
            "{md}"
        );
        assert!(md.contains("| ❌ FAIL | `failed < 1` | 3.0000 |"), "{md}");
        assert!(md.contains("| ⏭️ SKIP |"), "{md}");
        let mut ok = report();
        ok.thresholds.truncate(1);
        assert!(markdown(&ok).starts_with("## wabasim run: PASS (1 of 1"));
    }
}
