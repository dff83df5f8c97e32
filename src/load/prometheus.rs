//! The load generator's own Prometheus endpoint (`wabasim run --metrics-listen ADDR`): the
//! latest live sample as counters (requests by class, codes) and gauges (rates, latency of the
//! last second), for a Prometheus that scrapes the generator while it runs.

use super::live::{LiveSample, LiveSamples};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The Prometheus text exposition of `s` (nothing but the HELP/TYPE lines before the first
/// sample).
pub fn render(s: Option<&LiveSample>) -> String {
    let mut o = String::with_capacity(2048);
    o.push_str(
        "# HELP wabasim_load_requests_total Requests completed by the generator, by class.\n",
    );
    o.push_str("# TYPE wabasim_load_requests_total counter\n");
    if let Some(s) = s {
        let r = &s.requests;
        for (class, n) in [
            ("ok", r.ok),
            ("throttled", r.throttled),
            ("refused", r.refused),
            ("failed", r.failed),
        ] {
            let _ = writeln!(o, "wabasim_load_requests_total{{class=\"{class}\"}} {n}");
        }
    }
    o.push_str(
        "# HELP wabasim_load_inbound_total Ok requests that simulated a user writing in, not sends.\n",
    );
    o.push_str("# TYPE wabasim_load_inbound_total counter\n");
    if let Some(s) = s {
        let _ = writeln!(o, "wabasim_load_inbound_total {}", s.inbound);
    }
    o.push_str("# HELP wabasim_load_blocked_total Ok requests that blocked a user, not sends.\n");
    o.push_str("# TYPE wabasim_load_blocked_total counter\n");
    if let Some(s) = s {
        let _ = writeln!(o, "wabasim_load_blocked_total {}", s.blocked);
    }
    o.push_str("# HELP wabasim_load_codes_total Requests not ok, by class and code.\n");
    o.push_str("# TYPE wabasim_load_codes_total counter\n");
    for c in s.iter().flat_map(|s| &s.codes) {
        let _ = writeln!(
            o,
            "wabasim_load_codes_total{{class=\"{}\",code=\"{}\"}} {}",
            c.class,
            c.code.replace(['"', '\\', '\n'], "_"),
            c.count
        );
    }
    let gauges: [(&str, &str, Option<f64>); 5] = [
        (
            "wabasim_load_target_rate",
            "Messages per second the plan asks for now.",
            s.and_then(|s| s.target_rate),
        ),
        (
            "wabasim_load_achieved_rate",
            "First sends per second over the last interval.",
            s.map(|s| s.achieved_rate),
        ),
        (
            "wabasim_load_latency_p50_ms",
            "Median latency of the requests completed in the last interval, ms.",
            s.and_then(|s| s.p50_ms),
        ),
        (
            "wabasim_load_latency_p90_ms",
            "90th percentile latency of the last interval, ms.",
            s.and_then(|s| s.p90_ms),
        ),
        (
            "wabasim_load_latency_p99_ms",
            "99th percentile latency of the last interval, ms.",
            s.and_then(|s| s.p99_ms),
        ),
    ];
    for (name, help, v) in gauges {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge");
        if let Some(v) = v {
            let _ = writeln!(o, "{name} {v}");
        }
    }
    o
}

/// Serves `GET /metrics` on `listener` from `live` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, live: Arc<LiveSamples>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let live = live.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let live = live.clone();
                async move {
                    let resp = if req.uri().path() == "/metrics" {
                        let body = render(live.latest().as_ref());
                        Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(Full::new(Bytes::from(body)))
                    } else {
                        Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"only /metrics here\n")))
                    };
                    Ok::<_, std::convert::Infallible>(resp.unwrap_or_default())
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .header_read_timeout(std::time::Duration::from_secs(10))
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(TokioIo::new(sock), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::live::{ClassCounts, CodeCount};

    #[test]
    fn counters_and_gauges_of_the_latest_sample() {
        assert!(!render(None).contains("wabasim_load_requests_total{"));
        let s = LiveSample {
            seq: 3,
            t_s: 3.0,
            phase: "steady".into(),
            target_rate: Some(50.0),
            achieved_rate: 49.5,
            p50_ms: Some(2.5),
            p90_ms: Some(3.0),
            p99_ms: None,
            requests: ClassCounts {
                ok: 140,
                throttled: 7,
                refused: 2,
                failed: 0,
            },
            inbound: 40,
            blocked: 3,
            codes: vec![CodeCount {
                class: "throttled",
                code: "130429".into(),
                name: Some("Rate limit hit"),
                count: 7,
            }],
        };
        let text = render(Some(&s));
        assert!(text.contains("wabasim_load_requests_total{class=\"ok\"} 140"));
        assert!(text.contains("\nwabasim_load_inbound_total 40\n"));
        assert!(text.contains("\nwabasim_load_blocked_total 3\n"));
        assert!(text.contains("wabasim_load_codes_total{class=\"throttled\",code=\"130429\"} 7"));
        assert!(text.contains("wabasim_load_achieved_rate 49.5"));
        assert!(
            !text.contains("\nwabasim_load_latency_p99_ms "),
            "no value, no line"
        );
    }
}
