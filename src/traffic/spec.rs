//! Scenario types for the load generator: `[traffic]` (phases, message mix, recipients, the BSP
//! sender policy) and `[thresholds]`.
//!
//! These are plain serde types, every struct `deny_unknown_fields`, so a typo in a scenario is an
//! error naming the key instead of a silently ignored setting. Defaults are documented on each
//! field and implemented in `Default` impls (one place), so a JSON Schema can be derived later.
//! Semantic validation (ranges, cross-field rules, references to numbers and segments) happens
//! when the plan is built, in [`crate::traffic::plan`], where errors name the full field path.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::{Micros, MICROS_PER_MS, MICROS_PER_SEC};

/// A span of time written in a scenario as a string with a unit (`"250ms"`, `"30s"`, `"2m"`,
/// `"1h"`, `"1.5s"`, `"500us"`) or as a bare number of seconds.
///
/// Microseconds inside, like [`crate::clock::SimTime`], because arrival intervals at 20,000 req/s
/// are 50 µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Micros);

impl Dur {
    pub const fn from_secs(s: u64) -> Dur {
        Dur(s * MICROS_PER_SEC)
    }
    pub const fn from_millis(ms: u64) -> Dur {
        Dur(ms * MICROS_PER_MS)
    }
    pub fn as_micros(self) -> Micros {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SEC as f64
    }

    /// Parses `"250ms"`, `"30s"`, `"2m"`, `"1h"`, `"500us"`, `"1.5s"`; a bare number is seconds.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let s = text.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let unit = unit.trim();
        if num.is_empty() {
            return Err(format!(
                "invalid duration {text:?}: expected a number followed by us, ms, s, m or h (e.g. \"30s\")"
            ));
        }
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: {num:?} is not a number"))?;
        let scale = match unit {
            "us" | "µs" => 1.0,
            "ms" => MICROS_PER_MS as f64,
            "" | "s" => MICROS_PER_SEC as f64,
            "m" | "min" => 60.0 * MICROS_PER_SEC as f64,
            "h" => 3600.0 * MICROS_PER_SEC as f64,
            "d" => 86_400.0 * MICROS_PER_SEC as f64,
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (use us, ms, s, m, h or d)"
                ))
            }
        };
        let micros = value * scale;
        if !micros.is_finite() || !(0.0..=1e15).contains(&micros) {
            return Err(format!("invalid duration {text:?}: out of range"));
        }
        Ok(Dur(micros.round() as u64))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us.is_multiple_of(3600 * MICROS_PER_SEC) && us > 0 {
            write!(f, "{}h", us / (3600 * MICROS_PER_SEC))
        } else if us.is_multiple_of(60 * MICROS_PER_SEC) && us > 0 {
            write!(f, "{}m", us / (60 * MICROS_PER_SEC))
        } else if us.is_multiple_of(MICROS_PER_SEC) {
            write!(f, "{}s", us / MICROS_PER_SEC)
        } else if us.is_multiple_of(MICROS_PER_MS) {
            write!(f, "{}ms", us / MICROS_PER_MS)
        } else {
            write!(f, "{us}us")
        }
    }
}

crate::schema::string_schema!(
    Dur,
    "A duration with a unit: \"500us\", \"250ms\", \"30s\", \"2m\", \"1h\", \"7d\" (or a bare number of seconds)."
);

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"250ms\", \"30s\", \"2m\" or a number of seconds")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dur, E> {
                Dur::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dur, E> {
                Dur::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                if v < 0 {
                    return Err(E::custom(format!("invalid duration {v}: negative")));
                }
                self.visit_u64(v as u64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dur, E> {
                Dur::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// The `[traffic]` table: either one sequence of phases (`[[traffic.phases]]`) or several
/// streams that run at the same time (`[[traffic.streams]]`, each with its own phases), plus
/// settings shared by all of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Keep-alive HTTP/1.1 connections the generator keeps open to the target, shared by all
    /// phases. A fixed pool (not one per request) so the generator measures the server, not TCP
    /// handshakes. Default 64.
    #[serde(default = "default_connections")]
    pub connections: u32,
    /// The BSP sender policy under test, for every phase that does not set its own.
    #[serde(default)]
    pub sender: SenderPolicy,
    /// After the last phase or Ctrl-C, how long requests already in flight may finish before they
    /// are abandoned. Default `"5s"`.
    #[serde(default = "default_grace")]
    pub grace: Dur,
    /// The embedded webhook receiver. Absent: no receiver, no webhook section in the report.
    #[serde(default)]
    pub webhooks: Option<WebhookSpec>,
    /// The support desk answering users who wrote in (`text = { to = "window" }` replies).
    #[serde(default)]
    pub conversations: Conversations,
    /// The phases, run in order: one stream. Either this or `streams`.
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// Streams of traffic that run at the same time (a campaign, OTPs, a support desk), each
    /// with its own phases in order. Either this or `phases`.
    #[serde(default)]
    pub streams: Vec<Stream>,
}

/// One `[[traffic.streams]]` entry: a sequence of phases running alongside the other streams,
/// as one client business's traffic runs alongside another's. Its `numbers`, `businesses`,
/// `sender` and `recipients` are the defaults of its phases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    /// Name used in the report and in thresholds (`p99_ms[name]`: the stream's phases
    /// together). Unique among streams and phases. Required.
    pub name: String,
    /// When the stream's first phase starts, after the start of the run. Default `"0s"`.
    #[serde(default)]
    pub start: Dur,
    /// Business phone numbers the stream's phases send from (by id or index), unless a phase
    /// sets its own. Default: the numbers of `businesses`, else all numbers.
    #[serde(default)]
    pub numbers: Vec<NumberRef>,
    /// Business ids whose numbers the stream's phases send from (all their numbers, in
    /// scenario order), unless `numbers` or a phase says otherwise.
    #[serde(default)]
    pub businesses: Vec<String>,
    /// The sender policy of the stream's phases that do not set their own. Default:
    /// `traffic.sender`.
    #[serde(default)]
    pub sender: Option<SenderPolicy>,
    /// The recipients of the stream's phases that do not set their own.
    #[serde(default)]
    pub recipients: Option<RecipientSelection>,
    /// The daily rhythm of the stream's open phases that do not set their own.
    #[serde(default)]
    pub rhythm: Option<crate::traffic::rhythm::Rhythm>,
    /// The phases, run in order. At least one.
    pub phases: Vec<Phase>,
}

fn default_connections() -> u32 {
    64
}
fn default_grace() -> Dur {
    Dur::from_secs(5)
}

/// One `[[traffic.phases]]` entry. Exactly one of `open` or `closed`; at least one of `duration`
/// or `messages` (both: whichever comes first ends the phase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Name used in the report, in thresholds (`p99_ms[name]`) and progress. Unique. Required.
    pub name: String,
    /// How long the phase issues new messages.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// How many messages (first attempts, not retries) the phase issues at most.
    #[serde(default)]
    pub messages: Option<u64>,
    /// Open arrival model: messages arrive on a schedule whatever the server does.
    #[serde(default)]
    pub open: Option<OpenArrival>,
    /// Closed arrival model: N virtual users each send, wait for the outcome, think, repeat.
    #[serde(default)]
    pub closed: Option<ClosedArrival>,
    /// What is sent, by weight. At least one entry.
    #[serde(default)]
    pub mix: Vec<MixEntry>,
    /// Who it is sent to. Default: the stream's `recipients`, else every audience segment
    /// weighted by its size, all new users.
    #[serde(default)]
    pub recipients: Option<RecipientSelection>,
    /// Business phone numbers to send from, by id (string) or by index (integer) into the
    /// scenario's numbers, used round-robin. Default: the stream's numbers, else all numbers.
    #[serde(default)]
    pub numbers: Vec<NumberRef>,
    /// Overrides the stream's or `traffic.sender` for this phase (the whole table; unspecified
    /// keys take the defaults, not the values of `traffic.sender`).
    #[serde(default)]
    pub sender: Option<SenderPolicy>,
}

/// A phone number reference: its id (`"106540352242922"`) or its index in the scenario (`0`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum NumberRef {
    Index(usize),
    Id(String),
}

/// `open = { ... }`: the arrival rate is a function of time since the phase started. Exactly one
/// of `rate` or `ramp`; `spikes` replace the rate during their interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenArrival {
    /// Constant arrival rate in messages per second.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Linear ramp of the rate.
    #[serde(default)]
    pub ramp: Option<Ramp>,
    /// Intervals during which the rate is replaced by a spike rate. Must not overlap.
    #[serde(default)]
    pub spikes: Vec<Spike>,
    /// `"even"` (default): arrivals evenly spaced at the current rate, reproducible to the
    /// microsecond. `"poisson"`: exponential gaps (seeded), closer to real user traffic.
    #[serde(default)]
    pub arrivals: ArrivalProcess,
    /// The rate multiplied by a factor per local hour and weekday of the recipients. Default:
    /// the stream's `rhythm`, else none (flat).
    #[serde(default)]
    pub rhythm: Option<crate::traffic::rhythm::Rhythm>,
}

/// Spacing of open-model arrivals.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalProcess {
    #[default]
    Even,
    Poisson,
}

/// `ramp = { from = 10, to = 500, over = "30s" }`: the rate goes linearly from `from` to `to`
/// over `over` (default: the phase duration), then stays at `to`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ramp {
    /// Rate at the start of the phase, messages per second (may be 0).
    pub from: f64,
    /// Rate at the end of the ramp, messages per second.
    pub to: f64,
    /// Length of the ramp. Default: the phase `duration` (required then).
    #[serde(default)]
    pub over: Option<Dur>,
}

/// `{ at = "10s", duration = "2s", rate = 1000 }`: from `at` (since the phase start) for
/// `duration`, the rate is `rate` messages per second instead of the base rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    pub at: Dur,
    pub duration: Dur,
    pub rate: f64,
}

/// `closed = { concurrency = 50, think = "100ms" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosedArrival {
    /// Virtual users. Each has at most one message in progress (including its retries).
    pub concurrency: u32,
    /// Pause after each message's final outcome before the next. Default `"0s"`. Users start
    /// staggered evenly over one think time so they do not fire in lock-step.
    #[serde(default)]
    pub think: Dur,
}

/// One `[[traffic.phases.mix]]` entry: exactly one of `template`, `text`, `inbound` or
/// `block`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    /// Relative weight. Default 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Send a template message.
    #[serde(default)]
    pub template: Option<TemplateSend>,
    /// Send a free-form text message (only allowed inside the 24 h customer service window).
    #[serde(default)]
    pub text: Option<TextSend>,
    /// Simulate a user writing to the business (`POST /_sim/inbound`), which opens the window.
    #[serde(default)]
    pub inbound: Option<InboundSend>,
    /// Block a user on the sending number (`POST /{phone}/block_users`, one user per
    /// request).
    #[serde(default)]
    pub block: Option<BlockSend>,
}

/// A Block Users request: the sending number blocks one user. Meta lets a business block only
/// users who wrote to it in the last 24 hours; a block of anyone else fails with 139100
/// (131047 for that user).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockSend {
    /// Whom: `"wrote_in"` (default: one of the users who wrote to the sending number earlier
    /// in the run, window open or not; nobody yet: a normal recipient), `"window"` (the
    /// conversation waiting longest for an answer, which the block ends; see
    /// `[traffic.conversations]`), `"any"` (a normal recipient).
    #[serde(default = "wrote_in")]
    pub to: ReplyTarget,
}

fn wrote_in() -> ReplyTarget {
    ReplyTarget::WroteIn
}

fn anyone() -> ReplyTarget {
    ReplyTarget::Any
}

fn default_weight() -> u32 {
    1
}

/// A template send. Parameters may use `{seq}` (message sequence number in the run),
/// `{wa_id}` (the recipient) and `{phase}` (the phase name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSend {
    /// Template name, as registered.
    pub name: String,
    /// Language code. Default `"en_US"`.
    #[serde(default = "default_language")]
    pub language: String,
    /// Body text parameters, in order. Default none (no `components` sent).
    #[serde(default)]
    pub params: Vec<String>,
    /// `"first_seen"`: send `recipient_identity_key_hash` = the recipient's identity key hash
    /// as it was when the BSP first saw them (their first registration), as a BSP that stores
    /// the hash once and never refreshes it would. Matters only with the identity key check on
    /// (`[rules.identity] check = true`): after the user's number is recycled the hash is stale
    /// and the send fails with 137000. Default: no hash.
    #[serde(default)]
    pub identity_hash: Option<IdentityHash>,
    /// Send through the Marketing Messages API (`POST /{phone}/marketing_messages`) with this
    /// `product_policy`: `"cloud_api_fallback"` (Meta's default: a WABA that has not accepted
    /// the terms sends through the Cloud API) or `"strict"` (refused instead, 131055).
    /// Default: the Cloud API (`/messages`).
    #[serde(default)]
    pub marketing_messages: Option<ProductPolicy>,
    /// Whom: `"any"` (default: a recipient of the phase's segments), `"wrote_in"` (a user who
    /// wrote to the sending number earlier in the run) or `"window"` (the conversation waiting
    /// longest for an answer), as for `text`. A user who hid their phone number behind a
    /// username is addressed by `recipient` (their BSUID).
    #[serde(default = "anyone")]
    pub to: ReplyTarget,
}

/// `product_policy` of a Marketing Messages API send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductPolicy {
    CloudApiFallback,
    Strict,
}

/// Which `recipient_identity_key_hash` a template send carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityHash {
    /// The hash of the recipient's first registration (generation 0).
    FirstSeen,
}

fn default_language() -> String {
    "en_US".to_string()
}

/// `[traffic.conversations]`: how agents answer the users who wrote in. Every user message to
/// a business number opens a conversation on that number; `text = { to = "window" }` replies
/// answer them from that number while their customer service window is open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Conversations {
    /// `[min, max]`: an agent answers a conversation no sooner than this long after the user
    /// wrote, drawn uniformly per conversation. Default `["0s", "0s"]`.
    pub agent_delay: [Dur; 2],
    /// Conversations waiting for an answer per business number; users writing in beyond it are
    /// not answered (counted as `overflow`). Default 4096.
    pub capacity: u32,
    /// What a reply does when no conversation is ready on its numbers: `"drop"` (default: not
    /// sent, counted as `no_window`), `"wait"` (answers the next conversation when its agent
    /// delay has passed; dropped when nobody waits), `"send"` (goes to an ordinary recipient,
    /// to be refused with 131047).
    pub no_window: NoWindow,
}

impl Default for Conversations {
    fn default() -> Self {
        Conversations {
            agent_delay: [Dur(0), Dur(0)],
            capacity: 4096,
            no_window: NoWindow::Drop,
        }
    }
}

/// What a window reply does when nobody is waiting for an answer.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NoWindow {
    #[default]
    Drop,
    Wait,
    Send,
}

/// A free-form text send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextSend {
    /// Message body; the same placeholders as template parameters.
    pub body: String,
    /// `"window"` (default): an agent's answer, from the number a user wrote to, while their
    /// window is open (see `[traffic.conversations]`). `"wrote_in"`: a user who wrote to the
    /// sending number earlier in the run, window open or not (closed ones are refused with
    /// 131047); nobody yet: a normal recipient. `"any"`: a normal recipient, to measure
    /// refusals outside the window.
    #[serde(default)]
    pub to: ReplyTarget,
}

/// Who a free-form text goes to.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReplyTarget {
    #[default]
    Window,
    WroteIn,
    Any,
}

/// A simulated inbound user message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundSend {
    /// The user's text. Default `"hi"`.
    #[serde(default = "default_inbound_text")]
    pub text: String,
}

fn default_inbound_text() -> String {
    "hi".to_string()
}

/// `[traffic.phases.recipients]`: how recipients are drawn from the audience.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RecipientSelection {
    /// Audience segment name → relative weight. Default (empty): every segment, weighted by its
    /// size.
    pub segments: BTreeMap<String, f64>,
    /// Share (0..=1) of sends that go to a recipient already messaged earlier in this run;
    /// the rest go to users not messaged yet (once a segment is exhausted, all are returning).
    /// Default 0.
    pub returning: f64,
    /// Number of "hot" recipients per segment (its first `hot` users). Default 0.
    pub hot: u64,
    /// Share (0..=1) of sends that go to a hot recipient, e.g. to provoke the pair rate limit
    /// (131056). Default 0.
    pub hot_share: f64,
}

impl Default for RecipientSelection {
    fn default() -> Self {
        RecipientSelection {
            segments: BTreeMap::new(),
            returning: 0.0,
            hot: 0,
            hot_share: 0.0,
        }
    }
}

/// `[traffic.sender]`: the BSP sender policy being tested.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SenderPolicy {
    /// Messages in progress at once, counting those waiting out a retry backoff. Bounds memory
    /// and models a BSP's send window. Default 1024.
    pub max_in_flight: u32,
    /// Per-request timeout (connect + response). Default `"10s"`.
    pub timeout: Dur,
    /// Retries per message before giving up (attempts = 1 + max_retries). Default 3.
    pub max_retries: u32,
    /// Which outcomes are retried. Default: all retryable kinds.
    pub retry_on: RetryOn,
    /// First backoff of the exponential schedule (base × 2^n). Default `"250ms"`.
    pub backoff_base: Dur,
    /// Cap of the exponential schedule. Default `"30s"`.
    pub backoff_max: Dur,
    /// Jitter as a fraction: each backoff is multiplied by a factor drawn uniformly (seeded)
    /// from [1 − jitter, 1 + jitter]. Default 0.2. 0 gives exact schedules.
    pub jitter: f64,
    /// Base of the pair-rate-limit (131056) schedule, Meta's advice of 4^n seconds:
    /// base × 4^n. Default `"1s"`.
    pub pair_backoff_base: Dur,
    /// Cap of the pair-rate-limit schedule. Default `"5m"`.
    pub pair_backoff_max: Dur,
    /// Pacing per business phone number, messages per second (a BSP-side limiter in front of
    /// Meta's 80 mps). Absent: no pacing.
    pub per_number_rate: Option<f64>,
}

impl Default for SenderPolicy {
    fn default() -> Self {
        SenderPolicy {
            max_in_flight: 1024,
            timeout: Dur::from_secs(10),
            max_retries: 3,
            retry_on: RetryOn::default(),
            backoff_base: Dur::from_millis(250),
            backoff_max: Dur::from_secs(30),
            jitter: 0.2,
            pair_backoff_base: Dur::from_secs(1),
            pair_backoff_max: Dur::from_secs(300),
            per_number_rate: None,
        }
    }
}

/// `[traffic.sender.retry_on]`: which outcome kinds are retried. All default to `true`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetryOn {
    /// Throughput limits: 130429, 4, 80007, and HTTP 429 without a known code.
    pub throughput: bool,
    /// The pair rate limit 131056, on the 4^n schedule.
    pub pair_limit: bool,
    /// HTTP 5xx and transient server codes (1, 2, 131000, 131016, 133004).
    pub server_error: bool,
    /// Request timeouts.
    pub timeout: bool,
    /// Connection errors (refused, reset, protocol errors).
    pub connection: bool,
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            throughput: true,
            pair_limit: true,
            server_error: true,
            timeout: true,
            connection: true,
        }
    }
}

/// `[traffic.webhooks]`: the embedded webhook receiver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Address to listen on. Default `"127.0.0.1:0"` (an ephemeral port, printed at start).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// App secret used to check `X-Hub-Signature-256`. Required.
    pub app_secret: String,
    /// Token expected in the `hub.verify_token` handshake. Default `"wabasim"`.
    #[serde(default = "default_verify_token")]
    pub verify_token: String,
    /// How many sent message ids are remembered to compute send→delivered delay. Older ids are
    /// evicted (and counted) so memory stays bounded. Default 100000.
    #[serde(default = "default_track")]
    pub track: usize,
}

fn default_listen() -> String {
    "127.0.0.1:0".to_string()
}
fn default_verify_token() -> String {
    "wabasim".to_string()
}
fn default_track() -> usize {
    100_000
}

/// `[thresholds]`: pass/fail checks evaluated at the end of the run.
///
/// `checks = ["p99_ms < 250", "throttled_ratio < 0.02", "failed < 1", "p99_ms[steady] < 100"]`:
/// `metric[phase] op number`; without `[phase]` the metric is over the whole run. The list of
/// metrics is in `docs/load.md` and [`crate::load::report::Metric`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// The checks; all must pass. Default none.
    #[serde(default)]
    pub checks: Vec<String>,
}

/// A document holding just the load generator's part of a scenario (`[traffic]` and
/// `[thresholds]`). Other top-level tables are ignored here (they belong to the world model);
/// inside `[traffic]` and `[thresholds]` unknown keys are errors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadScenario {
    #[serde(default)]
    pub traffic: Option<Traffic>,
    #[serde(default)]
    pub thresholds: Option<Thresholds>,
}

impl LoadScenario {
    /// Parses TOML text; errors carry `file:line:column` and toml's description of the key.
    pub fn from_toml_str(text: &str, file: &str) -> Result<LoadScenario, String> {
        toml::from_str(text).map_err(|e| toml_error(text, file, &e))
    }
}

/// Formats a toml error as `file:line:col: message`.
pub fn toml_error(text: &str, file: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            format!("{file}:{line}:{col}: {}", e.message())
        }
        None => format!("{file}: {}", e.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(Dur::parse("250ms").unwrap(), Dur(250_000));
        assert_eq!(Dur::parse("30s").unwrap(), Dur(30_000_000));
        assert_eq!(Dur::parse("1.5s").unwrap(), Dur(1_500_000));
        assert_eq!(Dur::parse("2m").unwrap(), Dur(120_000_000));
        assert_eq!(Dur::parse("1h").unwrap(), Dur(3_600_000_000));
        assert_eq!(Dur::parse("2d").unwrap(), Dur(172_800_000_000));
        assert_eq!(Dur::parse("7").unwrap(), Dur(7_000_000));
        assert_eq!(Dur::parse("50us").unwrap(), Dur(50));
        assert!(Dur::parse("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(Dur::parse("ms").unwrap_err().contains("expected a number"));
        assert_eq!(Dur::from_millis(1500).to_string(), "1500ms");
        assert_eq!(Dur::from_secs(120).to_string(), "2m");
    }

    #[test]
    fn full_traffic_parses_and_defaults_apply() {
        let text = r#"
[traffic]
connections = 8
[traffic.sender]
max_retries = 5
[[traffic.phases]]
name = "warm"
duration = "10s"
open = { ramp = { from = 0, to = 100 } }
[[traffic.phases.mix]]
template = { name = "order_update", params = ["{seq}"] }
[[traffic.phases]]
name = "users"
messages = 100
closed = { concurrency = 4, think = "100ms" }
numbers = [0, "106540352242922"]
[[traffic.phases.mix]]
weight = 3
text = { body = "hello" }
[thresholds]
checks = ["p99_ms < 250"]
"#;
        let s = LoadScenario::from_toml_str(text, "s.toml").unwrap();
        let t = s.traffic.unwrap();
        assert_eq!(t.connections, 8);
        assert_eq!(t.sender.max_retries, 5);
        assert_eq!(t.sender.timeout, Dur::from_secs(10));
        assert_eq!(t.grace, Dur::from_secs(5));
        assert_eq!(t.phases[0].mix[0].weight, 1);
        assert_eq!(
            t.phases[0].mix[0].template.as_ref().unwrap().language,
            "en_US"
        );
        assert_eq!(
            t.phases[1].numbers,
            vec![NumberRef::Index(0), NumberRef::Id("106540352242922".into())]
        );
        assert_eq!(
            t.phases[1].mix[0].text.as_ref().unwrap().to,
            ReplyTarget::Window
        );
        assert_eq!(s.thresholds.unwrap().checks, vec!["p99_ms < 250"]);
    }

    #[test]
    fn unknown_keys_are_rejected_with_line() {
        let text = "[traffic]\n[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = { rate = 1, burst = 3 }\n";
        let err = LoadScenario::from_toml_str(text, "s.toml").unwrap_err();
        assert!(err.starts_with("s.toml:5:"), "{err}");
        assert!(err.contains("unknown field `burst`"), "{err}");

        let text = "[traffic.sender]\nmax_inflight = 3\n[[traffic.phases]]\nname = \"a\"\n";
        let err = LoadScenario::from_toml_str(text, "s.toml").unwrap_err();
        assert!(err.contains("unknown field `max_inflight`"), "{err}");
    }

    #[test]
    fn bad_duration_names_the_problem() {
        let text = "[traffic]\n[[traffic.phases]]\nname = \"a\"\nduration = \"10 sec\"\n";
        let err = LoadScenario::from_toml_str(text, "f.toml").unwrap_err();
        assert!(err.starts_with("f.toml:4:"), "{err}");
        assert!(err.contains("unknown unit"), "{err}");
    }
}
