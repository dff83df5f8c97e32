//! The run report: one serde model (versioned), rendered to the terminal and to JSON, mergeable
//! across machines; threshold checks and the exit codes.
//!
//! Histograms travel as base64 of the HdrHistogram V2 encoding (the format every HdrHistogram
//! implementation reads), so merging reports adds histograms exactly instead of averaging
//! percentiles, which would be wrong.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::load::metrics::{new_hist, CodeCounts, CodeKey, PhaseMetrics, Timeline};
use crate::traffic::policy::{Class, RetryReason};
pub use crate::traffic::shard::Shard;
// Re-exported: `evaluate` takes these, and the scenario schema's text names `load::report::Metric`.
pub use crate::traffic::thresholds::{Check, Metric};

/// Version of the JSON report layout. Bumped on any incompatible change; `merge` refuses to mix
/// versions.
pub const SCHEMA_VERSION: u32 = 1;

/// Process exit codes of `wabasim run` (documented in docs/load.md).
/// Share of failed requests above which a run without thresholds exits with
/// [`exit_code::TARGET_UNHEALTHY`].
pub const UNHEALTHY_FAILED_RATIO: f64 = 0.10;

pub mod exit_code {
    /// The run completed and every threshold passed (or there were none).
    pub const OK: i32 = 0;
    /// The run completed and at least one threshold failed.
    pub const THRESHOLDS_FAILED: i32 = 1;
    /// Bad command line or scenario: nothing was run.
    pub const USAGE: i32 = 2;
    /// The run could not be carried out (target unreachable, report not writable, …).
    pub const RUN_ERROR: i32 = 3;
    /// The run completed, the scenario has no thresholds, and the target was unhealthy: no
    /// request succeeded, or more than [`super::UNHEALTHY_FAILED_RATIO`] of them failed
    /// (5xx, timeouts, answers that are not the Graph API's).
    pub const TARGET_UNHEALTHY: i32 = 4;
    /// Interrupted (Ctrl-C); the partial report was still written. Takes precedence over
    /// threshold results, which are computed but cannot be trusted on a partial run.
    pub const INTERRUPTED: i32 = 130;
}

/// What the report says about how latency was measured. Stated in every report because it
/// changes how the numbers should be read.
pub const LATENCY_NOTE: &str = "Open-model phases measure latency from each request's intended send time (the schedule, or \
the end of its retry backoff), so a stalled server or a saturated generator shows up as latency instead of being hidden \
(coordinated omission). Closed-model phases measure from the actual send.";

/// A latency distribution: summary in ms for humans, the full histogram for machines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hist {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Base64 of the HdrHistogram V2 encoding, values in µs.
    pub hdr: String,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Hist {
    pub fn from_hdr(h: &Histogram<u64>) -> Hist {
        let mut buf = Vec::new();
        let hdr = match V2Serializer::new().serialize(h, &mut buf) {
            Ok(_) => base64::engine::general_purpose::STANDARD.encode(&buf),
            Err(_) => String::new(),
        };
        let empty = h.is_empty();
        let q = |x: f64| {
            if empty {
                0.0
            } else {
                ms(h.value_at_quantile(x))
            }
        };
        Hist {
            count: h.len(),
            min_ms: if empty { 0.0 } else { ms(h.min()) },
            mean_ms: if empty {
                0.0
            } else {
                h.mean().round() / 1000.0
            },
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: if empty { 0.0 } else { ms(h.max()) },
            hdr,
        }
    }

    /// Decodes the histogram (into the standard bounds, so any two merge).
    pub fn to_hdr(&self) -> Result<Histogram<u64>, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.hdr)
            .map_err(|e| format!("histogram is not base64: {e}"))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut &bytes[..])
            .map_err(|e| format!("histogram does not decode: {e:?}"))?;
        let mut out = new_hist();
        out.add(&h)
            .map_err(|e| format!("histogram out of range: {e:?}"))?;
        Ok(out)
    }
}

/// Counts by outcome class. `total = ok + throttled + refused + failed` always.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCounts {
    pub total: u64,
    pub ok: u64,
    pub throttled: u64,
    pub refused: u64,
    pub failed: u64,
}

impl ClassCounts {
    fn from(a: &[u64; 4]) -> ClassCounts {
        ClassCounts {
            total: a.iter().sum(),
            ok: a[0],
            throttled: a[1],
            refused: a[2],
            failed: a[3],
        }
    }
    fn array(&self) -> [u64; 4] {
        [self.ok, self.throttled, self.refused, self.failed]
    }
}

/// Codes by class: Graph codes as decimal strings, `http_<status>`, `timeout`, `connection`,
/// `bad_response`, `other`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCodes {
    pub throttled: BTreeMap<String, u64>,
    pub refused: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
}

/// Latency histograms by class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassHists {
    pub ok: Hist,
    pub throttled: Hist,
    pub refused: Hist,
    pub failed: Hist,
}

/// Retries sent, and how the retried messages ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retries {
    pub total: u64,
    /// throughput, pair_limit, server_error, timeout, connection.
    pub by_reason: BTreeMap<String, u64>,
    /// Messages that ended ok after at least one retry.
    pub recovered: u64,
    /// Messages whose retry budget ran out.
    pub gave_up: u64,
}

/// Recipient draws by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientCounts {
    pub new: u64,
    pub returning: u64,
    pub hot: u64,
}

/// One phase (or the run total).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseReport {
    pub name: String,
    /// "open" or "closed" ("mixed" for a total over both).
    pub model: String,
    /// When it started, ms after the start of the run: streams' phases overlap. Absent for the
    /// total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<f64>,
    /// How long the phase issued messages, ms.
    pub active_ms: f64,
    /// Expected arrivals over the active window per the rate function (open model).
    pub expected: f64,
    /// Mean target rate over the active window, messages/s (open model only).
    pub target_rate: Option<f64>,
    /// First attempts sent per second of active window.
    pub achieved_rate: f64,
    /// Arrivals the schedule produced in the active window (open model).
    pub intended: u64,
    /// Intended arrivals never sent (stop, or the generator fell behind).
    pub unsent: u64,
    /// Window replies that found nobody to answer and were not sent (`no_window = "drop"`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub no_window: u64,
    /// Requests of `requests.ok` that simulated a user writing in (`/_sim/inbound`), not sends:
    /// `requests.ok - inbound` sends were accepted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inbound: u64,
    /// Accepted sends answered `message_status: held_for_quality_assessment` (template
    /// pacing): their statuses come after the assessment, released (`sent`…) or dropped
    /// (`failed` 132015, counted in the webhooks' failed status codes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held: u64,
    /// Requests of `requests.ok` that blocked a user (`block` entries), not sends.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blocked: u64,
    /// Messages whose first attempt went by BSUID (`recipient`): the webhooks showed the user
    /// without a phone number (a username user).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub by_user_id: u64,
    /// Messages whose first attempt was sent.
    pub messages: u64,
    /// HTTP requests (attempts, retries included) by class.
    pub requests: ClassCounts,
    /// Final outcome per message by class (abandoned messages are in none).
    pub finals: ClassCounts,
    /// Messages cut short by a stop.
    pub abandoned: u64,
    pub retries: Retries,
    pub codes: ClassCodes,
    pub recipients: RecipientCounts,
    /// Request latency by class.
    pub latency: ClassHists,
    /// Intended first send → final ok, backoffs included.
    pub message_latency: Hist,
    /// Intended first send → actual first send (open model): the generator's own lag, already
    /// included in the open-model latencies.
    pub send_lag: Hist,
    /// Per-interval target vs achieved.
    pub timeline: Timeline,
}

impl PhaseReport {
    pub fn from_metrics(name: &str, model: &str, m: &PhaseMetrics) -> PhaseReport {
        let secs = m.active_us as f64 / 1e6;
        let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let codes_of = |c: Class| -> BTreeMap<String, u64> {
            m.codes[c as usize]
                .sorted()
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect()
        };
        PhaseReport {
            name: name.to_string(),
            model: model.to_string(),
            start_ms: None,
            active_ms: m.active_us as f64 / 1000.0,
            expected: m.expected,
            target_rate: (model != "closed").then(|| per_sec(m.expected)),
            achieved_rate: per_sec(m.messages as f64),
            intended: m.intended,
            unsent: m.unsent,
            no_window: m.no_window,
            inbound: m.inbound,
            held: m.held,
            blocked: m.blocked,
            by_user_id: m.by_user_id,
            messages: m.messages,
            requests: ClassCounts::from(&m.requests),
            finals: ClassCounts::from(&m.finals),
            abandoned: m.abandoned,
            retries: Retries {
                total: m.retries.iter().sum(),
                by_reason: RetryReason::ALL
                    .iter()
                    .zip(m.retries.iter())
                    .filter(|(_, n)| **n > 0)
                    .map(|(r, n)| (r.name().to_string(), *n))
                    .collect(),
                recovered: m.recovered,
                gave_up: m.gave_up,
            },
            codes: ClassCodes {
                throttled: codes_of(Class::Throttled),
                refused: codes_of(Class::Refused),
                failed: codes_of(Class::Failed),
            },
            recipients: RecipientCounts {
                new: m.recipients_new,
                returning: m.recipients_returning,
                hot: m.recipients_hot,
            },
            latency: ClassHists {
                ok: Hist::from_hdr(&m.latency[0]),
                throttled: Hist::from_hdr(&m.latency[1]),
                refused: Hist::from_hdr(&m.latency[2]),
                failed: Hist::from_hdr(&m.latency[3]),
            },
            message_latency: Hist::from_hdr(&m.message_latency),
            send_lag: Hist::from_hdr(&m.send_lag),
            timeline: m.timeline.clone(),
        }
    }

    /// Back to raw metrics (decoding histograms), to merge.
    pub fn to_metrics(&self) -> Result<PhaseMetrics, String> {
        let ctx = |what: &str, e: String| format!("phase {:?}: {what}: {e}", self.name);
        let mut m = PhaseMetrics {
            requests: self.requests.array(),
            finals: self.finals.array(),
            messages: self.messages,
            intended: self.intended,
            unsent: self.unsent,
            no_window: self.no_window,
            inbound: self.inbound,
            held: self.held,
            blocked: self.blocked,
            by_user_id: self.by_user_id,
            abandoned: self.abandoned,
            gave_up: self.retries.gave_up,
            recovered: self.retries.recovered,
            recipients_new: self.recipients.new,
            recipients_returning: self.recipients.returning,
            recipients_hot: self.recipients.hot,
            timeline: self.timeline.clone(),
            active_us: (self.active_ms * 1000.0).round() as u64,
            expected: self.expected,
            ..PhaseMetrics::default()
        };
        m.latency = [
            self.latency.ok.to_hdr().map_err(|e| ctx("latency.ok", e))?,
            self.latency
                .throttled
                .to_hdr()
                .map_err(|e| ctx("latency.throttled", e))?,
            self.latency
                .refused
                .to_hdr()
                .map_err(|e| ctx("latency.refused", e))?,
            self.latency
                .failed
                .to_hdr()
                .map_err(|e| ctx("latency.failed", e))?,
        ];
        m.message_latency = self
            .message_latency
            .to_hdr()
            .map_err(|e| ctx("message_latency", e))?;
        m.send_lag = self.send_lag.to_hdr().map_err(|e| ctx("send_lag", e))?;
        for (class, map) in [
            (Class::Throttled, &self.codes.throttled),
            (Class::Refused, &self.codes.refused),
            (Class::Failed, &self.codes.failed),
        ] {
            let mut cc = CodeCounts::default();
            for (k, n) in map {
                let key = CodeKey::parse(k)
                    .ok_or_else(|| ctx("codes", format!("unknown code key {k:?}")))?;
                cc.add(key, *n);
            }
            m.codes[class as usize] = cc;
        }
        for (name, n) in &self.retries.by_reason {
            let i = RetryReason::ALL
                .iter()
                .position(|r| r.name() == name)
                .ok_or_else(|| ctx("retries.by_reason", format!("unknown reason {name:?}")))?;
            m.retries[i] += n;
        }
        Ok(m)
    }
}

/// What the embedded webhook receiver saw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookReport {
    /// POSTs received.
    pub posts: u64,
    /// POSTs whose `X-Hub-Signature-256` was missing or wrong (not parsed further).
    pub bad_signature: u64,
    /// Signed POSTs whose body was not a webhook envelope.
    pub malformed: u64,
    /// Verification handshakes answered with the challenge / refused.
    pub verify_ok: u64,
    pub verify_refused: u64,
    /// Statuses by kind: sent, delivered, read, failed, played, other.
    pub statuses: BTreeMap<String, u64>,
    /// Error codes carried by failed statuses.
    pub failed_codes: BTreeMap<String, u64>,
    /// Inbound user messages (`value.messages[]`).
    pub inbound_messages: u64,
    /// Delivered/failed statuses matched to a send of this run / not matched.
    pub matched: u64,
    pub unmatched: u64,
    /// Sent ids forgotten to keep memory bounded before any status came for them.
    pub evicted: u64,
    /// Send (200 response) → delivered webhook received, for matched ids.
    pub delivered_delay: Hist,
}

impl WebhookReport {
    fn merge(&mut self, o: &WebhookReport) -> Result<(), String> {
        self.posts += o.posts;
        self.bad_signature += o.bad_signature;
        self.malformed += o.malformed;
        self.verify_ok += o.verify_ok;
        self.verify_refused += o.verify_refused;
        for (k, v) in &o.statuses {
            *self.statuses.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.failed_codes {
            *self.failed_codes.entry(k.clone()).or_default() += v;
        }
        self.inbound_messages += o.inbound_messages;
        self.matched += o.matched;
        self.unmatched += o.unmatched;
        self.evicted += o.evicted;
        let mut h = self.delivered_delay.to_hdr()?;
        h.add(&o.delivered_delay.to_hdr()?)
            .map_err(|e| format!("{e:?}"))?;
        self.delivered_delay = Hist::from_hdr(&h);
        Ok(())
    }
}

/// One evaluated threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub check: String,
    /// The measured value; `null` when there was nothing to measure (which fails the check,
    /// unless it is skipped).
    pub actual: Option<f64>,
    pub passed: bool,
    /// Not evaluated because its source is absent from this run: the phase or stream never
    /// started (`--duration` cut the run first), or a webhook metric and no receiver (with
    /// `--target`). Neither passed nor failed: it does not change the exit code. Absent
    /// (`null`) otherwise; the reason when skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Layout version, currently 1.
    pub schema_version: u32,
    /// "wabasim <version>".
    pub tool: String,
    /// Wall-clock start, Unix ms.
    pub started_unix_ms: u64,
    /// Wall-clock length of the run including the drain, ms.
    pub elapsed_ms: f64,
    /// True when the run was interrupted: later phases missing, counts cut short.
    pub partial: bool,
    /// "completed", "interrupted" or "duration_cap".
    pub stop_reason: String,
    pub seed: u64,
    /// Number of runs merged into this report (1 for a single run).
    pub sources: u32,
    /// How latency was measured.
    pub latency_note: String,
    pub phases: Vec<PhaseReport>,
    /// Per declared stream (`[[traffic.streams]]`): its phases together. Empty, and not
    /// written, for a single sequence of phases (the total is then that sequence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<PhaseReport>,
    /// All phases together.
    pub total: PhaseReport,
    pub webhooks: Option<WebhookReport>,
    /// Threshold results (empty when the scenario has none).
    pub thresholds: Vec<ThresholdResult>,
    /// Requests still in flight when the grace period ended (not in any class).
    pub abandoned_in_flight: u64,
    /// What the embedded mock server saw (absent with `--target`, whose server is not ours to
    /// read). Its counts reconcile with the client's: every `ok` send is one `accepted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerSide>,
    /// The support desk of window replies (`[traffic.conversations]`). Absent when no phase
    /// replies in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations: Option<crate::traffic::conversations::DeskCounts>,
    /// The scenario the run drove, so `merge` never adds up runs of different scenarios.
    /// Absent in reports written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioRef>,
    /// The share of the load this report holds (`run --shard I/N`); absent for a whole run and
    /// for a merged report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

/// Which scenario a run report describes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRef {
    /// The scenario file as named on the command line (for people; not compared).
    pub file: String,
    /// [`crate::scenario::fingerprint`] of its content apart from `[thresholds]`: reports
    /// with different fingerprints describe different traffic. Thresholds are left out so a
    /// merged run can be judged against revised thresholds.
    pub fingerprint: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The embedded server's side of a run, read from its engine when the traffic has stopped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSide {
    /// Per business phone number, in scenario order.
    pub numbers: Vec<ServerNumber>,
    /// The server's webhook outbox counters (pushed, delivered, expired, …).
    pub webhook_outbox: BTreeMap<String, u64>,
    /// What the traffic cost under the scenario's pricing model (the engine's ledger totals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::pricing::CostSummary>,
    /// Per business (several): its numbers' outcomes summed and its own cost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub businesses: Vec<ServerBusiness>,
}

/// One client business as the engine left it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerBusiness {
    pub id: String,
    pub name: String,
    pub numbers: u64,
    pub accepted: u64,
    /// Sends refused synchronously (any code).
    pub refused: u64,
    pub delivered: u64,
    /// Accepted sends that failed later (any code).
    pub failed_later: u64,
    pub inbound: u64,
    /// Its ledger's totals per currency.
    pub cost: BTreeMap<String, crate::pricing::ledger::CurrencyTotal>,
}

/// One business number as the engine left it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerNumber {
    pub id: String,
    pub quality_rating: String,
    pub status: String,
    pub messaging_limit: String,
    /// Sends accepted (HTTP 200 with a message id).
    pub accepted: u64,
    /// Sends refused synchronously, by error code.
    pub rejected: BTreeMap<String, u64>,
    pub delivered: u64,
    pub read: u64,
    /// Accepted sends that later failed (asynchronous errors), by error code.
    pub failed: BTreeMap<String, u64>,
    /// Messages users sent to this number.
    pub inbound: u64,
    /// Template pacing: sends held for quality assessment, released after it, dropped
    /// (failed with 132015) when it paused the template.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub released: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

impl Report {
    /// True when every threshold passed.
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds
            .iter()
            .all(|t| t.passed || t.skipped.is_some())
    }

    /// Why the target looks broken, when the scenario has no thresholds to judge the run:
    /// requests were made and none succeeded, or more than [`UNHEALTHY_FAILED_RATIO`] failed.
    /// Throttled and refused answers are the platform's rules working, not failures. With
    /// thresholds, they decide (a run against injected faults states what it expects).
    pub fn unhealthy(&self) -> Option<String> {
        let r = &self.total.requests;
        if !self.thresholds.is_empty() || r.total == 0 {
            return None;
        }
        let failed = r.failed as f64 / r.total as f64;
        if r.ok == 0 {
            Some(format!("no request of {} succeeded", r.total))
        } else if failed > UNHEALTHY_FAILED_RATIO {
            Some(format!(
                "{} of {} requests failed ({:.1} %, more than {:.0} %)",
                r.failed,
                r.total,
                failed * 100.0,
                UNHEALTHY_FAILED_RATIO * 100.0
            ))
        } else {
            None
        }
    }

    /// The exit code for this report (see [`exit_code`]).
    pub fn exit_code(&self) -> i32 {
        if self.stop_reason == "interrupted" {
            exit_code::INTERRUPTED
        } else if !self.thresholds_passed() {
            exit_code::THRESHOLDS_FAILED
        } else if self.unhealthy().is_some() {
            exit_code::TARGET_UNHEALTHY
        } else {
            exit_code::OK
        }
    }
}

/// Merges reports from runs executed in parallel (e.g. one shard per machine): counts and
/// histograms add, phases match by name, the active window of a phase is the longest of its
/// shards (so achieved rates add up). Threshold results are dropped: re-evaluate with
/// [`evaluate`] on the merged report.
pub fn merge(reports: &[Report]) -> Result<Report, String> {
    let Some(first) = reports.first() else {
        return Err("nothing to merge".into());
    };
    for (i, r) in reports.iter().enumerate() {
        if r.schema_version != SCHEMA_VERSION {
            return Err(format!(
                "report {i}: schema_version {} (this build reads {SCHEMA_VERSION})",
                r.schema_version
            ));
        }
    }
    let mut total = first.total.to_metrics()?;
    for r in &reports[1..] {
        total.merge(&r.total.to_metrics()?);
    }
    let phases = merge_named("phase", reports.iter().map(|r| r.phases.as_slice()))?;
    let streams = merge_named("stream", reports.iter().map(|r| r.streams.as_slice()))?;
    let mut webhooks: Option<WebhookReport> = None;
    for r in reports {
        if let Some(w) = &r.webhooks {
            match webhooks.as_mut() {
                Some(acc) => acc.merge(w)?,
                None => webhooks = Some(w.clone()),
            }
        }
    }
    let interrupted = reports.iter().any(|r| r.stop_reason == "interrupted");
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        tool: first.tool.clone(),
        started_unix_ms: reports.iter().map(|r| r.started_unix_ms).min().unwrap_or(0),
        elapsed_ms: reports.iter().map(|r| r.elapsed_ms).fold(0.0, f64::max),
        partial: reports.iter().any(|r| r.partial),
        stop_reason: if interrupted {
            "interrupted".into()
        } else {
            first.stop_reason.clone()
        },
        seed: first.seed,
        sources: reports.iter().map(|r| r.sources).sum(),
        latency_note: first.latency_note.clone(),
        phases,
        streams,
        total: PhaseReport::from_metrics("total", &first.total.model, &total),
        webhooks,
        thresholds: Vec::new(),
        abandoned_in_flight: reports.iter().map(|r| r.abandoned_in_flight).sum(),
        // Server sides describe different servers; a merged report keeps none of them.
        server: None,
        conversations: reports
            .iter()
            .filter_map(|r| r.conversations)
            .reduce(|mut a, b| {
                a.add(&b);
                a
            }),
        scenario: first.scenario.clone(),
        shard: None,
    })
}

/// Merges lists of phases (or streams) of several reports, matching by name, in order of first
/// appearance.
fn merge_named<'a>(
    what: &str,
    lists: impl Iterator<Item = &'a [PhaseReport]>,
) -> Result<Vec<PhaseReport>, String> {
    let mut names: Vec<(String, String)> = Vec::new();
    let mut merged: Vec<PhaseMetrics> = Vec::new();
    let mut starts: Vec<Option<f64>> = Vec::new();
    for list in lists {
        for p in list {
            let m = p.to_metrics()?;
            match names.iter().position(|(n, _)| n == &p.name) {
                Some(k) => {
                    if names[k].1 != p.model {
                        return Err(format!(
                            "{what} {:?} is {} in one report and {} in another",
                            p.name, names[k].1, p.model
                        ));
                    }
                    merged[k].merge(&m);
                    starts[k] = match (starts[k], p.start_ms) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                None => {
                    names.push((p.name.clone(), p.model.clone()));
                    merged.push(m);
                    starts.push(p.start_ms);
                }
            }
        }
    }
    Ok(names
        .iter()
        .zip(merged.iter())
        .zip(starts)
        .map(|(((n, model), m), start_ms)| PhaseReport {
            start_ms,
            ..PhaseReport::from_metrics(n, model, m)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Thresholds

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The value of `metric` in `p` (and the run's webhooks), `None` when it cannot be measured
/// (no samples, no target, no receiver).
pub fn metric_value(
    metric: Metric,
    p: &PhaseReport,
    webhooks: Option<&WebhookReport>,
) -> Option<f64> {
    let r = &p.requests;
    let ok = &p.latency.ok;
    let lat = |v: f64| (ok.count > 0).then_some(v);
    Some(match metric {
        Metric::Requests => r.total as f64,
        Metric::Ok => r.ok as f64,
        Metric::Throttled => r.throttled as f64,
        Metric::Refused => r.refused as f64,
        Metric::Failed => r.failed as f64,
        Metric::OkRatio => ratio(r.ok, r.total)?,
        Metric::ThrottledRatio => ratio(r.throttled, r.total)?,
        Metric::RefusedRatio => ratio(r.refused, r.total)?,
        Metric::FailedRatio => ratio(r.failed, r.total)?,
        Metric::Messages => p.messages as f64,
        Metric::Unsent => p.unsent as f64,
        Metric::Abandoned => p.abandoned as f64,
        Metric::GaveUp => p.retries.gave_up as f64,
        Metric::Retries => p.retries.total as f64,
        Metric::AchievedRate => p.achieved_rate,
        Metric::TargetRate => p.target_rate?,
        Metric::RateRatio => {
            let t = p.target_rate?;
            if t <= 0.0 {
                return None;
            }
            p.achieved_rate / t
        }
        Metric::P50Ms => lat(ok.p50_ms)?,
        Metric::P90Ms => lat(ok.p90_ms)?,
        Metric::P95Ms => lat(ok.p95_ms)?,
        Metric::P99Ms => lat(ok.p99_ms)?,
        Metric::P999Ms => lat(ok.p999_ms)?,
        Metric::MaxMs => lat(ok.max_ms)?,
        Metric::MeanMs => lat(ok.mean_ms)?,
        Metric::MessageP99Ms => {
            if p.message_latency.count == 0 {
                return None;
            }
            p.message_latency.p99_ms
        }
        Metric::WebhookBadSignatures => webhooks?.bad_signature as f64,
        Metric::WebhookFailed => webhooks?.statuses.get("failed").copied().unwrap_or(0) as f64,
        Metric::WebhookDelivered => {
            webhooks?.statuses.get("delivered").copied().unwrap_or(0) as f64
        }
        Metric::DeliveredP50Ms => {
            let w = webhooks?;
            if w.delivered_delay.count == 0 {
                return None;
            }
            w.delivered_delay.p50_ms
        }
        Metric::DeliveredP99Ms => {
            let w = webhooks?;
            if w.delivered_delay.count == 0 {
                return None;
            }
            w.delivered_delay.p99_ms
        }
    })
}

/// Evaluates the checks against a report. A check whose metric has no value fails: a latency
/// threshold with zero successful requests is not evidence of good latency.
pub fn evaluate(checks: &[Check], report: &Report) -> Vec<ThresholdResult> {
    checks
        .iter()
        .map(|c| {
            let phase = match &c.phase {
                Some(name) => report
                    .phases
                    .iter()
                    .chain(report.streams.iter())
                    .find(|p| &p.name == name),
                None => Some(&report.total),
            };
            // A phase or stream that never started is absent (a stream is listed with no
            // start); a webhook metric needs a receiver. Nothing to judge: skipped.
            let skipped = match (&c.phase, phase) {
                (Some(name), None) => Some(format!("{name:?} did not run")),
                (Some(name), Some(p))
                    if report.streams.iter().any(|s| s.name == *name)
                        && p.start_ms.is_none()
                        && p.messages == 0 =>
                {
                    Some(format!("{name:?} did not run"))
                }
                _ => None,
            }
            .or_else(|| {
                (c.metric.needs_webhooks() && report.webhooks.is_none())
                    .then(|| "no webhook receiver in this run".to_string())
            });
            let actual = phase.and_then(|p| metric_value(c.metric, p, report.webhooks.as_ref()));
            ThresholdResult {
                check: c.text.clone(),
                actual,
                passed: skipped.is_none() && actual.is_some_and(|a| c.op.holds(a, c.value)),
                skipped,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Terminal rendering

fn fmt_rate(r: Option<f64>) -> String {
    match r {
        Some(v) => format!("{v:.1}"),
        None => "-".into(),
    }
}

/// Codes with Meta's names: `130429 Rate limit hit ×206, 131047 Re-engagement message ×205`.
fn fmt_codes(map: &BTreeMap<String, u64>) -> String {
    super::ci::codes_line(map)
}

/// The end-of-run summary, as plain text (no colours, so it reads the same in CI logs).
pub fn render_summary(r: &Report) -> String {
    let mut s = String::new();
    let status = match r.stop_reason.as_str() {
        "interrupted" => "INTERRUPTED (partial report)",
        "duration_cap" => "stopped at --duration",
        _ => "completed",
    };
    let _ = writeln!(
        s,
        "\nwabasim load run {status} in {:.1} s (seed {}, report schema {})",
        r.elapsed_ms / 1000.0,
        r.seed,
        r.schema_version
    );
    let _ = writeln!(s, "{}\n", r.latency_note);
    let _ = writeln!(
        s,
        "{:<16} {:>6} {:>9} {:>10} {:>9} {:>9} {:>8} {:>9} {:>8} {:>7}",
        "phase",
        "model",
        "target/s",
        "achieved/s",
        "requests",
        "accepted",
        "inbound",
        "throttled",
        "refused",
        "failed",
    );
    // Streams after the phases, named as thresholds name them: `[campaign]`.
    let rows: Vec<(String, &PhaseReport)> = r
        .phases
        .iter()
        .map(|p| (p.name.clone(), p))
        .chain(r.streams.iter().map(|p| (format!("[{}]", p.name), p)))
        .chain(std::iter::once(("total".to_string(), &r.total)))
        .collect();
    for (name, p) in &rows {
        let _ = writeln!(
            s,
            "{:<16} {:>6} {:>9} {:>10.1} {:>9} {:>9} {:>8} {:>9} {:>8} {:>7}",
            truncate(name, 16),
            p.model,
            fmt_rate(p.target_rate),
            p.achieved_rate,
            p.requests.total,
            p.requests.ok - (p.inbound + p.blocked).min(p.requests.ok),
            p.inbound,
            p.requests.throttled,
            p.requests.refused,
            p.requests.failed,
        );
    }
    // Latency of ok requests in its own table, so each fits 100 columns.
    let _ = writeln!(
        s,
        "\n{:<16} {:>10} {:>10} {:>10} {:>10}",
        "ok latency", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (name, p) in &rows {
        let l = &p.latency.ok;
        let _ = writeln!(
            s,
            "{:<16} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            truncate(name, 16),
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms
        );
    }
    let _ = writeln!(s);
    for p in r.phases.iter() {
        let mut lines = Vec::new();
        if !p.codes.throttled.is_empty() {
            lines.push(format!("throttled {}", fmt_codes(&p.codes.throttled)));
        }
        if !p.codes.refused.is_empty() {
            lines.push(format!("refused {}", fmt_codes(&p.codes.refused)));
        }
        if !p.codes.failed.is_empty() {
            lines.push(format!("failed {}", fmt_codes(&p.codes.failed)));
        }
        if p.retries.total > 0 {
            lines.push(format!(
                "retries {} ({}): {} messages accepted after a retry, {} gave up",
                p.retries.total,
                fmt_codes(&p.retries.by_reason),
                p.retries.recovered,
                p.retries.gave_up
            ));
        }
        if p.unsent > 0 || p.abandoned > 0 {
            lines.push(format!("unsent {}, abandoned {}", p.unsent, p.abandoned));
        }
        if p.no_window > 0 {
            lines.push(format!(
                "{} window replies not sent (nobody waiting for an answer)",
                p.no_window
            ));
        }
        if p.held > 0 {
            lines.push(format!(
                "{} accepted sends held for quality assessment (template pacing; released or dropped with 132015 later)",
                p.held
            ));
        }
        if p.blocked > 0 {
            lines.push(format!(
                "{} users blocked (block requests, not counted as accepted sends)",
                p.blocked
            ));
        }
        if p.by_user_id > 0 {
            lines.push(format!(
                "{} messages addressed by BSUID (the webhook hid the user's phone number)",
                p.by_user_id
            ));
        }
        if p.model == "open" && p.send_lag.count > 0 {
            lines.push(format!(
                "generator lag (intended → sent) p50 {:.2} ms, p99 {:.2} ms",
                p.send_lag.p50_ms, p.send_lag.p99_ms
            ));
        }
        if p.message_latency.count > 0 && p.retries.total > 0 {
            lines.push(format!(
                "message latency (incl. backoff) p50 {:.1} ms, p99 {:.1} ms",
                p.message_latency.p50_ms, p.message_latency.p99_ms
            ));
        }
        if !lines.is_empty() {
            let _ = writeln!(s, "{}: {}", p.name, lines.join("; "));
        }
    }
    if r.abandoned_in_flight > 0 {
        let _ = writeln!(
            s,
            "requests still in flight after the grace period: {}",
            r.abandoned_in_flight
        );
    }
    if let Some(c) = &r.conversations {
        let _ = writeln!(s, "{}", c.summary());
    }
    if let Some(w) = &r.webhooks {
        let _ = writeln!(
            s,
            "webhooks: {} posts, statuses {}, inbound {}, bad signatures {}, malformed {}",
            w.posts,
            if w.statuses.is_empty() {
                "none".to_string()
            } else {
                fmt_codes(&w.statuses)
            },
            w.inbound_messages,
            w.bad_signature,
            w.malformed
        );
        if w.delivered_delay.count > 0 {
            let _ = writeln!(
                s,
                "          send→delivered p50 {:.1} ms, p99 {:.1} ms ({} matched, {} unmatched, {} evicted)",
                w.delivered_delay.p50_ms, w.delivered_delay.p99_ms, w.matched, w.unmatched, w.evicted
            );
        }
        if !w.failed_codes.is_empty() {
            let _ = writeln!(
                s,
                "          failed status codes {}",
                fmt_codes(&w.failed_codes)
            );
        }
    }
    if let Some(sv) = &r.server {
        let _ = writeln!(s, "\nembedded server:");
        // Many client businesses: one line each (the 20 busiest), numbers in the JSON report.
        const SHOWN: usize = 20;
        let mut busiest: Vec<&ServerBusiness> = sv.businesses.iter().collect();
        busiest.sort_by_key(|b| std::cmp::Reverse(b.accepted));
        for b in busiest.iter().take(SHOWN) {
            let cost: Vec<String> = b
                .cost
                .iter()
                .map(|(cur, c)| format!("{} {cur}", c.amount.format(2)))
                .collect();
            let _ = writeln!(
                s,
                "  business {} ({} numbers): accepted {}, refused {}, delivered {}, failed later {}, inbound {}; cost {}",
                b.name,
                b.numbers,
                b.accepted,
                b.refused,
                b.delivered,
                b.failed_later,
                b.inbound,
                if cost.is_empty() { "0".into() } else { cost.join(", ") }
            );
        }
        if busiest.len() > SHOWN {
            let _ = writeln!(
                s,
                "  … and {} more businesses (the JSON report's server.businesses)",
                busiest.len() - SHOWN
            );
        }
        let numbers = if sv.businesses.is_empty() {
            &sv.numbers[..]
        } else {
            &[]
        };
        for n in numbers {
            let _ = writeln!(
                s,
                "  number {}: {} {} limit {}; accepted {}, delivered {}, read {}, inbound {}{}{}",
                n.id,
                n.status,
                n.quality_rating,
                n.messaging_limit,
                n.accepted,
                n.delivered,
                n.read,
                n.inbound,
                if n.rejected.is_empty() {
                    String::new()
                } else {
                    format!(", refused {}", fmt_codes(&n.rejected))
                },
                if n.failed.is_empty() {
                    String::new()
                } else {
                    format!(", failed later {}", fmt_codes(&n.failed))
                },
            );
            if n.held > 0 {
                let _ = writeln!(
                    s,
                    "    template pacing: held {}, released {}, dropped (132015) {}, still held {}",
                    n.held,
                    n.released,
                    n.dropped,
                    n.held.saturating_sub(n.released + n.dropped)
                );
            }
        }
        for (cur, t) in sv.cost.iter().flat_map(|c| &c.by_currency) {
            let _ = writeln!(
                s,
                "  cost: {} messages priced (free ones at 0), platform {} {cur}, BSP price {} {cur}",
                t.messages,
                t.amount.format(2),
                t.bsp_price.format(2)
            );
        }
        if !sv.webhook_outbox.is_empty() {
            let _ = writeln!(
                s,
                "  webhook outbox: {}",
                sv.webhook_outbox
                    .iter()
                    .filter(|(_, v)| **v > 0)
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if let Some(why) = r.unhealthy() {
        let _ = writeln!(
            s,
            "\ntarget unhealthy: {why} (exit code {})",
            exit_code::TARGET_UNHEALTHY
        );
    }
    if !r.thresholds.is_empty() {
        let _ = writeln!(s, "\nthresholds:");
        for t in &r.thresholds {
            let actual = t
                .actual
                .map(|a| format!("{a:.4}"))
                .unwrap_or_else(|| "no data".into());
            match &t.skipped {
                Some(why) => {
                    let _ = writeln!(s, "  SKIP {}  ({why})", t.check);
                }
                None => {
                    let _ = writeln!(
                        s,
                        "  {} {}  (actual {actual})",
                        if t.passed { "PASS" } else { "FAIL" },
                        t.check
                    );
                }
            }
        }
    }
    fit(&s, SUMMARY_WIDTH)
}

/// The terminal summaries fit this many columns (CI logs and 100-column terminals).
pub const SUMMARY_WIDTH: usize = 100;

/// Wraps every line longer than `width` at spaces, continuing with the line's indentation
/// plus four spaces.
pub fn fit(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if body.chars().count() <= width {
            out.push_str(line);
            continue;
        }
        let indent: String = body.chars().take_while(|c| *c == ' ').collect();
        let cont = format!("{indent}    ");
        let mut col = 0;
        let mut first = true;
        for word in body.trim_start().split(' ') {
            let w = word.chars().count();
            if first {
                out.push_str(&indent);
                out.push_str(word);
                col = indent.len() + w;
                first = false;
            } else if col + 1 + w > width {
                out.push('\n');
                out.push_str(&cont);
                out.push_str(word);
                col = cont.len() + w;
            } else {
                out.push(' ');
                out.push_str(word);
                col += 1 + w;
            }
        }
        out.push_str(nl);
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::traffic::policy::{FailKind, Outcome};
    use crate::traffic::thresholds::parse_check;

    /// A one-phase report of 98 ok, one throttled, one refused request (for other modules'
    /// tests).
    pub(crate) fn sample_report() -> Report {
        report_with(&sample())
    }

    fn report_with(m: &PhaseMetrics) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            tool: "wabasim test".into(),
            started_unix_ms: 0,
            elapsed_ms: 1000.0,
            partial: false,
            stop_reason: "completed".into(),
            seed: 1,
            sources: 1,
            latency_note: LATENCY_NOTE.into(),
            phases: vec![PhaseReport::from_metrics("steady", "open", m)],
            streams: Vec::new(),
            conversations: None,
            total: PhaseReport::from_metrics("total", "open", m),
            webhooks: None,
            thresholds: vec![],
            abandoned_in_flight: 0,
            server: None,
            scenario: None,
            shard: None,
        }
    }

    fn sample() -> PhaseMetrics {
        let mut m = PhaseMetrics::default();
        for i in 0..98 {
            m.record_sent(i * 10_000);
            m.record_request(Outcome::Ok, 10_000 + i * 100, i * 10_000);
        }
        m.record_request(Outcome::Throttled(130429), 5_000, 0);
        m.record_request(Outcome::Refused(131047), 5_000, 0);
        m.active_us = 1_000_000;
        m.expected = 100.0;
        m
    }

    #[test]
    fn thresholds_give_documented_exit_codes() {
        let m = sample();
        let mut r = report_with(&m);
        let checks: Vec<Check> = [
            "p99_ms < 250",
            "throttled_ratio < 0.02",
            "failed < 1",
            "ok == 98",
            "rate_ratio >= 0.98",
        ]
        .iter()
        .map(|t| parse_check(t).unwrap())
        .collect();
        r.thresholds = evaluate(&checks, &r);
        assert!(r.thresholds.iter().all(|t| t.passed), "{:?}", r.thresholds);
        assert_eq!(r.exit_code(), exit_code::OK);
        assert_eq!(r.thresholds[1].actual, Some(0.01));

        let failing = [parse_check("throttled_ratio < 0.005").unwrap()];
        r.thresholds = evaluate(&failing, &r);
        assert!(!r.thresholds[0].passed);
        assert_eq!(r.exit_code(), exit_code::THRESHOLDS_FAILED);

        r.stop_reason = "interrupted".into();
        assert_eq!(r.exit_code(), exit_code::INTERRUPTED);
    }

    #[test]
    fn a_run_without_thresholds_fails_when_the_target_is_unhealthy() {
        // 98 ok, 1 throttled, 1 refused: healthy (policy answers are not failures).
        let r = report_with(&sample());
        assert_eq!((r.unhealthy(), r.exit_code()), (None, exit_code::OK));
        // Every answer a 5xx or garbage: nothing succeeded.
        let mut m = PhaseMetrics::default();
        for i in 0..20 {
            m.record_request(Outcome::Failed(FailKind::Http(500)), 1_000, i);
        }
        let r = report_with(&m);
        assert!(r.unhealthy().unwrap().contains("no request of 20"));
        assert_eq!(r.exit_code(), exit_code::TARGET_UNHEALTHY);
        assert!(render_summary(&r).contains("target unhealthy"));
        // 11 % failed: past the bound; 10 % is not.
        let mut m = sample();
        for i in 0..13 {
            m.record_request(Outcome::Failed(FailKind::Http(500)), 1_000, i);
        }
        assert_eq!(report_with(&m).exit_code(), exit_code::TARGET_UNHEALTHY);
        let mut m = sample();
        for i in 0..11 {
            m.record_request(Outcome::Failed(FailKind::Http(500)), 1_000, i);
        }
        assert_eq!(report_with(&m).exit_code(), exit_code::OK);
        // With thresholds, they decide.
        let mut r = report_with(&m);
        r.thresholds = evaluate(&[parse_check("p99_ms < 1000000").unwrap()], &r);
        assert_eq!(r.exit_code(), exit_code::OK);
    }

    #[test]
    fn missing_data_fails_the_check() {
        let r = report_with(&PhaseMetrics::default());
        let res = evaluate(
            &[
                parse_check("p99_ms < 250").unwrap(),
                parse_check("delivered_p99_ms < 5").unwrap(),
            ],
            &r,
        );
        assert_eq!(res[0].actual, None);
        assert!(!res[0].passed, "no sample: no evidence of good latency");
        assert_eq!(res[0].skipped, None);
        assert!(!res[1].passed);
        assert_eq!(
            res[1].skipped.as_deref(),
            Some("no webhook receiver in this run"),
            "no receiver: not judged"
        );
    }

    #[test]
    fn the_summary_fits_100_columns() {
        let mut r = report_with(&sample());
        r.phases[0].name = "a-phase-with-a-long-name".into();
        let text = render_summary(&r);
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= SUMMARY_WIDTH, "{widest}:\n{text}");
        // The long note is wrapped, not cut: every word is still there.
        let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert!(words(&text)
            .join(" ")
            .contains(&words(LATENCY_NOTE).join(" ")));
        assert_eq!(fit("a b c", 3), "a b\n    c");
    }

    #[test]
    fn checks_on_what_did_not_run_are_skipped_not_failed() {
        let mut r = report_with(&sample());
        r.thresholds = evaluate(
            &[
                parse_check("rate_ratio[later] >= 0.95").unwrap(),
                parse_check("webhook_bad_signatures == 0").unwrap(),
                parse_check("failed < 1").unwrap(),
            ],
            &r,
        );
        let skipped: Vec<bool> = r.thresholds.iter().map(|t| t.skipped.is_some()).collect();
        assert_eq!(skipped, [true, true, false]);
        assert_eq!(r.exit_code(), exit_code::OK, "skips do not fail the run");
        let text = render_summary(&r);
        assert!(
            text.contains("SKIP rate_ratio[later] >= 0.95  (\"later\" did not run)"),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert!(
            json["thresholds"][2].get("skipped").is_none(),
            "absent when judged"
        );
    }

    #[test]
    fn json_roundtrip_and_merge_add_exactly() {
        let m = sample();
        let r = report_with(&m);
        let json = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let merged = merge(&[r.clone(), back]).unwrap();
        assert_eq!(merged.sources, 2);
        let p = &merged.phases[0];
        assert_eq!(p.requests.total, 200);
        assert_eq!(p.requests.ok, 196);
        assert_eq!(p.codes.throttled.get("130429"), Some(&2));
        assert_eq!(p.latency.ok.count, 196);
        // Percentiles come from the merged histogram, identical inputs → identical percentiles.
        assert_eq!(p.latency.ok.p99_ms, r.phases[0].latency.ok.p99_ms);
        // Two shards in parallel: same window, twice the rate.
        assert!((p.achieved_rate - 2.0 * r.phases[0].achieved_rate).abs() < 1e-9);
        assert_eq!(merged.total.requests.total, 200);
        let mut other = r.clone();
        other.schema_version = 99;
        assert!(merge(&[r, other])
            .unwrap_err()
            .contains("schema_version 99"));
    }

    #[test]
    fn summary_mentions_the_essentials() {
        let mut r = report_with(&sample());
        r.thresholds = evaluate(&[parse_check("failed < 1").unwrap()], &r);
        let s = render_summary(&r);
        assert!(s.contains("intended send time"));
        assert!(s.contains("steady"));
        assert!(s.contains("throttled 130429 Rate limit hit ×1"), "{s}");
        assert!(s.contains("accepted"), "{s}");
        assert!(s.contains("PASS failed < 1"));
    }
}
