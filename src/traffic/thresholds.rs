//! The threshold grammar of `[thresholds] checks`: `metric[phase] op value`, parsed when the
//! plan is built so a typo fails before any traffic is sent. Evaluating checks against a run's
//! numbers is the load generator's business (`load::report::evaluate`).

/// A metric a threshold can check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Requests,
    Ok,
    Throttled,
    Refused,
    Failed,
    OkRatio,
    ThrottledRatio,
    RefusedRatio,
    FailedRatio,
    Messages,
    Unsent,
    Abandoned,
    GaveUp,
    Retries,
    AchievedRate,
    TargetRate,
    /// achieved_rate / target_rate.
    RateRatio,
    /// Latency of ok requests.
    P50Ms,
    P90Ms,
    P95Ms,
    P99Ms,
    P999Ms,
    MaxMs,
    MeanMs,
    /// Intended first send → final ok, p99.
    MessageP99Ms,
    WebhookBadSignatures,
    WebhookFailed,
    WebhookDelivered,
    DeliveredP50Ms,
    DeliveredP99Ms,
}

/// (name, metric, whole-run only). The names are the threshold vocabulary.
pub const METRICS: &[(&str, Metric, bool)] = &[
    ("requests", Metric::Requests, false),
    ("ok", Metric::Ok, false),
    ("throttled", Metric::Throttled, false),
    ("refused", Metric::Refused, false),
    ("failed", Metric::Failed, false),
    ("ok_ratio", Metric::OkRatio, false),
    ("throttled_ratio", Metric::ThrottledRatio, false),
    ("refused_ratio", Metric::RefusedRatio, false),
    ("failed_ratio", Metric::FailedRatio, false),
    ("messages", Metric::Messages, false),
    ("unsent", Metric::Unsent, false),
    ("abandoned", Metric::Abandoned, false),
    ("gave_up", Metric::GaveUp, false),
    ("retries", Metric::Retries, false),
    ("achieved_rate", Metric::AchievedRate, false),
    ("target_rate", Metric::TargetRate, false),
    ("rate_ratio", Metric::RateRatio, false),
    ("p50_ms", Metric::P50Ms, false),
    ("p90_ms", Metric::P90Ms, false),
    ("p95_ms", Metric::P95Ms, false),
    ("p99_ms", Metric::P99Ms, false),
    ("p999_ms", Metric::P999Ms, false),
    ("max_ms", Metric::MaxMs, false),
    ("mean_ms", Metric::MeanMs, false),
    ("message_p99_ms", Metric::MessageP99Ms, false),
    ("webhook_bad_signatures", Metric::WebhookBadSignatures, true),
    ("webhook_failed", Metric::WebhookFailed, true),
    ("webhook_delivered", Metric::WebhookDelivered, true),
    ("delivered_p50_ms", Metric::DeliveredP50Ms, true),
    ("delivered_p99_ms", Metric::DeliveredP99Ms, true),
];

impl Metric {
    /// Whether the metric is read from the embedded webhook receiver's counts.
    pub fn needs_webhooks(self) -> bool {
        matches!(
            self,
            Metric::WebhookBadSignatures
                | Metric::WebhookFailed
                | Metric::WebhookDelivered
                | Metric::DeliveredP50Ms
                | Metric::DeliveredP99Ms
        )
    }
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    /// Whether `a op b` holds.
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

/// A parsed threshold: `metric[phase] op value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub text: String,
    pub phase: Option<String>,
    pub metric: Metric,
    pub op: Op,
    pub value: f64,
}

/// Parses one check; the error says what is wrong, without the index.
pub fn parse_check(text: &str) -> Result<Check, String> {
    let t = text.trim();
    let known = || METRICS.iter().map(|m| m.0).collect::<Vec<_>>().join(", ");
    let op_at = t
        .find(['<', '>', '=', '!'])
        .ok_or_else(|| format!("{text:?}: expected `metric op number` with op one of < <= > >= == !=, e.g. \"p99_ms < 250\""))?;
    let (lhs, rest) = t.split_at(op_at);
    let (op, rhs) = if let Some(r) = rest.strip_prefix("<=") {
        (Op::Le, r)
    } else if let Some(r) = rest.strip_prefix(">=") {
        (Op::Ge, r)
    } else if let Some(r) = rest.strip_prefix("==") {
        (Op::Eq, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (Op::Ne, r)
    } else if let Some(r) = rest.strip_prefix('<') {
        (Op::Lt, r)
    } else if let Some(r) = rest.strip_prefix('>') {
        (Op::Gt, r)
    } else {
        return Err(format!("{text:?}: unknown operator (use < <= > >= == !=)"));
    };
    let lhs = lhs.trim();
    let (name, phase) = match lhs.find('[') {
        Some(i) => {
            let Some(inner) = lhs[i + 1..].strip_suffix(']') else {
                return Err(format!(
                    "{text:?}: `[` without a closing `]` after the phase name"
                ));
            };
            if inner.trim().is_empty() {
                return Err(format!("{text:?}: empty phase name in `[]`"));
            }
            (lhs[..i].trim(), Some(inner.trim().to_string()))
        }
        None => (lhs, None),
    };
    let Some(&(_, metric, whole_run)) = METRICS.iter().find(|m| m.0 == name) else {
        return Err(format!(
            "{text:?}: unknown metric {name:?} (known: {})",
            known()
        ));
    };
    if whole_run && phase.is_some() {
        return Err(format!(
            "{text:?}: {name} is measured for the whole run; remove `[..]`"
        ));
    }
    let rhs = rhs.trim();
    let value: f64 = rhs
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("{text:?}: {rhs:?} is not a number"))?;
    Ok(Check {
        text: t.to_string(),
        phase,
        metric,
        op,
        value,
    })
}

/// Parses all checks; the error carries the index of the bad one.
pub fn parse_checks(texts: &[String]) -> Result<Vec<Check>, (usize, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| parse_check(t).map_err(|e| (i, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_with_precise_errors() {
        let c = parse_check("p99_ms[steady] <= 250").unwrap();
        assert_eq!(c.metric, Metric::P99Ms);
        assert_eq!(c.phase.as_deref(), Some("steady"));
        assert_eq!(c.op, Op::Le);
        assert_eq!(c.value, 250.0);
        assert_eq!(parse_check("failed<1").unwrap().op, Op::Lt);
        assert!(parse_check("p98_ms < 1")
            .unwrap_err()
            .contains("unknown metric \"p98_ms\""));
        assert!(parse_check("p99_ms 250")
            .unwrap_err()
            .contains("expected `metric op number`"));
        assert!(parse_check("p99_ms < fast")
            .unwrap_err()
            .contains("\"fast\" is not a number"));
        assert!(parse_check("p99_ms[x < 1")
            .unwrap_err()
            .contains("without a closing"));
        assert!(parse_check("delivered_p99_ms[x] < 1")
            .unwrap_err()
            .contains("whole run"));
        assert!(parse_check("p99_ms =< 1")
            .unwrap_err()
            .contains("unknown operator"));
        let (i, _) = parse_checks(&["ok > 1".into(), "nope".into()]).unwrap_err();
        assert_eq!(i, 1);
    }
}
