//! The validated run plan: a `[traffic]` spec resolved against the world it runs in (phone
//! numbers, audience segments, templates), with every check done up front so the runner never
//! meets a bad value. Errors name the full field path.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Micros;
use crate::traffic::schedule::{ClosedSchedule, RateProfile};
use crate::traffic::spec::{
    ArrivalProcess, NumberRef, Phase, ReplyTarget, SenderPolicy, Thresholds, Traffic, WebhookSpec,
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
    /// Audience segments. At least one when any phase sends to recipients.
    pub segments: Vec<Segment>,
    /// Known templates as (name, language). `None`: not checked here (the server will refuse
    /// unknown ones with 132001, which is a legitimate thing to load-test).
    pub templates: Option<Vec<(String, String)>>,
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
    },
    Text {
        body: String,
        to: ReplyTarget,
    },
    Inbound {
        text: String,
    },
}

/// The arrival model of a phase, ready to schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrival {
    Open {
        profile: RateProfile,
        process: ArrivalProcess,
    },
    Closed(ClosedSchedule),
}

/// One validated phase.
#[derive(Clone, Debug)]
pub struct PhasePlan {
    pub name: String,
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
}

/// The validated plan the runner executes.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub phases: Vec<PhasePlan>,
    pub connections: u32,
    pub grace: Micros,
    pub webhooks: Option<WebhookSpec>,
    pub checks: Vec<Check>,
    pub numbers: Vec<String>,
    pub segments: Vec<Segment>,
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
        if traffic.phases.is_empty() {
            return err("traffic.phases", "at least one phase is required");
        }
        if ctx.phone_numbers.is_empty() {
            return err(
                "traffic.phases",
                "the scenario has no business phone numbers to send from",
            );
        }
        let mut phases = Vec::with_capacity(traffic.phases.len());
        for (i, ph) in traffic.phases.iter().enumerate() {
            let path = format!("traffic.phases[{i}] ({:?})", ph.name);
            if traffic.phases[..i].iter().any(|p| p.name == ph.name) {
                return err(format!("{path}.name"), "phase names must be unique");
            }
            phases.push(build_phase(&path, ph, traffic, &ctx)?);
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
                if !phases.iter().any(|ph| &ph.name == p) {
                    return err(
                        format!("thresholds.checks[{i}]"),
                        format!("{:?}: no phase named {p:?}", c.text),
                    );
                }
            }
        }
        Ok(LoadPlan {
            phases,
            connections: traffic.connections,
            grace: traffic.grace.0,
            webhooks: traffic.webhooks.clone(),
            checks,
            numbers: ctx.phone_numbers,
            segments: ctx.segments,
        })
    }
}

fn build_phase(
    path: &str,
    ph: &Phase,
    traffic: &Traffic,
    ctx: &PlanContext,
) -> Result<PhasePlan, PlanError> {
    if ph.name.trim().is_empty() {
        return err(format!("{path}.name"), "must not be empty");
    }
    if ph.name.contains(['[', ']']) {
        return err(
            format!("{path}.name"),
            "must not contain '[' or ']' (used by threshold syntax)",
        );
    }
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
        let kinds = m.template.is_some() as u8 + m.text.is_some() as u8 + m.inbound.is_some() as u8;
        if kinds != 1 {
            return err(&mp, "set exactly one of `template`, `text` or `inbound`");
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

    let r = &ph.recipients;
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
        (0..ctx.phone_numbers.len()).collect()
    } else {
        let mut v = Vec::with_capacity(ph.numbers.len());
        for (j, n) in ph.numbers.iter().enumerate() {
            let np = format!("{path}.numbers[{j}]");
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
        v
    };
    let policy = ph.sender.clone().unwrap_or_else(|| traffic.sender.clone());
    if ph.sender.is_some() {
        check_policy(&format!("{path}.sender"), &policy)?;
    }
    Ok(PhasePlan {
        name: ph.name.clone(),
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
            got.contains("thresholds.checks[0]: \"p99_ms[b] < 1\": no phase named \"b\""),
            "{got}"
        );
    }
}
