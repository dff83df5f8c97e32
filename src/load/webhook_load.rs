//! The reverse load test: Meta-shaped, signed webhooks sent to a BSP's own receiver at the rate
//! a messaging load would produce (three statuses per outgoing message, sent → delivered →
//! read, plus one per inbound message), with concurrent deliveries as Meta makes them and
//! optional duplicates and out-of-order statuses; the receiver's latency measured with an HDR
//! histogram from each webhook's intended send time, and judged against Meta's targets (median
//! at or under 250 ms, under 1 % over 1 s; `reference/cloud-api.md` §3).
//!
//! Payloads come from [`crate::webhooks::payload`] and signatures from
//! [`crate::webhooks::signer`], the mock server's own, so the receiver sees what the mock (and
//! Meta) would send.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Uri;
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::sync::Semaphore;

use crate::clock::SimTime;
use crate::engine::events::{
    Billing, DeliveryStatus, DisplayNumber, Event, EventBody, MessageInfo, PhoneMeta, Wamid,
};
use crate::engine::ids::{PhoneNumberId, WaId, WabaId};
use crate::load::http::Conn;
use crate::load::metrics::{new_hist, record};
use crate::load::report::{exit_code, Hist, ThresholdResult};
use crate::pricing::{Category, ConversationId, PricingType};

/// Meta's targets for a webhook receiver.
pub const TARGET_P50_MS: f64 = 250.0;
/// Share of deliveries allowed over [`SLOW_MS`].
pub const TARGET_SLOW_RATIO: f64 = 0.01;
pub const SLOW_MS: u64 = 1000;

/// What to send, validated.
#[derive(Clone, Debug)]
pub struct WebhookLoad {
    /// `http://host:port/path` of the receiver.
    pub url: String,
    pub app_secret: String,
    /// Outgoing messages per second whose statuses are sent (3 webhooks each).
    pub rate: f64,
    /// Inbound user messages per second (1 webhook each).
    pub inbound_rate: f64,
    pub duration: Duration,
    /// Deliveries in flight at once at most.
    pub concurrency: usize,
    /// Probability that a webhook is delivered a second time (Meta retries and duplicates).
    pub duplicates: f64,
    /// Probability that a message's `read` comes before its `delivered`.
    pub out_of_order: f64,
    pub timeout: Duration,
    pub api_version: String,
    pub seed: u64,
}

/// The report of a webhook load run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookLoadReport {
    pub schema_version: u32,
    pub kind: String,
    pub url: String,
    pub elapsed_ms: f64,
    pub interrupted: bool,
    /// Webhooks intended (statuses, inbound and duplicates) and POSTs completed.
    pub intended: u64,
    pub posts: u64,
    /// By kind: sent, delivered, read, inbound, duplicate.
    pub by_kind: BTreeMap<String, u64>,
    /// Answers: 2xx.
    pub ok: u64,
    /// Everything else, by `http_<status>`, `timeout` or `connection`.
    pub failed: BTreeMap<String, u64>,
    /// Intended send → response, every answered POST (2xx or not).
    pub latency: Hist,
    /// POSTs over 1 s (or not answered).
    pub slow: u64,
    pub slow_ratio: f64,
    /// Meta's targets, judged.
    pub targets: Vec<ThresholdResult>,
}

impl WebhookLoadReport {
    /// 130 interrupted, 1 a target missed, 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            exit_code::INTERRUPTED
        } else if self.targets.iter().any(|t| !t.passed) {
            exit_code::THRESHOLDS_FAILED
        } else {
            exit_code::OK
        }
    }

    /// A terminal summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "webhook load on {}\n{} POSTs in {:.1} s, {} answered 2xx: {}\n",
            self.url,
            self.posts,
            self.elapsed_ms / 1000.0,
            self.ok,
            self.by_kind
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        if !self.failed.is_empty() {
            s.push_str(&format!(
                "failed: {}\n",
                self.failed
                    .iter()
                    .map(|(k, v)| format!("{k}×{v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        s.push_str(&format!(
            "latency from intended send: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; over 1 s: {} ({:.2} %)\n",
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.max_ms,
            self.slow,
            self.slow_ratio * 100.0
        ));
        s.push_str("Meta's targets:\n");
        for t in &self.targets {
            s.push_str(&format!(
                "  {} {}  (actual {})\n",
                if t.passed { "PASS" } else { "FAIL" },
                t.check,
                t.actual.map_or("no data".into(), |a| format!("{a:.4}"))
            ));
        }
        s
    }
}

/// One webhook to send: its intended instant (µs since the start) and what it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: u64,
    /// Message number (statuses) or inbound number.
    n: u64,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Sent,
    Delivered,
    Read,
    Inbound,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sent => "sent",
            Kind::Delivered => "delivered",
            Kind::Read => "read",
            Kind::Inbound => "inbound",
        }
    }
}

/// How long after the send a message is delivered and read (simulated user behaviour, fixed so
/// the rate of webhooks is exactly 3× the message rate once the ladder is full).
const DELIVERED_AFTER_US: u64 = 200_000;
const READ_AFTER_US: u64 = 1_000_000;

const WABA: WabaId = WabaId(102290129340398);
const PHONE: PhoneNumberId = PhoneNumberId(106540352242922);
const FIRST_USER: u64 = 6281300000000;

/// The user as the webhooks name them: the BSUID a business of this load test would see.
fn user_ref(user: WaId) -> crate::engine::events::UserRef {
    let id = crate::engine::bsuid::user_id(1, crate::engine::ids::BusinessId(1), user, 0);
    crate::engine::events::UserRef::plain(id)
}

/// The webhook body of `due` (a one-event envelope, as Meta sends at low volume).
fn body(due: &Due, api_version: &str, unix_s: u64) -> Vec<u8> {
    let at = SimTime::from_secs(unix_s);
    let phone = PhoneMeta {
        id: PHONE,
        display: DisplayNumber::parse("6281200000001").unwrap_or_else(|| {
            DisplayNumber::parse("15550000001").expect("a constant display number parses")
        }),
    };
    let user = WaId(FIRST_USER + due.n % 1_000_000);
    let body = match due.kind {
        Kind::Inbound => EventBody::Inbound {
            phone,
            from: user,
            profile_name: "Load Test".into(),
            wamid: Wamid {
                user,
                seq: due.n,
                tag: 1,
                inbound: true,
            },
            text: format!("halo {}", due.n),
            identity_key_hash: None,
            user: user_ref(user),
            media: None,
        },
        k => EventBody::Status {
            info: MessageInfo {
                wamid: Wamid {
                    user,
                    seq: due.n,
                    tag: 1,
                    inbound: false,
                },
                phone,
                billing: Billing::pmp(
                    Category::Utility,
                    PricingType::Regular,
                    true,
                    ConversationId(due.n, 0x5eed),
                    SimTime::from_secs(unix_s + 86_400),
                ),
                template: None,
                feedback_category: crate::engine::reactions::FeedbackCategory::Service,
                biz_opaque_callback_data: None,
                sent_at: at,
                recipient_identity_key_hash: None,
                user: user_ref(user),
            },
            status: match k {
                Kind::Sent => DeliveryStatus::Sent,
                Kind::Delivered => DeliveryStatus::Delivered,
                _ => DeliveryStatus::Read,
            },
            error: None,
        },
    };
    let ev = Event {
        at,
        waba: WABA,
        body,
    };
    serde_json::to_vec(&crate::webhooks::payload::envelope(&[ev], api_version)).unwrap_or_default()
}

struct Counts {
    hist: hdrhistogram::Histogram<u64>,
    posts: u64,
    ok: u64,
    slow: u64,
    failed: BTreeMap<String, u64>,
}

/// Runs the load until its duration has passed (or `shutdown`), then waits up to the timeout
/// for deliveries in flight. `Err` when the URL is not usable or nothing listens there.
pub async fn run(load: &WebhookLoad, shutdown: impl Future) -> Result<WebhookLoadReport, String> {
    let uri: Uri = load
        .url
        .parse()
        .map_err(|e| format!("--url {:?}: not a URL: {e}", load.url))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("--url {:?}: only http:// receivers", load.url));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("--url {:?}: no host:port", load.url))?
        .clone();
    let addr = match authority.port() {
        Some(_) => authority.to_string(),
        None => format!("{}:80", authority.host()),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let first = Conn::connect(&addr)
        .await
        .map_err(|e| format!("cannot connect to the receiver at {addr}: {e}"))?;
    let pool = Arc::new(Mutex::new(vec![first]));
    let permits = Arc::new(Semaphore::new(load.concurrency));
    let counts = Arc::new(Mutex::new(Counts {
        hist: new_hist(),
        posts: 0,
        ok: 0,
        slow: 0,
        failed: BTreeMap::new(),
    }));
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut rng = Pcg64Mcg::seed_from_u64(load.seed);
    let end_us = load.duration.as_micros() as u64;
    // Next message and inbound arrival, evenly spaced; their statuses wait in `due`.
    let step = |rate: f64| (rate > 0.0).then(|| (1e6 / rate).max(1.0));
    let (msg_step, in_step) = (step(load.rate), step(load.inbound_rate));
    let (mut msg_n, mut in_n) = (0u64, 0u64);
    let mut due: BinaryHeap<Reverse<(Due, bool)>> = BinaryHeap::new();
    let t0 = Instant::now();
    let unix0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    let mut interrupted = false;
    let mut intended = 0u64;
    loop {
        // Refill: every arrival up to the next due instant joins the queue.
        let horizon = due.peek().map_or(u64::MAX, |Reverse((d, _))| d.at);
        let next_msg = msg_step
            .map(|s| (msg_n as f64 * s) as u64)
            .filter(|t| *t < end_us);
        let next_in = in_step
            .map(|s| (in_n as f64 * s) as u64)
            .filter(|t| *t < end_us);
        match (next_msg, next_in) {
            (Some(t), _) if t <= horizon && next_in.is_none_or(|i| t <= i) => {
                let swap = rng.gen::<f64>() < load.out_of_order;
                let (d, r) = if swap {
                    (READ_AFTER_US, DELIVERED_AFTER_US)
                } else {
                    (DELIVERED_AFTER_US, READ_AFTER_US)
                };
                for (at, kind) in [
                    (t, Kind::Sent),
                    (t + d, Kind::Delivered),
                    (t + r, Kind::Read),
                ] {
                    due.push(Reverse((Due { at, n: msg_n, kind }, false)));
                }
                msg_n += 1;
                continue;
            }
            (_, Some(t)) if t <= horizon => {
                due.push(Reverse((
                    Due {
                        at: t,
                        n: in_n,
                        kind: Kind::Inbound,
                    },
                    false,
                )));
                in_n += 1;
                continue;
            }
            _ => {}
        }
        let Some(Reverse((d, duplicate))) = due.pop() else {
            break;
        };
        let wake = tokio::time::Instant::from_std(t0 + Duration::from_micros(d.at));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = &mut shutdown => { interrupted = true; break; }
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => { interrupted = true; break; }
        };
        intended += 1;
        *by_kind
            .entry(
                if duplicate {
                    "duplicate"
                } else {
                    d.kind.name()
                }
                .to_string(),
            )
            .or_default() += 1;
        if !duplicate && rng.gen::<f64>() < load.duplicates {
            // Delivered again a little later, as Meta's at-least-once delivery does.
            let again = Due {
                at: d.at + 50_000,
                ..d
            };
            due.push(Reverse((again, true)));
        }
        let payload = body(&d, &load.api_version, unix0 + d.at / 1_000_000);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nX-Hub-Signature-256: {}\r\n",
            crate::webhooks::signer::signature(&load.app_secret, &payload)
        );
        let (pool, counts, addr, timeout) =
            (pool.clone(), counts.clone(), addr.clone(), load.timeout);
        let intended_at = t0 + Duration::from_micros(d.at);
        tasks.spawn(async move {
            let _permit = permit;
            let conn = pool.lock().pop();
            let work = async {
                let mut c = match conn {
                    Some(c) => c,
                    None => Conn::connect(&addr)
                        .await
                        .map_err(|_| "connection".to_string())?,
                };
                let r = c
                    .request(head.as_bytes(), &payload)
                    .await
                    .map_err(|_| "connection".to_string())?;
                Ok::<_, String>((c, r))
            };
            let outcome = tokio::time::timeout(timeout, work).await;
            let took = intended_at.elapsed().as_micros() as u64;
            // Unanswered (timeout, broken connection) counts as slow: it was not answered in 1 s.
            let answered = matches!(outcome, Ok(Ok(_)));
            let mut m = counts.lock();
            m.posts += 1;
            let failed = match outcome {
                Ok(Ok((c, r))) => {
                    if r.keep_alive {
                        pool.lock().push(c);
                    }
                    record(&mut m.hist, took);
                    if (200..300).contains(&r.status) {
                        m.ok += 1;
                        None
                    } else {
                        Some(format!("http_{}", r.status))
                    }
                }
                Ok(Err(e)) => Some(e),
                Err(_) => Some("timeout".to_string()),
            };
            if let Some(k) = failed {
                *m.failed.entry(k).or_default() += 1;
            }
            if !answered || took > SLOW_MS * 1000 {
                m.slow += 1;
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    // In flight: up to the timeout (they time out themselves).
    while tasks.join_next().await.is_some() {}
    let m = counts.lock();
    let latency = Hist::from_hdr(&m.hist);
    let slow_ratio = if m.posts > 0 {
        m.slow as f64 / m.posts as f64
    } else {
        0.0
    };
    let p50 = (latency.count > 0).then_some(latency.p50_ms);
    let targets = vec![
        ThresholdResult {
            check: format!("p50_ms <= {TARGET_P50_MS}"),
            actual: p50,
            passed: p50.is_some_and(|v| v <= TARGET_P50_MS),
            skipped: None,
        },
        ThresholdResult {
            check: format!("over_1s_ratio < {TARGET_SLOW_RATIO}"),
            actual: (m.posts > 0).then_some(slow_ratio),
            passed: m.posts > 0 && slow_ratio < TARGET_SLOW_RATIO,
            skipped: None,
        },
        ThresholdResult {
            check: "failed == 0".into(),
            actual: Some(m.failed.values().sum::<u64>() as f64),
            passed: m.failed.is_empty(),
            skipped: None,
        },
    ];
    Ok(WebhookLoadReport {
        schema_version: 1,
        kind: "webhook_load".into(),
        url: load.url.clone(),
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
        interrupted,
        intended,
        posts: m.posts,
        by_kind,
        ok: m.ok,
        failed: m.failed.clone(),
        latency,
        slow: m.slow,
        slow_ratio,
        targets,
    })
}
