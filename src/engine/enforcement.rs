//! Rules on business-initiated messages and what the platform does about a portfolio over
//! time: the messaging limit (and its automatic scaling), marketing opt-outs (131050), the
//! per-user marketing limit and US marketing block (131049), strict opt-in, the account
//! restriction after sustained low quality (`account_update` ACCOUNT_RESTRICTION, 131048), and
//! the throughput upgrade to 1,000 msg/s (131057 during it, `THROUGHPUT_UPGRADE` after).
//!

use super::audience::{is_us, marketing_cap, per_user_limit_exempt};
use super::errors::ErrorCode;
use super::events::{Event, EventBody, Rule};
use super::ids::{PhoneNumberId, TemplateId, WaId, WabaId};
use super::number::{Conversation, Number, TimerKind};
use super::policy::{LimitBehavior, LimitsMode, PolicyConfig};
use super::portfolio::{Business, Config, Portfolio};
use super::tiers::{next_tier, IdBuild, LimitState, Reach};
use super::world::{MessagingLimitTier, NumberStatus, QualityRating, TemplateCategory};
use super::{Rejection, Sink};
use crate::clock::{SimTime, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_SEC};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};

/// Portfolio-wide state. Memory: the limit's moving-24 h slots (bounded by the tier), one
/// entry per user who opted out of marketing, one per number currently at low quality.
#[derive(Debug)]
pub struct PortfolioLimits {
    pub limit: LimitState,
    pub opted_out: HashSet<WaId, IdBuild>,
    /// Business-initiated messaging is refused until then (ACCOUNT_RESTRICTION).
    pub restricted_until: SimTime,
    /// Numbers currently RED or FLAGGED: scaling needs none.
    pub low_quality: BTreeSet<PhoneNumberId>,
    /// Business verification done (the 250 → 2,000 step then follows the half-use rule).
    pub verified: bool,
    /// Reviews of the 250 → 2,000 step so far (each one's verdict is drawn from it).
    pub reviews: u32,
    /// A deferred review: no new review is armed before this instant.
    pub review_again_at: SimTime,
}

impl PortfolioLimits {
    pub fn new(tier: MessagingLimitTier, numbers: usize, verified: bool) -> PortfolioLimits {
        PortfolioLimits {
            limit: LimitState::new(tier, numbers),
            opted_out: HashSet::default(),
            restricted_until: SimTime::ZERO,
            low_quality: BTreeSet::new(),
            verified,
            reviews: 0,
            review_again_at: SimTime::ZERO,
        }
    }
}

#[derive(Debug)]
pub enum DynKind {
    /// A paused template's pause ends.
    Unpause { waba: WabaId, template: TemplateId },
    /// The scaling condition was met `scale_delay_hours` ago: move up one tier if quality is
    /// still good. `number` is set in legacy per-number mode.
    Scale { number: Option<PhoneNumberId> },
    /// Advance notice of a template recategorisation taking effect at `effective`.
    CategoryNotice {
        waba: WabaId,
        template: TemplateId,
        to: TemplateCategory,
        effective: SimTime,
    },
    /// A template recategorisation takes effect.
    Recategorise {
        waba: WabaId,
        template: TemplateId,
        to: TemplateCategory,
    },
    /// The pacing assessment of a template opened at `opened` decides.
    PacingDecide {
        waba: WabaId,
        template: TemplateId,
        opened: SimTime,
    },
    /// The pacing guardrail: an assessment opened at `opened` still undecided releases.
    PacingGuardrail {
        waba: WabaId,
        template: TemplateId,
        opened: SimTime,
    },
}

#[derive(Debug)]
pub struct DynTimer {
    pub at: SimTime,
    pub seq: u64,
    pub kind: DynKind,
}

impl PartialEq for DynTimer {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for DynTimer {}
impl PartialOrd for DynTimer {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for DynTimer {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Timers that belong to no number: template unpauses, tier scaling. Ordered by `(at, seq)`.
#[derive(Debug, Default)]
pub struct PortfolioTimers {
    heap: BinaryHeap<Reverse<DynTimer>>,
    seq: u64,
}

impl PortfolioTimers {
    pub fn push(&mut self, at: SimTime, kind: DynKind, sink: &mut impl Sink) {
        self.seq += 1;
        let seq = self.seq;
        self.heap.push(Reverse(DynTimer { at, seq, kind }));
        sink.wake(at);
    }

    /// [`Self::push`] while a world is built, before anyone waits on it: the owner reads the
    /// first deadline from `poll_timeout`.
    pub fn schedule(&mut self, at: SimTime, kind: DynKind) {
        self.seq += 1;
        let seq = self.seq;
        self.heap.push(Reverse(DynTimer { at, seq, kind }));
    }

    pub fn next_at(&self) -> Option<SimTime> {
        self.heap.peek().map(|Reverse(t)| t.at)
    }

    /// The earliest timer, if it is due at `now`.
    pub fn pop_due(&mut self, now: SimTime) -> Option<DynTimer> {
        if self.next_at()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(t)| t)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// Registered numbers a portfolio may have at a tier (Meta: 2, then 20 from 2,000 on).
fn max_numbers(t: MessagingLimitTier) -> u32 {
    if t <= MessagingLimitTier::Tier250 {
        2
    } else {
        20
    }
}

/// Whether the number is in the throughput upgrade's maintenance period (131057).
pub(super) fn check_maintenance(now: SimTime, s: &Number) -> Result<(), Rejection> {
    if s.dynamics.upgrading_until > now {
        return Err(Rejection::rule(
            ErrorCode::MaintenanceMode,
            Rule::ThroughputUpgrade,
            format!(
                "The phone number is being upgraded to higher throughput; retry in {} s.",
                s.dynamics
                    .upgrading_until
                    .since(now)
                    .div_ceil(MICROS_PER_SEC)
            ),
        ));
    }
    Ok(())
}

/// The rules a template send passes after the template checks: restriction, strict opt-in
/// (both synchronous), then the asynchronous ones, whose code is returned: marketing opt-out
/// (131050), US marketing (131049), messaging limit (131048), per-user marketing limit
/// (131049). Counts the user toward the messaging limit when business-initiated.
#[allow(clippy::too_many_arguments)]
pub(super) fn check_template_send(
    cfg: &Config,
    limits: &mut PortfolioLimits,
    timers: &mut PortfolioTimers,
    now: SimTime,
    s: &mut Number,
    user: WaId,
    category: TemplateCategory,
    in_window: bool,
    conv: &mut Conversation,
    sink: &mut impl Sink,
) -> Result<Option<ErrorCode>, Rejection> {
    let policy = &cfg.policy;
    let seed = cfg.seed;
    let marketing = category == TemplateCategory::Marketing;
    if !in_window && limits.restricted_until > now {
        return Err(Rejection::rule(
                ErrorCode::SpamRateLimit,
                Rule::AccountRestriction,
                format!(
                    "Business-initiated messaging is restricted after sustained low quality until {} (account_update ACCOUNT_RESTRICTION).",
                    limits.restricted_until.unix_secs()
                ),
            ));
    }
    if !in_window
        && policy.require_opt_in
        && !cfg
            .audience
            .profiles
            .opted_in(seed, s.business, user, category.into())
    {
        return Err(Rejection::rule(
                ErrorCode::AccessDenied,
                Rule::OptIn,
                format!(
                    "Strict opt-in mode: {user} has no recorded opt-in for {} messages from this business.",
                    category.pricing_str()
                ),
            ));
    }
    if marketing && limits.opted_out.contains(&user) {
        return Ok(Some(ErrorCode::MarketingOptOut));
    }
    if marketing && policy.us_marketing_blocked && is_us(user) {
        return Ok(Some(ErrorCode::EcosystemEngagement));
    }
    // Per-user marketing limit: checked before the messaging limit so that a message
    // failing it does not use the portfolio's quota.
    let [lo, hi] = policy.per_user_marketing;
    let per_user = marketing && !in_window && hi > 0 && !per_user_limit_exempt(user);
    if per_user {
        let day = (now.as_micros() / MICROS_PER_DAY) as u16;
        if conv.marketing_day != day {
            conv.marketing_day = day;
            conv.marketing_today = 0;
        }
        if conv.marketing_today >= marketing_cap(seed, user, [lo, hi]) {
            return Ok(Some(ErrorCode::EcosystemEngagement));
        }
    }
    let now_s = now.unix_secs() as u32;
    // Counted by this number less than 24 h ago: the portfolio map would say so too.
    let known = conv.counted_at_s != 0 && now_s < conv.counted_at_s.saturating_add(86_399);
    let legacy = policy.limits_mode == LimitsMode::PerNumber;
    // At the unlimited tier (portfolio mode: it never goes down) the count only feeds this
    // number's throughput upgrade; once that is done or out of reach, nothing reads it.
    let settled = !legacy
        && limits.limit.tier == MessagingLimitTier::Unlimited
        && (s.dynamics.upgraded || policy.throughput_upgrade_users == u32::MAX);
    if !in_window && !known && !settled {
        let idx = s.dynamics.idx;
        let reach = match s.dynamics.legacy_limit.as_mut() {
            Some(l) if legacy => l.reach(now, user, idx),
            _ => limits.limit.reach(now, user, idx),
        };
        conv.counted_at_s = match reach {
            Reach::AlreadyCounted(start) => start.unix_secs() as u32,
            Reach::Counted => now_s,
            Reach::AtLimit => 0,
        };
        match reach {
            Reach::AtLimit => {
                return match policy.limit_behavior {
                        LimitBehavior::RejectSync => Err(Rejection::rule(
                            ErrorCode::SpamRateLimit,
                            Rule::MessagingLimit,
                            "Messaging limit reached: the business has reached the unique users it may message outside a customer service window in a moving 24 hours.",
                        )),
                        LimitBehavior::FailAsync => Ok(Some(ErrorCode::SpamRateLimit)),
                    };
            }
            Reach::Counted => after_counted(policy, limits, timers, now, s, sink),
            Reach::AlreadyCounted(_) => {}
        }
    }
    if per_user {
        conv.marketing_today += 1;
    }
    Ok(None)
}

/// A new user was counted: arm tier scaling when the usage condition is met, and start the
/// throughput upgrade when its three conditions hold.
fn after_counted(
    policy: &PolicyConfig,
    p: &mut PortfolioLimits,
    timers: &mut PortfolioTimers,
    now: SimTime,
    s: &mut Number,
    sink: &mut impl Sink,
) {
    let verified = p.verified;
    let legacy = policy.limits_mode == LimitsMode::PerNumber;
    let good = if legacy {
        s.quality != QualityRating::Red && s.status != NumberStatus::Flagged
    } else {
        p.low_quality.is_empty()
    };
    let idx = s.dynamics.idx;
    let holder = match s.dynamics.legacy_limit.as_mut() {
        Some(l) if legacy => l,
        _ => &mut p.limit,
    };
    let mut scale_at = None;
    if good && holder.scale_due.is_none() {
        let met = match holder.tier.limit() {
            None => false,
            Some(_) if holder.tier == MessagingLimitTier::Tier250 && !legacy && !verified => {
                now >= p.review_again_at
                    && holder.new_users_30d(now) >= policy.initial_scale_users_30d
            }
            Some(limit) => {
                holder.used(now) as f64 >= (limit as f64 * policy.scale_usage_ratio).ceil()
            }
        };
        if met {
            let at = now.plus(policy.scale_delay_hours * MICROS_PER_HOUR);
            holder.scale_due = Some(at);
            scale_at = Some(at);
        }
    }
    // Throughput upgrade [M:throughput]: unlimited tier, ≥ N unique users from this number
    // in the moving 24 h, quality YELLOW or better. Coexistence numbers are never upgraded.
    if holder.tier == MessagingLimitTier::Unlimited
        && !s.coexistence
        && !s.dynamics.upgraded
        && s.dynamics.upgrading_until == SimTime::ZERO
        && s.quality != QualityRating::Red
        && holder.used_by(now, idx) >= policy.throughput_upgrade_users
    {
        let until = now.plus(policy.throughput_upgrade_s * MICROS_PER_SEC);
        s.dynamics.upgrading_until = until;
        s.schedule(sink, until, TimerKind::ThroughputUpgraded);
    }
    if let Some(at) = scale_at {
        let number = legacy.then_some(s.id);
        timers.push(at, DynKind::Scale { number }, sink);
    }
}

/// The messaging limit a number works under (its portfolio's, or its own in legacy mode) and
/// how much of it is used at `now`.
pub(super) fn limit_of(
    policy: &PolicyConfig,
    limits: &mut PortfolioLimits,
    now: SimTime,
    s: &mut Number,
) -> (MessagingLimitTier, u32) {
    if policy.limits_mode == LimitsMode::PerNumber {
        if let Some(l) = s.dynamics.legacy_limit.as_mut() {
            return (l.tier, l.used(now));
        }
    }
    (limits.limit.tier, limits.limit.used(now))
}

impl Business {
    /// The maintenance period is over: the number sends at the higher rate.
    pub(super) fn finish_upgrade(&self, at: SimTime, s: &mut Number, sink: &mut impl Sink) {
        s.dynamics.upgrading_until = SimTime::ZERO;
        s.dynamics.upgraded = true;
        s.throughput = super::limits::Rate::per_second(self.cfg.policy.throughput_high_mps);
        sink.event(Event {
            at,
            waba: s.waba,
            body: EventBody::PhoneQuality {
                display: s.meta.display,
                event: "THROUGHPUT_UPGRADE",
                current_limit: MessagingLimitTier::Unlimited,
                old_limit: None,
            },
        });
    }

    /// Sustained RED: restrict business-initiated messaging of the portfolio for
    /// `restriction_hours`, once per restriction.
    pub(super) fn maybe_restrict(&mut self, at: SimTime, s: &mut Number, sink: &mut impl Sink) {
        let after = self.cfg.policy.restrict_after_red_hours;
        let Some(since) = s.dynamics.red_since else {
            return;
        };
        if after == 0 || at.since(since) < after * MICROS_PER_HOUR {
            return;
        }
        if self.limits.restricted_until > at {
            return;
        }
        let until = at.plus(self.cfg.policy.restriction_hours * MICROS_PER_HOUR);
        self.limits.restricted_until = until;
        // The next restriction needs another full period of RED.
        s.dynamics.red_since = Some(until);
        let body = || EventBody::AccountRestriction {
            restriction_type: "RESTRICTED_BIZ_INITIATED_MESSAGING",
            expiration: until,
        };
        self.to_every_waba(at, body, sink);
    }
}

/// Whether review number `n` of portfolio `business` is deferred: a hash of (seed, business,
/// n) against `limit_review_deny_ratio`, so the same seed gives the same verdicts.
pub(super) fn review_deferred(
    seed: u64,
    business: super::ids::BusinessId,
    n: u32,
    policy: &PolicyConfig,
) -> bool {
    let h = super::audience::splitmix(
        seed ^ super::audience::splitmix(business.0 ^ (u64::from(n) << 40) ^ 0x5EED_4E71_E700),
    );
    ((h >> 11) as f64 / (1u64 << 53) as f64) < policy.limit_review_deny_ratio
}

impl Portfolio {
    /// Moves up one tier if quality is still good `scale_delay_hours` after the usage
    /// condition was met. `number` is set in legacy per-number mode (the number's own ladder,
    /// announced per number); otherwise the portfolio's tier moves, announced per WABA.
    pub(super) fn scale(
        &mut self,
        at: SimTime,
        number: Option<PhoneNumberId>,
        sink: &mut impl Sink,
    ) {
        match number {
            Some(id) => {
                let Ok(i) = self.index(id) else {
                    return;
                };
                let s = &mut self.numbers[i];
                let good = s.quality != QualityRating::Red && s.status != NumberStatus::Flagged;
                let display = s.meta.display;
                let waba = s.waba;
                let Some(l) = s.dynamics.legacy_limit.as_mut() else {
                    return;
                };
                if l.scale_due != Some(at) {
                    return;
                }
                let old = l.tier;
                if !good {
                    l.scale_due = None;
                    return;
                }
                l.set_tier(next_tier(old, true));
                let new = l.tier;
                sink.event(Event {
                    at,
                    waba,
                    body: EventBody::PhoneQuality {
                        display,
                        event: "UPGRADE",
                        current_limit: new,
                        old_limit: Some(old),
                    },
                });
            }
            None => {
                let p = &mut self.biz.limits;
                if p.limit.scale_due != Some(at) {
                    return;
                }
                if !p.low_quality.is_empty() {
                    p.limit.scale_due = None;
                    return;
                }
                // Unverified at 250: this step is Meta's review of message quality, which can
                // be deferred (`account_alerts`); the limit stays and no review is armed for
                // `limit_review_retry_hours`.
                if p.limit.tier == MessagingLimitTier::Tier250 && !p.verified {
                    p.reviews += 1;
                    let policy = &self.biz.cfg.policy;
                    if review_deferred(self.biz.cfg.seed, self.biz.id, p.reviews, policy) {
                        p.limit.scale_due = None;
                        p.review_again_at =
                            at.plus(policy.limit_review_retry_hours * MICROS_PER_HOUR);
                        let (business, business_name) = (self.biz.id, self.biz.name.clone());
                        let body = || EventBody::LimitReviewDeferred {
                            business,
                            business_name: business_name.clone(),
                        };
                        self.biz.to_every_waba(at, body, sink);
                        return;
                    }
                }
                let new = next_tier(p.limit.tier, false);
                p.limit.set_tier(new);
                let body = || EventBody::BusinessCapability {
                    limit: new,
                    max_phone_numbers: max_numbers(new),
                };
                self.biz.to_every_waba(at, body, sink);
            }
        }
    }
}
