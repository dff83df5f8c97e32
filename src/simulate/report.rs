//! The simulation report: one model, rendered as a terminal summary (here), JSON (serde, field
//! order fixed by the struct, maps ordered), and HTML (`crate::render`).
//!
//! Times are Unix seconds of simulated time; `hour` is the index into the hourly series.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Bumped on any incompatible change of the layout below.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    pub schema_version: u32,
    /// Always `"simulation"` (run reports have no `kind`): how `wabasim report` tells them apart.
    pub kind: String,
    pub tool: String,
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    /// Simulated start and end, Unix seconds.
    pub start: u64,
    pub end: u64,
    pub hours: u64,
    pub totals: Totals,
    pub phases: Vec<PhaseResult>,
    /// Per declared stream (`[[traffic.streams]]`): its phases summed, from the start of its
    /// first to the end of its last. Empty, and not written, for a single sequence of phases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<PhaseResult>,
    pub hourly: HourlySeries,
    /// Per business number: its state at the start and every change after (sampled hourly).
    pub numbers: Vec<NumberTimeline>,
    /// Per template: its status at the start and every change after.
    pub templates: Vec<TemplateTimeline>,
    /// What happened and why, in time order: the first refusal of each code per phase, every
    /// state change of a number or template, identity changes.
    pub annotations: Vec<Annotation>,
    /// Annotations beyond the cap (2,000), counted rather than kept.
    pub annotations_dropped: u64,
    /// What the traffic cost under the scenario's `[pricing]`: the engine's exact ledger totals
    /// at the end (platform cost, BSP price and margin per currency and per row).
    pub cost: crate::pricing::CostSummary,
    /// Cumulative platform cost sampled every simulated day (and at the end), for the charts.
    pub cost_daily: Vec<CostSample>,
    /// User feedback per simulated day (UTC days from the start; the last one may be partial):
    /// blocks, reports and marketing opt-outs, summed over the numbers. Added after schema 1
    /// was published: absent (empty) in older files.
    #[serde(default)]
    pub feedback_daily: Vec<FeedbackDay>,
    /// The scenario's businesses: onboarding decision, strikes, ban. Absent in older files.
    #[serde(default)]
    pub businesses: Vec<BusinessResult>,
    /// `[pricing] compare`: the same traffic priced under other models (one re-run per model,
    /// same seed, so the same messages are delivered). Empty, and not written, without it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cost_compare: Vec<CostComparison>,
    /// The support desk of window replies (`[traffic.conversations]`): conversations opened,
    /// answered, expired, overflowed, still waiting. Absent when no phase replies in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations: Option<crate::traffic::conversations::DeskCounts>,
}

/// Feedback received by the business numbers during one simulated day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackDay {
    /// Day index since the start (day 0 = the first 24 simulated hours).
    pub day: u64,
    /// Users who blocked a number, reporters included (reporting blocks too).
    pub blocks: u64,
    /// Users who reported a number (a subset of `blocks`).
    pub reports: u64,
    /// Marketing opt-outs (STOP or the opt-out button).
    pub opt_outs: u64,
}

/// One business of the scenario and how the platform treated it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BusinessResult {
    pub id: String,
    pub name: String,
    pub vertical: String,
    pub country: String,
    /// `APPROVED` or `REJECTED` with `[rules.onboarding] check = true`; `NOT_CHECKED` without.
    pub onboarding: String,
    /// The policy behind a prohibited vertical (also when not checked: what a check would say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Policy strikes at the end (content violations, detected prohibited vertical, ...).
    pub strikes: u32,
    /// Disabled at the end (a ban after strikes, or refused at onboarding).
    pub disabled: bool,
    /// Its business phone numbers.
    #[serde(default)]
    pub numbers: u64,
    /// Sends accepted from its numbers.
    #[serde(default)]
    pub accepted: u64,
    /// Sends refused synchronously (any code).
    #[serde(default)]
    pub refused: u64,
    #[serde(default)]
    pub delivered: u64,
    #[serde(default)]
    pub read: u64,
    /// Accepted sends that failed later (any code).
    #[serde(default)]
    pub failed_later: u64,
    /// Messages users sent to its numbers.
    #[serde(default)]
    pub inbound: u64,
    /// What its delivered messages cost, per currency (the engine's ledger totals).
    #[serde(default)]
    pub cost: BTreeMap<String, crate::pricing::ledger::CurrencyTotal>,
}

/// The simulated traffic's cost under one more pricing model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostComparison {
    /// The pricing model id (`template-era`, `cbp-2022`, ...).
    pub model: String,
    /// Messages delivered in that run (equal to the main run's: the model changes no rule).
    pub delivered: u64,
    /// The engine's ledger totals under that model.
    pub cost: crate::pricing::CostSummary,
}

/// Cumulative cost at one instant, in currency units (summed over currencies: a scenario's
/// WABAs normally share one), by category and by market.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostSample {
    pub hour: u64,
    pub by_category: BTreeMap<String, f64>,
    pub by_market: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Messages issued by the traffic (first attempts).
    pub messages: u64,
    /// Attempts, retries included: `ok + throttled + refused + failed`.
    pub requests: u64,
    pub ok: u64,
    pub throttled: u64,
    pub refused: u64,
    pub failed: u64,
    /// Refusals and throttling by error code.
    pub codes: BTreeMap<String, u64>,
    pub retries: u64,
    pub gave_up: u64,
    /// Status events.
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    /// Accepted messages that failed later, by code (e.g. 131026 not on WhatsApp).
    pub failed_async: BTreeMap<String, u64>,
    pub inbound: u64,
    pub user_changed_number: u64,
    /// User feedback over the whole run (sums of `feedback_daily`).
    #[serde(default)]
    pub blocks: u64,
    #[serde(default)]
    pub reports: u64,
    #[serde(default)]
    pub opt_outs: u64,
    /// Sends still held at the end for an identity change the business has not acknowledged
    /// (`[rules.identity] check = true`; docs/policy-model.md "Held until acknowledged").
    #[serde(default)]
    pub held_at_end: u64,
    /// Synchronous refusals by the engine rule that fired (`content_policy`,
    /// `account_disabled`, `onboarding`, `service_window`, ...): one code can come from
    /// several rules (368 does), the rule says which.
    #[serde(default)]
    pub refused_by_rule: BTreeMap<String, u64>,
    /// Template pacing (`[rules.pacing]`): messages held for the quality assessment, released
    /// after it, and dropped (failed with 132015) when it paused their template. Held at the
    /// end of the run: `paced_held - paced_released - paced_dropped`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub paced_held: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub paced_released: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub paced_dropped: u64,
    /// Block Users (`block` mix entries): users the business numbers blocked, and user
    /// messages (the audience's replies included) not delivered because their sender was
    /// blocked. Sends to blocked users are refusals with 130403.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub users_blocked: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inbound_blocked: u64,
    /// Usernames: user messages whose webhook hid the sender's phone number (a username user
    /// the number has not sent to by phone), and first attempts the traffic addressed by BSUID
    /// (`recipient`) because it knew the user only by it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inbound_phone_hidden: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sent_by_user_id: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    pub name: String,
    pub model: String,
    pub start: u64,
    pub end: u64,
    pub messages: u64,
    pub ok: u64,
    pub throttled: u64,
    pub refused: u64,
    pub failed: u64,
    pub codes: BTreeMap<String, u64>,
    pub retries: BTreeMap<String, u64>,
    pub gave_up: u64,
    /// Window replies that found nobody to answer and were not sent (`no_window = "drop"`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub no_window: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PhaseResult {
    /// Phases summed under one name (a stream): counts add, the span covers them all.
    pub fn sum<'a>(name: &str, parts: impl Iterator<Item = &'a PhaseResult>) -> PhaseResult {
        let mut out = PhaseResult {
            name: name.to_string(),
            ..PhaseResult::default()
        };
        let mut models = Vec::new();
        let mut start: Option<u64> = None;
        // A phase that never started has no model (and no span).
        for p in parts.filter(|p| !p.model.is_empty()) {
            if !models.contains(&p.model) {
                models.push(p.model.clone());
            }
            start = Some(start.map_or(p.start, |s| s.min(p.start)));
            out.end = out.end.max(p.end);
            out.messages += p.messages;
            out.ok += p.ok;
            out.throttled += p.throttled;
            out.refused += p.refused;
            out.failed += p.failed;
            out.gave_up += p.gave_up;
            out.no_window += p.no_window;
            for (k, v) in &p.codes {
                *out.codes.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &p.retries {
                *out.retries.entry(k.clone()).or_default() += v;
            }
        }
        out.start = start.unwrap_or(0);
        out.model = match models.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            _ => "mixed".into(),
        };
        out
    }
}

/// One value per simulated hour; all series have `hours` entries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HourlySeries {
    /// Accepted sends and inbound messages.
    pub ok: Vec<u64>,
    pub throttled: Vec<u64>,
    pub refused: Vec<u64>,
    pub failed: Vec<u64>,
    pub delivered: Vec<u64>,
    pub read: Vec<u64>,
    pub failed_async: Vec<u64>,
    pub inbound: Vec<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NumberTimeline {
    pub id: String,
    pub changes: Vec<StateChange>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub t: u64,
    pub hour: u64,
    pub quality_rating: String,
    pub status: String,
    pub messaging_limit: String,
    pub throughput_mps: u32,
}

impl StateChange {
    pub fn same_state(&self, o: &StateChange) -> bool {
        self.quality_rating == o.quality_rating
            && self.status == o.status
            && self.messaging_limit == o.messaging_limit
            && self.throughput_mps == o.throughput_mps
    }

    /// "quality GREEN → YELLOW, tier TIER_250 → TIER_2K".
    pub fn describe_change(&self, to: &StateChange) -> String {
        let mut parts = Vec::new();
        if self.quality_rating != to.quality_rating {
            parts.push(format!(
                "quality {} → {}",
                self.quality_rating, to.quality_rating
            ));
        }
        if self.status != to.status {
            parts.push(format!("status {} → {}", self.status, to.status));
        }
        if self.messaging_limit != to.messaging_limit {
            parts.push(format!(
                "messaging limit {} → {}",
                self.messaging_limit, to.messaging_limit
            ));
        }
        if self.throughput_mps != to.throughput_mps {
            parts.push(format!(
                "throughput {} → {} msg/s",
                self.throughput_mps, to.throughput_mps
            ));
        }
        parts.join(", ")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateTimeline {
    pub id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub changes: Vec<TemplateChange>,
    /// Template pacing per simulated hour, only hours where something was held, released or
    /// dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pacing: Vec<PacingHour>,
    /// Meta's changes of the template's category (`template_category_update`, completed form):
    /// it is priced at the new category from then on. `category` is the one it started with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category_changes: Vec<CategoryChangeAt>,
}

/// A template's category changed by Meta at `t` (simulated hour `hour`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryChangeAt {
    pub t: u64,
    pub hour: u64,
    pub from: String,
    pub to: String,
}

/// What template pacing did to a template's messages in one simulated hour.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PacingHour {
    pub hour: u64,
    pub held: u64,
    pub released: u64,
    pub dropped: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateChange {
    pub t: u64,
    pub hour: u64,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub t: u64,
    pub hour: u64,
    /// The rule or kind of event, e.g. `refused 131047`, `number_state`, `template_status`.
    pub rule: String,
    /// What it happened to: a phase, a number, a template, a user.
    pub subject: String,
    pub text: String,
}

/// `2026-01-03 14:00` from Unix seconds (UTC), without a date crate.
pub fn fmt_time(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// `text` cut to `n` characters (an ellipsis marks the cut).
fn truncate(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn fmt_codes(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The terminal summary.
pub fn render_summary(r: &SimReport) -> String {
    let mut s = String::new();
    let t = &r.totals;
    let _ = writeln!(
        s,
        "\nwabasim simulation of \"{}\" (seed {}): {} → {} ({} simulated hours)",
        r.scenario,
        r.seed,
        fmt_time(r.start),
        fmt_time(r.end),
        r.hours
    );
    let _ = writeln!(
        s,
        "{:<20} {:>10} {:>10} {:>10} {:>10} {:>8}  codes",
        "phase", "messages", "accepted", "throttled", "refused", "failed"
    );
    // Streams after their phases, named as thresholds name them: `[campaign]`.
    let streams: Vec<(String, &PhaseResult)> = r
        .streams
        .iter()
        .map(|p| (format!("[{}]", p.name), p))
        .collect();
    let rows = r
        .phases
        .iter()
        .map(|p| (p.name.clone(), p))
        .chain(streams.iter().map(|(n, p)| (n.clone(), *p)));
    for (name, p) in rows {
        let _ = writeln!(
            s,
            "{:<20} {:>10} {:>10} {:>10} {:>10} {:>8}  {}",
            name,
            p.messages,
            p.ok,
            p.throttled,
            p.refused,
            p.failed,
            fmt_codes(&p.codes)
        );
    }
    for p in r.phases.iter().filter(|p| p.no_window > 0) {
        let _ = writeln!(
            s,
            "{}: {} window replies not sent (nobody waiting for an answer)",
            p.name, p.no_window
        );
    }
    if let Some(c) = &r.conversations {
        let _ = writeln!(s, "{}", c.summary());
    }
    let _ = writeln!(
        s,
        "statuses: sent {}, delivered {}, read {}, failed later {}; inbound {}; retries {}, gave up {}",
        t.sent,
        t.delivered,
        t.read,
        if t.failed_async.is_empty() {
            "0".to_string()
        } else {
            fmt_codes(&t.failed_async)
        },
        t.inbound,
        t.retries,
        t.gave_up
    );
    if t.paced_held > 0 {
        let _ = writeln!(
            s,
            "template pacing: {} held for quality assessment, {} released, {} dropped (132015), {} still held at the end",
            t.paced_held,
            t.paced_released,
            t.paced_dropped,
            t.paced_held
                .saturating_sub(t.paced_released)
                .saturating_sub(t.paced_dropped)
        );
    }
    if t.users_blocked + t.inbound_blocked > 0 {
        let _ = writeln!(
            s,
            "block users: {} users blocked, {} of their messages not delivered, {} sends refused 130403",
            t.users_blocked,
            t.inbound_blocked,
            t.refused_by_rule.get("blocked_user").copied().unwrap_or(0)
        );
    }
    if t.inbound_phone_hidden + t.sent_by_user_id > 0 {
        let _ = writeln!(
            s,
            "usernames: {} inbound messages hid the sender's phone number; {} messages addressed by BSUID",
            t.inbound_phone_hidden, t.sent_by_user_id
        );
    }
    for (cur, c) in &r.cost.by_currency {
        let _ = writeln!(
            s,
            "cost: {} messages priced (free ones at 0), platform {} {cur}, BSP price {} {cur}, margin {} {cur}",
            c.messages,
            c.amount.format(2),
            c.bsp_price.format(2),
            c.margin.format(2)
        );
    }
    if t.blocks + t.reports + t.opt_outs > 0 {
        let worst = r
            .feedback_daily
            .iter()
            .max_by_key(|d| (d.blocks, std::cmp::Reverse(d.day)));
        let _ = writeln!(
            s,
            "feedback: {} blocks ({} with a report), {} marketing opt-outs{}",
            t.blocks,
            t.reports,
            t.opt_outs,
            worst.map_or(String::new(), |d| format!(
                "; most blocks on day {} ({})",
                d.day, d.blocks
            ))
        );
    }
    for c in &r.cost_compare {
        for (cur, v) in &c.cost.by_currency {
            let _ = writeln!(
                s,
                "  under {:<12} {} messages priced (free ones at 0), platform {} {cur}",
                c.model,
                v.messages,
                v.amount.format(2)
            );
        }
    }
    // Several client businesses: each one's outcome and cost, the costliest first.
    if r.businesses.len() > 1 {
        const SHOWN: usize = 20;
        let mut order: Vec<&BusinessResult> = r.businesses.iter().collect();
        order.sort_by_key(|b| {
            std::cmp::Reverse(b.cost.values().map(|c| c.amount.micros()).sum::<i64>())
        });
        let _ = writeln!(
            s,
            "{:<28} {:>7} {:>9} {:>8} {:>9} {:>7}  cost",
            "business", "numbers", "accepted", "refused", "delivered", "failed"
        );
        for b in order.iter().take(SHOWN) {
            let cost: Vec<String> = b
                .cost
                .iter()
                .map(|(cur, c)| format!("{} {cur}", c.amount.format(2)))
                .collect();
            let _ = writeln!(
                s,
                "{:<28} {:>7} {:>9} {:>8} {:>9} {:>7}  {}",
                truncate(&b.name, 28),
                b.numbers,
                b.accepted,
                b.refused,
                b.delivered,
                b.failed_later,
                if cost.is_empty() {
                    "0".to_string()
                } else {
                    cost.join(", ")
                }
            );
        }
        if order.len() > SHOWN {
            let _ = writeln!(
                s,
                "… and {} more businesses (report.json `businesses`)",
                order.len() - SHOWN
            );
        }
    }
    for b in r
        .businesses
        .iter()
        .filter(|b| b.onboarding == "REJECTED" || b.disabled)
    {
        let _ = writeln!(
            s,
            "business {} ({}, {}): onboarding {}{}, {} strikes{}",
            b.name,
            b.vertical,
            b.country,
            b.onboarding,
            b.reason
                .as_ref()
                .map_or(String::new(), |r| format!(" ({r})")),
            b.strikes,
            if b.disabled { ", disabled" } else { "" }
        );
    }
    for n in &r.numbers {
        if let Some(last) = n.changes.last() {
            let _ = writeln!(
                s,
                "number {}: {} {} limit {} at {} msg/s ({} state changes)",
                n.id,
                last.status,
                last.quality_rating,
                last.messaging_limit,
                last.throughput_mps,
                n.changes.len().saturating_sub(1)
            );
        }
    }
    for tl in &r.templates {
        if tl.changes.len() > 1 {
            let path: Vec<&str> = tl.changes.iter().map(|c| c.status.as_str()).collect();
            let _ = writeln!(
                s,
                "template {} ({}): {}",
                tl.name,
                tl.language,
                path.join(" → ")
            );
        }
    }
    let notable: Vec<&Annotation> = r
        .annotations
        .iter()
        .filter(|a| a.rule != "template_status" || !a.text.ends_with("APPROVED"))
        .take(12)
        .collect();
    if !notable.is_empty() {
        let _ = writeln!(s, "what happened:");
        for a in notable {
            let _ = writeln!(s, "  {}  {}", fmt_time(a.t), a.text);
        }
        if r.annotations.len() > 12 {
            let _ = writeln!(
                s,
                "  … {} more in the report",
                r.annotations.len() - 12 + r.annotations_dropped as usize
            );
        }
    }
    crate::load::report::fit(&s, crate::load::report::SUMMARY_WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time_formatting() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00");
        assert_eq!(fmt_time(1_767_225_600), "2026-01-01 00:00");
        assert_eq!(fmt_time(1_709_210_096), "2024-02-29 12:34");
    }
}
