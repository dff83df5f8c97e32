//! The validated run plan: a `[traffic]` spec resolved against the world it runs in (phone
//! numbers, audience segments, templates), with every check done up front so the runner never
//! meets a bad value. Errors name the full field path.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::{Micros, SimTime};
use crate::traffic::conversations::DeskPlan;
use crate::traffic::rhythm::{
    apply_rhythm, utc_offset_of_country, Rhythm, RhythmCurve, MAX_HORIZON,
};
use crate::traffic::schedule::ClosedSchedule;
use crate::traffic::schedule::RateProfile;
use crate::traffic::shard::Shard;
use crate::traffic::spec::{
    ArrivalProcess, NumberRef, Phase, RecipientSelection, ReplyTarget, SenderPolicy, Stream,
    Thresholds, Traffic, WebhookSpec,
};
use crate::traffic::thresholds::{parse_checks, Check};

/// A set of recipients (WhatsApp ids) that can be indexed without being materialised, so an
/// audience of ten million costs nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecipientPool {
    /// Explicit ids.
    List { wa_ids: Vec<String> },
    /// `prefix` followed by `start + i` zero-padded to `digits`, for i in 0..count; e.g.
    /// prefix "4915", start 0, count 1000, digits 8 → "491500000000" … "491500000999".
    Sequence {
        prefix: String,
        start: u64,
        count: u64,
        digits: usize,
    },
}

impl RecipientPool {
    pub fn len(&self) -> u64 {
        match self {
            RecipientPool::List { wa_ids } => wa_ids.len() as u64,
            RecipientPool::Sequence { count, .. } => *count,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends the wa_id of recipient `i` (taken modulo the pool size) to `out`.
    pub fn write(&self, i: u64, out: &mut String) {
        use std::fmt::Write;
        match self {
            RecipientPool::List { wa_ids } => {
                if !wa_ids.is_empty() {
                    out.push_str(&wa_ids[(i % wa_ids.len() as u64) as usize]);
                }
            }
            RecipientPool::Sequence {
                prefix,
                start,
                count,
                digits,
            } => {
                out.push_str(prefix);
                let n = start.saturating_add(i % (*count).max(1));
                let _ = write!(out, "{n:0width$}", width = *digits);
            }
        }
    }
}

/// A named audience segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub name: String,
    pub pool: RecipientPool,
}

/// What the plan is resolved against: provided by the scenario's world part (or a test).
#[derive(Clone, Debug, Default)]
pub struct PlanContext {
    /// Business phone number ids, in scenario order (index references point here).
    pub phone_numbers: Vec<String>,
    /// The business id owning each of `phone_numbers` (same order), for a stream's
    /// `businesses`. Empty: streams cannot name businesses.
    pub owners: Vec<String>,
    /// Audience segments. At least one when any phase sends to recipients.
    pub segments: Vec<Segment>,
    /// Known templates as (name, language). `None`: not checked here (the server will refuse
    /// unknown ones with 132001, which is a legitimate thing to load-test).
    pub templates: Option<Vec<(String, String)>>,
    /// The customer service window (`rules.service_window_hours`), µs. `None`: 24 h.
    pub service_window: Option<Micros>,
}

/// What a mix entry sends.
#[derive(Clone, Debug, PartialEq)]
pub enum MixKind {
    Template {
        name: String,
        language: String,
        params: Vec<String>,
        /// Send the recipient's first-seen identity key hash (`identity_hash = "first_seen"`).
        identity_first_seen: bool,
        /// Which API it goes through (`marketing_messages = …`).
        channel: crate::engine::message::Channel,
        to: ReplyTarget,
    },
    Text {
        body: String,
        to: ReplyTarget,
    },
    Inbound {
        text: String,
    },
    /// The sending number blocks one user (`POST /{phone}/block_users`).
    Block {
        to: ReplyTarget,
    },
}

impl MixKind {
    /// Whom the entry goes to: a recipient of the segments (`Any`), or a user the desk knows.
    pub fn target(&self) -> ReplyTarget {
        match self {
            MixKind::Template { to, .. } | MixKind::Text { to, .. } | MixKind::Block { to } => *to,
            MixKind::Inbound { .. } => ReplyTarget::Any,
        }
    }
}

/// The arrival model of a phase, ready to schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrival {
    Open {
        /// The rate as written (rate, ramp, spikes), relative to the phase start.
        profile: RateProfile,
        process: ArrivalProcess,
        /// The daily rhythm shaping it, once the phase's start instant is known.
        rhythm: Option<Box<Shape>>,
    },
    Closed(ClosedSchedule),
}

/// A daily rhythm resolved: its factors and the recipients' UTC offset.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub curve: RhythmCurve,
    /// Seconds east of UTC.
    pub utc_offset: i32,
}

/// One validated phase.
#[derive(Clone, Debug)]
pub struct PhasePlan {
    pub name: String,
    /// Index of its stream in [`LoadPlan::streams`].
    pub stream: usize,
    pub arrival: Arrival,
    pub duration: Option<Micros>,
    pub messages: Option<u64>,
    /// (cumulative weight, kind); the draw is a uniform integer below `mix_total`.
    pub mix: Vec<(u64, MixKind)>,
    pub mix_total: u64,
    /// (index into `LoadPlan::segments`, cumulative weight).
    pub segments: Vec<(usize, f64)>,
    pub returning: f64,
    pub hot: u64,
    pub hot_share: f64,
    /// Indices into `LoadPlan::numbers`, used round-robin.
    pub numbers: Vec<usize>,
    pub policy: SenderPolicy,
}

impl PhasePlan {
    pub fn is_open(&self) -> bool {
        matches!(self.arrival, Arrival::Open { .. })
    }

    /// An open phase's rate profile for a phase starting at `start` (µs since the Unix epoch):
    /// the rate as written, shaped by the rhythm's local hours when there is one. `None` for a
    /// closed phase.
    pub fn rate_profile(&self, start: SimTime) -> Option<RateProfile> {
        let Arrival::Open {
            profile, rhythm, ..
        } = &self.arrival
        else {
            return None;
        };
        Some(match rhythm {
            Some(r) => apply_rhythm(
                profile,
                &r.curve,
                start,
                r.utc_offset,
                self.duration.unwrap_or(MAX_HORIZON).min(MAX_HORIZON),
            ),
            None => profile.clone(),
        })
    }
}

/// A stream: phases run one after another, alongside the other streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamPlan {
    /// The stream's name; for the single sequence of `[[traffic.phases]]`, `"traffic"`.
    pub name: String,
    /// Declared with `[[traffic.streams]]` (reported per stream), or the single sequence of
    /// `[[traffic.phases]]` (its total is the run's total: no stream section).
    pub declared: bool,
    /// Delay of its first phase after the start of the run, µs.
    pub start: Micros,
    /// Its phases, indices into [`LoadPlan::phases`], in order.
    pub phases: Vec<usize>,
}

/// The validated plan the runner executes.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// Every phase of every stream, stream after stream (a stream's phases are contiguous).
    pub phases: Vec<PhasePlan>,
    pub streams: Vec<StreamPlan>,
    /// The support desk of window replies.
    pub desk: DeskPlan,
    pub connections: u32,
    pub grace: Micros,
    pub webhooks: Option<WebhookSpec>,
    pub checks: Vec<Check>,
    pub numbers: Vec<String>,
    pub segments: Vec<Segment>,
    /// The share of the traffic this generator sends ([`Shard::WHOLE`] unless
    /// [`LoadPlan::sharded`]): the schedules, the picker and the runner read it.
    pub shard: Shard,
}

impl LoadPlan {
    /// This plan cut to `shard`'s share (see [`crate::traffic::shard`]). Refused when the
    /// traffic cannot be split honestly: every shard needs at least one recipient of each
    /// segment it draws from, one hot recipient when a phase has hot ones, and one virtual
    /// user of each closed phase.
    pub fn sharded(mut self, shard: Shard) -> Result<LoadPlan, PlanError> {
        let n = u64::from(shard.count);
        for ph in &self.phases {
            let path = format!("phase {:?}", ph.name);
            if let Arrival::Closed(c) = &ph.arrival {
                if u64::from(c.concurrency) < n {
                    return err(
                        format!("{path}.closed.concurrency"),
                        format!(
                            "{} virtual users cannot be split over {n} shards (each needs at least one)",
                            c.concurrency
                        ),
                    );
                }
            }
            for &(k, _) in &ph.segments {
                let seg = &self.segments[k];
                if seg.pool.len() < n {
                    return err(
                        format!("{path}.recipients"),
                        format!(
                            "segment {:?} has {} recipients, fewer than the {n} shards (shards never share a recipient)",
                            seg.name,
                            seg.pool.len()
                        ),
                    );
                }
            }
            if ph.hot_share > 0.0 && ph.hot < n {
                return err(
                    format!("{path}.recipients.hot"),
                    format!(
                        "{} hot recipients cannot be split over {n} shards (each needs at least one)",
                        ph.hot
                    ),
                );
            }
        }
        self.shard = shard;
        Ok(self)
    }

    /// Whether any phase answers users in their window (`to = "window"`): the reports then
    /// carry the desk's counts.
    pub fn has_window_replies(&self) -> bool {
        self.phases
            .iter()
            .any(|p| p.mix.iter().any(|(_, k)| k.target() == ReplyTarget::Window))
    }
}

/// A plan error: the field path and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for PlanError {}

fn err<T>(path: impl Into<String>, message: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError {
        path: path.into(),
        message: message.into(),
    })
}

fn check_rate(path: &str, r: f64) -> Result<(), PlanError> {
    if !r.is_finite() || r < 0.0 {
        return err(
            path,
            format!("must be a finite rate ≥ 0 messages/s (got {r})"),
        );
    }
    if r > 10_000_000.0 {
        return err(
            path,
            format!("{r} messages/s is beyond what one generator can issue"),
        );
    }
    Ok(())
}

fn check_share(path: &str, v: f64) -> Result<(), PlanError> {
    if !(0.0..=1.0).contains(&v) {
        return err(path, format!("must be between 0 and 1 (got {v})"));
    }
    Ok(())
}

fn check_policy(path: &str, p: &SenderPolicy) -> Result<(), PlanError> {
    if p.max_in_flight == 0 {
        return err(format!("{path}.max_in_flight"), "must be at least 1");
    }
    if p.timeout.0 == 0 {
        return err(format!("{path}.timeout"), "must be longer than 0");
    }
    if !(0.0..=1.0).contains(&p.jitter) {
        return err(
            format!("{path}.jitter"),
            format!("must be between 0 and 1 (got {})", p.jitter),
        );
    }
    if p.backoff_max < p.backoff_base {
        return err(format!("{path}.backoff_max"), "must be ≥ backoff_base");
    }
    if p.pair_backoff_max < p.pair_backoff_base {
        return err(
            format!("{path}.pair_backoff_max"),
            "must be ≥ pair_backoff_base",
        );
    }
    if let Some(r) = p.per_number_rate {
        if !r.is_finite() || r <= 0.0 {
            return err(
                format!("{path}.per_number_rate"),
                format!("must be > 0 messages/s (got {r})"),
            );
        }
    }
    Ok(())
}

impl LoadPlan {
    /// Validates `traffic` and `thresholds` against `ctx` and resolves every reference.
    pub fn build(
        traffic: &Traffic,
        thresholds: Option<&Thresholds>,
        ctx: PlanContext,
    ) -> Result<LoadPlan, PlanError> {
        if traffic.connections == 0 {
            return err("traffic.connections", "must be at least 1");
        }
        if traffic.connections > 10_000 {
            return err(
                "traffic.connections",
                format!("{} is more than 10000", traffic.connections),
            );
        }
        check_policy("traffic.sender", &traffic.sender)?;
        if let Some(w) = &traffic.webhooks {
            if w.listen.parse::<std::net::SocketAddr>().is_err() {
                return err(
                    "traffic.webhooks.listen",
                    format!("{:?} is not an address such as \"127.0.0.1:0\"", w.listen),
                );
            }
            if w.track == 0 {
                return err("traffic.webhooks.track", "must be at least 1");
            }
        }
        if ctx.phone_numbers.is_empty() {
            return err(
                "traffic",
                "the scenario has no business phone numbers to send from",
            );
        }
        let all: Vec<usize> = (0..ctx.phone_numbers.len()).collect();
        let mut phases = Vec::new();
        let mut streams = Vec::new();
        match (traffic.phases.is_empty(), traffic.streams.is_empty()) {
            (false, false) => {
                return err(
                    "traffic",
                    "set either `[[traffic.phases]]` (one sequence) or `[[traffic.streams]]` (several at once), not both",
                )
            }
            (true, true) => {
                return err(
                    "traffic.phases",
                    "at least one phase is required (or `[[traffic.streams]]`)",
                )
            }
            (false, true) => {
                let defaults = Defaults {
                    numbers: &all,
                    sender: &traffic.sender,
                    recipients: None,
                    rhythm: None,
                };
                let list = build_phases("traffic.phases", &traffic.phases, 0, &defaults, &ctx, &mut phases)?;
                streams.push(StreamPlan {
                    name: "traffic".into(),
                    declared: false,
                    start: 0,
                    phases: list,
                });
            }
            (true, false) => {
                for (k, st) in traffic.streams.iter().enumerate() {
                    let path = format!("traffic.streams[{k}] ({:?})", st.name);
                    check_name(&path, &st.name)?;
                    if traffic.streams[..k].iter().any(|o| o.name == st.name) {
                        return err(format!("{path}.name"), "stream names must be unique");
                    }
                    if st.phases.is_empty() {
                        return err(format!("{path}.phases"), "at least one phase is required");
                    }
                    let numbers = stream_numbers(&path, st, &ctx, &all)?;
                    if let Some(p) = &st.sender {
                        check_policy(&format!("{path}.sender"), p)?;
                    }
                    if let Some(r) = &st.rhythm {
                        r.validate().map_err(|m| PlanError {
                            path: format!("{path}.rhythm"),
                            message: m,
                        })?;
                    }
                    let defaults = Defaults {
                        numbers: &numbers,
                        sender: st.sender.as_ref().unwrap_or(&traffic.sender),
                        recipients: st.recipients.as_ref(),
                        rhythm: st.rhythm.as_ref(),
                    };
                    let list = build_phases(&format!("{path}.phases"), &st.phases, k, &defaults, &ctx, &mut phases)?;
                    streams.push(StreamPlan {
                        name: st.name.clone(),
                        declared: true,
                        start: st.start.0,
                        phases: list,
                    });
                }
                for st in &streams {
                    if let Some(p) = phases.iter().find(|p| p.name == st.name) {
                        return err(
                            format!("traffic.streams ({:?})", st.name),
                            format!("a stream and a phase are both named {:?}: names must be unique (thresholds use them)", p.name),
                        );
                    }
                }
            }
        }
        let checks = match thresholds {
            Some(t) => parse_checks(&t.checks).map_err(|(i, m)| PlanError {
                path: format!("thresholds.checks[{i}]"),
                message: m,
            })?,
            None => Vec::new(),
        };
        for (i, c) in checks.iter().enumerate() {
            if let Some(p) = &c.phase {
                let stream = streams.iter().any(|s| s.declared && &s.name == p);
                if !stream && !phases.iter().any(|ph| &ph.name == p) {
                    return err(
                        format!("thresholds.checks[{i}]"),
                        format!("{:?}: no phase or stream named {p:?}", c.text),
                    );
                }
            }
        }
        let c = &traffic.conversations;
        let [lo, hi] = c.agent_delay;
        if lo > hi {
            return err(
                "traffic.conversations.agent_delay",
                format!("min {lo} is above max {hi}"),
            );
        }
        if c.capacity == 0 || c.capacity > 1_000_000 {
            return err(
                "traffic.conversations.capacity",
                format!("must be between 1 and 1000000 (got {})", c.capacity),
            );
        }
        let desk = DeskPlan {
            delay: [lo.0, hi.0],
            capacity: c.capacity as usize,
            no_window: c.no_window,
            window: ctx
                .service_window
                .unwrap_or(24 * crate::clock::MICROS_PER_HOUR),
        };
        Ok(LoadPlan {
            phases,
            streams,
            desk,
            connections: traffic.connections,
            grace: traffic.grace.0,
            webhooks: traffic.webhooks.clone(),
            checks,
            numbers: ctx.phone_numbers,
            segments: ctx.segments,
            shard: Shard::WHOLE,
        })
    }
}

/// What a stream gives the phases that do not set their own.
struct Defaults<'a> {
    numbers: &'a [usize],
    sender: &'a SenderPolicy,
    recipients: Option<&'a RecipientSelection>,
    rhythm: Option<&'a Rhythm>,
}

/// Names are used in thresholds (`metric[name]`) and reports.
fn check_name(path: &str, name: &str) -> Result<(), PlanError> {
    if name.trim().is_empty() {
        return err(format!("{path}.name"), "must not be empty");
    }
    if name.contains(['[', ']']) {
        return err(
            format!("{path}.name"),
            "must not contain '[' or ']' (used by threshold syntax)",
        );
    }
    Ok(())
}

/// Builds a stream's phases into `out`; returns their indices. Phase names are unique across
/// all streams.
fn build_phases(
    path: &str,
    list: &[Phase],
    stream: usize,
    defaults: &Defaults,
    ctx: &PlanContext,
    out: &mut Vec<PhasePlan>,
) -> Result<Vec<usize>, PlanError> {
    let mut indices = Vec::with_capacity(list.len());
    for (i, ph) in list.iter().enumerate() {
        let p = format!("{path}[{i}] ({:?})", ph.name);
        if out.iter().any(|o| o.name == ph.name) {
            return err(format!("{p}.name"), "phase names must be unique");
        }
        let mut plan = build_phase(&p, ph, defaults, ctx)?;
        plan.stream = stream;
        indices.push(out.len());
        out.push(plan);
    }
    Ok(indices)
}

/// A stream's default numbers: `numbers`, else the numbers of `businesses`, else all.
fn stream_numbers(
    path: &str,
    st: &Stream,
    ctx: &PlanContext,
    all: &[usize],
) -> Result<Vec<usize>, PlanError> {
    if !st.numbers.is_empty() && !st.businesses.is_empty() {
        return err(path, "set `numbers` or `businesses`, not both");
    }
    if !st.numbers.is_empty() {
        return resolve_numbers(&format!("{path}.numbers"), &st.numbers, ctx);
    }
    if st.businesses.is_empty() {
        return Ok(all.to_vec());
    }
    let mut v = Vec::new();
    for (j, b) in st.businesses.iter().enumerate() {
        let owned: Vec<usize> = (0..ctx.phone_numbers.len())
            .filter(|&k| ctx.owners.get(k) == Some(b))
            .collect();
        if owned.is_empty() {
            return err(
                format!("{path}.businesses[{j}]"),
                format!("no business {b:?} with phone numbers in the scenario"),
            );
        }
        v.extend(owned);
    }
    Ok(v)
}

/// Resolves number references (ids or indices) against the scenario's numbers.
fn resolve_numbers(
    path: &str,
    refs: &[NumberRef],
    ctx: &PlanContext,
) -> Result<Vec<usize>, PlanError> {
    let mut v = Vec::with_capacity(refs.len());
    for (j, n) in refs.iter().enumerate() {
        let np = format!("{path}[{j}]");
        v.push(match n {
            NumberRef::Index(k) if *k < ctx.phone_numbers.len() => *k,
            NumberRef::Index(k) => {
                return err(
                    np,
                    format!(
                        "index {k} out of range (the scenario has {} numbers)",
                        ctx.phone_numbers.len()
                    ),
                )
            }
            NumberRef::Id(id) => match ctx.phone_numbers.iter().position(|p| p == id) {
                Some(k) => k,
                None => return err(np, format!("no phone number with id {id:?}")),
            },
        });
    }
    Ok(v)
}

fn build_phase(
    path: &str,
    ph: &Phase,
    defaults: &Defaults,
    ctx: &PlanContext,
) -> Result<PhasePlan, PlanError> {
    check_name(path, &ph.name)?;
    if ph.duration.is_none() && ph.messages.is_none() {
        return err(
            path,
            "set `duration` or `messages` (or both: whichever comes first ends the phase)",
        );
    }
    if ph.duration == Some(crate::traffic::spec::Dur(0)) {
        return err(format!("{path}.duration"), "must be longer than 0");
    }
    if ph.messages == Some(0) {
        return err(format!("{path}.messages"), "must be at least 1");
    }
    let duration = ph.duration.map(|d| d.0);
    let arrival = match (&ph.open, &ph.closed) {
        (Some(_), Some(_)) => return err(path, "set either `open` or `closed`, not both"),
        (None, None) => return err(path, "an arrival model is required: `open = { rate = .. }` or `closed = { concurrency = .. }`"),
        (Some(o), None) => {
            let op = format!("{path}.open");
            match (&o.rate, &o.ramp) {
                (Some(_), Some(_)) => return err(&op, "set either `rate` or `ramp`, not both"),
                (None, None) => return err(&op, "set `rate` or `ramp`"),
                (Some(r), None) => check_rate(&format!("{op}.rate"), *r)?,
                (None, Some(ramp)) => {
                    check_rate(&format!("{op}.ramp.from"), ramp.from)?;
                    check_rate(&format!("{op}.ramp.to"), ramp.to)?;
                    match ramp.over {
                        Some(d) if d.0 == 0 => return err(format!("{op}.ramp.over"), "must be longer than 0"),
                        None if duration.is_none() => {
                            return err(format!("{op}.ramp.over"), "required when the phase has no `duration`")
                        }
                        _ => {}
                    }
                }
            }
            let mut last_end = 0;
            for (j, s) in o.spikes.iter().enumerate() {
                let sp = format!("{op}.spikes[{j}]");
                check_rate(&format!("{sp}.rate"), s.rate)?;
                if s.duration.0 == 0 {
                    return err(format!("{sp}.duration"), "must be longer than 0");
                }
                if j > 0 && s.at.0 < last_end {
                    return err(format!("{sp}.at"), "spikes must be in time order and must not overlap");
                }
                last_end = s.at.0.saturating_add(s.duration.0);
            }
            let profile = RateProfile::from_open(o, duration);
            let ever = profile.inverse_from(0.5, 0).is_some();
            if !ever {
                return err(&op, "the rate is 0 throughout: no message would ever be sent");
            }
            Arrival::Open {
                profile,
                process: o.arrivals,
                rhythm: None,
            }
        }
        (None, Some(c)) => {
            if c.concurrency == 0 {
                return err(format!("{path}.closed.concurrency"), "must be at least 1");
            }
            if c.concurrency > 100_000 {
                return err(format!("{path}.closed.concurrency"), "more than 100000 virtual users");
            }
            Arrival::Closed(ClosedSchedule::from_spec(c))
        }
    };

    if ph.mix.is_empty() {
        return err(
            format!("{path}.mix"),
            "at least one `[[traffic.phases.mix]]` entry is required",
        );
    }
    let mut mix = Vec::with_capacity(ph.mix.len());
    let mut total = 0u64;
    let mut needs_recipients = false;
    for (j, m) in ph.mix.iter().enumerate() {
        let mp = format!("{path}.mix[{j}]");
        let kinds = m.template.is_some() as u8
            + m.text.is_some() as u8
            + m.inbound.is_some() as u8
            + m.block.is_some() as u8;
        if kinds != 1 {
            return err(
                &mp,
                "set exactly one of `template`, `text`, `inbound` or `block`",
            );
        }
        if m.weight == 0 {
            continue;
        }
        let kind = if let Some(t) = &m.template {
            if t.name.is_empty() {
                return err(format!("{mp}.template.name"), "must not be empty");
            }
            if let Some(known) = &ctx.templates {
                if !known.iter().any(|(n, l)| n == &t.name && l == &t.language) {
                    return err(
                        format!("{mp}.template"),
                        format!(
                            "no template {:?} in language {:?} in the scenario",
                            t.name, t.language
                        ),
                    );
                }
            }
            MixKind::Template {
                name: t.name.clone(),
                language: t.language.clone(),
                params: t.params.clone(),
                identity_first_seen: t.identity_hash.is_some(),
                channel: match t.marketing_messages {
                    None => crate::engine::message::Channel::CloudApi,
                    Some(p) => crate::engine::message::Channel::MarketingMessages {
                        strict: p == super::spec::ProductPolicy::Strict,
                    },
                },
                to: t.to,
            }
        } else if let Some(t) = &m.text {
            MixKind::Text {
                body: t.body.clone(),
                to: t.to,
            }
        } else if let Some(t) = &m.inbound {
            MixKind::Inbound {
                text: t.text.clone(),
            }
        } else if let Some(b) = &m.block {
            MixKind::Block { to: b.to }
        } else {
            unreachable_kind()
        };
        needs_recipients = true;
        total += u64::from(m.weight);
        mix.push((total, kind));
    }
    if total == 0 {
        return err(format!("{path}.mix"), "all weights are 0");
    }

    let default_recipients = RecipientSelection::default();
    let r = ph
        .recipients
        .as_ref()
        .or(defaults.recipients)
        .unwrap_or(&default_recipients);
    let rp = format!("{path}.recipients");
    check_share(&format!("{rp}.returning"), r.returning)?;
    check_share(&format!("{rp}.hot_share"), r.hot_share)?;
    if r.hot_share > 0.0 && r.hot == 0 {
        return err(
            format!("{rp}.hot"),
            "hot_share > 0 needs hot ≥ 1 recipients",
        );
    }
    let mut segments = Vec::new();
    let mut acc = 0.0;
    if needs_recipients {
        if ctx.segments.iter().all(|s| s.pool.is_empty()) {
            return err(&rp, "the audience is empty: no recipients to send to");
        }
        if r.segments.is_empty() {
            for (k, s) in ctx.segments.iter().enumerate() {
                if !s.pool.is_empty() {
                    acc += s.pool.len() as f64;
                    segments.push((k, acc));
                }
            }
        } else {
            for (name, w) in &r.segments {
                let Some(k) = ctx.segments.iter().position(|s| &s.name == name) else {
                    let known: Vec<&str> = ctx.segments.iter().map(|s| s.name.as_str()).collect();
                    return err(
                        format!("{rp}.segments.{name}"),
                        format!("no audience segment {name:?} (known: {known:?})"),
                    );
                };
                if !w.is_finite() || *w < 0.0 {
                    return err(
                        format!("{rp}.segments.{name}"),
                        format!("weight must be ≥ 0 (got {w})"),
                    );
                }
                if ctx.segments[k].pool.is_empty() {
                    return err(format!("{rp}.segments.{name}"), "segment has no recipients");
                }
                if *w > 0.0 {
                    acc += w;
                    segments.push((k, acc));
                }
            }
            if segments.is_empty() {
                return err(format!("{rp}.segments"), "all weights are 0");
            }
        }
    }

    let numbers = if ph.numbers.is_empty() {
        defaults.numbers.to_vec()
    } else {
        resolve_numbers(&format!("{path}.numbers"), &ph.numbers, ctx)?
    };
    let mut arrival = arrival;
    if let (
        Arrival::Open {
            profile, rhythm, ..
        },
        Some(o),
    ) = (&mut arrival, &ph.open)
    {
        if let Some(r) = o.rhythm.as_ref().or(defaults.rhythm) {
            let rp = format!("{path}.open.rhythm");
            let curve = r.curve().map_err(|m| PlanError {
                path: rp.clone(),
                message: m,
            })?;
            let utc_offset = r
                .utc_offset()
                .map_err(|m| PlanError {
                    path: rp.clone(),
                    message: m,
                })?
                .unwrap_or_else(|| market_offset(&segments, ctx));
            let peak = profile
                .segments()
                .iter()
                .map(|s| s.r0.max(s.r1))
                .fold(0.0, f64::max);
            check_rate(&rp, peak * curve.max_factor())?;
            *rhythm = Some(Box::new(Shape { curve, utc_offset }));
        }
    }
    let policy = ph.sender.clone().unwrap_or_else(|| defaults.sender.clone());
    if ph.sender.is_some() {
        check_policy(&format!("{path}.sender"), &policy)?;
    }
    Ok(PhasePlan {
        name: ph.name.clone(),
        stream: 0,
        arrival,
        duration,
        messages: ph.messages,
        mix,
        mix_total: total,
        segments,
        returning: r.returning,
        hot: r.hot,
        hot_share: r.hot_share,
        numbers,
        policy,
    })
}

/// The UTC offset of the recipients' market: the country of the calling code of the phase's
/// most weighted segment (its first recipient), UTC when unknown.
fn market_offset(segments: &[(usize, f64)], ctx: &PlanContext) -> i32 {
    let mut best: Option<(usize, f64)> = None;
    let mut prev = 0.0;
    for &(k, cum) in segments {
        let w = cum - prev;
        prev = cum;
        if best.is_none_or(|(_, b)| w > b) {
            best = Some((k, w));
        }
    }
    let Some((k, _)) = best else { return 0 };
    let Some(seg) = ctx.segments.get(k) else {
        return 0;
    };
    let mut first = String::new();
    seg.pool.write(0, &mut first);
    let digits: String = first.chars().filter(char::is_ascii_digit).collect();
    crate::pricing::countries::iso_of_number(&digits)
        .and_then(utc_offset_of_country)
        .unwrap_or(0)
}

/// The `kinds != 1` check above makes this unreachable; a cold function instead of a panic.
#[cold]
fn unreachable_kind() -> MixKind {
    MixKind::Inbound {
        text: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::spec::LoadScenario;

    pub(crate) fn ctx() -> PlanContext {
        PlanContext {
            phone_numbers: vec!["111".into(), "222".into()],
            owners: vec!["1".into(), "2".into()],
            segments: vec![Segment {
                name: "all".into(),
                pool: RecipientPool::Sequence {
                    prefix: "49".into(),
                    start: 0,
                    count: 1000,
                    digits: 6,
                },
            }],
            templates: None,
            service_window: None,
        }
    }

    fn build(text: &str) -> Result<LoadPlan, String> {
        let s = LoadScenario::from_toml_str(text, "t.toml")?;
        LoadPlan::build(s.traffic.as_ref().unwrap(), s.thresholds.as_ref(), ctx())
            .map_err(|e| e.to_string())
    }

    const MIX: &str = "[[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n";

    #[test]
    fn sequence_pool_formats_ids() {
        let p = RecipientPool::Sequence {
            prefix: "4915".into(),
            start: 7,
            count: 10,
            digits: 8,
        };
        let mut s = String::new();
        p.write(3, &mut s);
        assert_eq!(s, "491500000010");
        s.clear();
        p.write(13, &mut s);
        assert_eq!(s, "491500000010", "wraps modulo the pool size");
    }

    #[test]
    fn valid_plan_resolves_references() {
        let p = build(&format!(
            "[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = {{ rate = 5 }}\nnumbers = [\"222\", 0]\n{MIX}\
             [thresholds]\nchecks = [\"p99_ms[a] < 5\"]\n"
        ))
        .unwrap();
        assert_eq!(p.phases[0].numbers, vec![1, 0]);
        assert_eq!(p.phases[0].segments, vec![(0, 1000.0)]);
        assert_eq!(p.checks.len(), 1);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("name = \"a\"\nopen = { rate = 5 }\n", "traffic.phases[0] (\"a\"): set `duration` or `messages`"),
            ("name = \"a\"\nduration = \"1s\"\n", "an arrival model is required"),
            ("name = \"a\"\nduration = \"1s\"\nopen = { rate = -1 }\n", "traffic.phases[0] (\"a\").open.rate: must be a finite rate"),
            ("name = \"a\"\nduration = \"1s\"\nopen = { rate = 0 }\n", "the rate is 0 throughout"),
            ("name = \"a\"\nmessages = 5\nopen = { ramp = { from = 1, to = 2 } }\n", ".open.ramp.over: required"),
            ("name = \"a\"\nduration = \"1s\"\nopen = { rate = 1 }\nnumbers = [5]\n", ".numbers[0]: index 5 out of range"),
            ("name = \"a\"\nduration = \"1s\"\nopen = { rate = 1 }\nnumbers = [\"9\"]\n", "no phone number with id \"9\""),
            ("name = \"a\"\nduration = \"1s\"\nclosed = { concurrency = 0 }\n", ".closed.concurrency: must be at least 1"),
            ("name = \"a\"\nduration = \"1s\"\nopen = { rate = 1 }\nrecipients = { segments = { vip = 1 } }\n", ".recipients.segments.vip: no audience segment"),
            ("name = \"a\"\nduration = \"1s\"\nopen = { rate = 1 }\nrecipients = { hot_share = 2.0 }\n", ".recipients.hot_share: must be between 0 and 1"),
            ("name = \"a\"\nduration = \"1s\"\nopen = { rate = 1, spikes = [{ at = \"2s\", duration = \"1s\", rate = 5 }, { at = \"1s\", duration = \"1s\", rate = 5 }] }\n", ".open.spikes[1].at: spikes must be in time order"),
        ];
        for (phase, want) in cases {
            let got = build(&format!("[[traffic.phases]]\n{phase}{MIX}")).unwrap_err();
            assert!(got.contains(want), "want {want:?} in {got:?}");
        }
        let got =
            build("[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = { rate = 1 }\n")
                .unwrap_err();
        assert!(got.contains(".mix: at least one"), "{got}");
        let got = build(&format!(
            "[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = {{ rate = 1 }}\n[[traffic.phases.mix]]\nweight = 1\n{}",
            ""
        ))
        .unwrap_err();
        assert!(got.contains("mix[0]: set exactly one of"), "{got}");
        let got = build(&format!(
            "[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = {{ rate = 1 }}\n{MIX}[thresholds]\nchecks = [\"p99_ms[b] < 1\"]\n"
        ))
        .unwrap_err();
        assert!(
            got.contains("thresholds.checks[0]: \"p99_ms[b] < 1\": no phase or stream named \"b\""),
            "{got}"
        );
    }

    const STREAMS: &str = r#"
[[traffic.streams]]
name = "campaign"
businesses = ["2"]
sender = { max_retries = 7 }
recipients = { returning = 0.5 }
[[traffic.streams.phases]]
name = "blast"
duration = "1s"
open = { rate = 5 }
[[traffic.streams.phases.mix]]
template = { name = "t" }
[[traffic.streams.phases]]
name = "tail"
duration = "1s"
open = { rate = 1 }
recipients = { returning = 0.1 }
[[traffic.streams.phases.mix]]
template = { name = "t" }
[[traffic.streams]]
name = "otp"
start = "2s"
[[traffic.streams.phases]]
name = "codes"
duration = "1s"
open = { rate = 5 }
numbers = [0]
[[traffic.streams.phases.mix]]
template = { name = "t" }
"#;

    #[test]
    fn streams_resolve_their_defaults() {
        let p = build(&format!(
            "{STREAMS}[thresholds]\nchecks = [\"p99_ms[campaign] < 5\", \"failed[codes] < 1\"]\n"
        ))
        .unwrap();
        assert_eq!(p.streams.len(), 2);
        assert_eq!(p.streams[0].phases, vec![0, 1]);
        assert_eq!(p.streams[1].phases, vec![2]);
        assert_eq!(p.streams[1].start, 2_000_000);
        assert!(p.streams.iter().all(|s| s.declared));
        // The stream's business gives its numbers; a phase's own numbers win.
        assert_eq!(p.phases[0].numbers, vec![1]);
        assert_eq!(p.phases[2].numbers, vec![0]);
        assert_eq!(p.phases[2].stream, 1);
        // The stream's sender and recipients are its phases' defaults.
        assert_eq!(p.phases[0].policy.max_retries, 7);
        assert_eq!(p.phases[2].policy.max_retries, 3);
        assert_eq!(p.phases[0].returning, 0.5);
        assert_eq!(p.phases[1].returning, 0.1);
        // A stream's rhythm shapes its open phases; its time zone defaults to the recipients'
        // market (the test audience is +49…: Germany, UTC+1 without DST).
        let q = build(&STREAMS.replace(
            "recipients = { returning = 0.5 }",
            "recipients = { returning = 0.5 }\nrhythm = { profile = \"evening-peak\" }",
        ))
        .unwrap();
        let Arrival::Open {
            rhythm: Some(shape),
            ..
        } = &q.phases[1].arrival
        else {
            panic!("the stream's rhythm applies")
        };
        assert_eq!(shape.utc_offset, 3600);
        assert!(matches!(
            &q.phases[2].arrival,
            Arrival::Open { rhythm: None, .. }
        ));
        // The single sequence is one stream, not declared.
        let q = build(&format!(
            "[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = {{ rate = 5 }}\n{MIX}"
        ))
        .unwrap();
        assert_eq!(q.streams.len(), 1);
        assert!(!q.streams[0].declared);
    }

    #[test]
    fn stream_errors_name_the_field() {
        let phase = format!(
            "[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = {{ rate = 5 }}\n{MIX}"
        );
        let got = build(&format!("{phase}{STREAMS}")).unwrap_err();
        assert!(got.contains("not both"), "{got}");
        let got = build(&STREAMS.replace("name = \"otp\"", "name = \"campaign\"")).unwrap_err();
        assert!(
            got.contains("traffic.streams[1] (\"campaign\").name: stream names must be unique"),
            "{got}"
        );
        let got = build(&STREAMS.replace("name = \"codes\"", "name = \"blast\"")).unwrap_err();
        assert!(got.contains("traffic.streams[1] (\"otp\").phases[0] (\"blast\").name: phase names must be unique"), "{got}");
        let got = build(&STREAMS.replace("name = \"codes\"", "name = \"otp\"")).unwrap_err();
        assert!(
            got.contains("a stream and a phase are both named \"otp\""),
            "{got}"
        );
        let got =
            build(&STREAMS.replace("businesses = [\"2\"]", "businesses = [\"9\"]")).unwrap_err();
        assert!(
            got.contains("traffic.streams[0] (\"campaign\").businesses[0]: no business \"9\""),
            "{got}"
        );
        let got = build(&STREAMS.replace(
            "businesses = [\"2\"]",
            "businesses = [\"2\"]\nnumbers = [0]",
        ))
        .unwrap_err();
        assert!(
            got.contains("set `numbers` or `businesses`, not both"),
            "{got}"
        );
        let got =
            build(&STREAMS.replace("sender = { max_retries = 7 }", "sender = { jitter = 3.0 }"))
                .unwrap_err();
        assert!(
            got.contains("traffic.streams[0] (\"campaign\").sender.jitter"),
            "{got}"
        );
    }
}
