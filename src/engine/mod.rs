//! The sans-I/O policy engine.
//!
//! World state and rules as plain Rust. Every call takes `now` and returns a decision plus the
//! events it caused (pushed into an [`Effects`] the caller owns and reuses). Future work (the
//! delivered/read ladder, template reviews) is kept as timers inside the engine: the driver asks
//! [`Engine::poll_timeout`] when to wake and calls [`Engine::handle_timeouts`] then, as
//! `quinn-proto` does. No tokio, no sockets, no wall clock in here.
//!
//! State is sharded per phone number (one mutex each) so requests for different numbers never
//! contend; templates are per WABA behind a read-mostly lock.

pub mod audience;
pub mod charging;
pub mod config;
pub mod contacts;
pub mod content;
pub mod eligibility;
pub mod enforcement;
pub mod errors;
pub mod events;
pub mod feedback;
pub mod identity;
pub mod ids;
pub mod integrity;
pub mod limits;
pub mod message;
pub mod policy;
pub mod portfolio;
pub mod quality;
pub mod reactions;
pub mod review;
pub mod templates;
pub mod tiers;
pub mod timers;
pub mod violations;
pub mod world;

use crate::clock::{self, SimTime, MICROS_PER_HOUR, MICROS_PER_SEC};
use audience::Audience;
use charging::{Charging, PriceFacts};
use config::{ErrorTiming, RulesConfig};
use errors::ErrorCode;
use events::{DeliveryStatus, Event, EventBody, LogEntry, MessageInfo, PhoneMeta, Rule, Wamid};
use ids::IdMap;
use ids::{BusinessId, PhoneNumberId, TemplateId, WaId, WabaId};
use limits::{Gcra, Rate};
use message::{Content, Outbound};
use parking_lot::{Mutex, RwLock};
use policy::PolicyConfig;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use templates::{Lookup, Template, TemplateBook, TemplateRequest};
use world::{
    BusinessProfile, MessagingLimitTier, NumberStatus, QualityRating, TemplateStatus, WorldSpec,
};

/// A refused request: the code, what to tell the caller, and the rule that fired.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub subcode: Option<u32>,
    pub details: String,
    pub rule: Option<Rule>,
}

impl Rejection {
    pub fn new(code: ErrorCode, details: impl Into<String>) -> Rejection {
        Rejection {
            code,
            subcode: None,
            details: details.into(),
            rule: None,
        }
    }

    pub(crate) fn rule(code: ErrorCode, rule: Rule, details: impl Into<String>) -> Rejection {
        Rejection {
            code,
            subcode: None,
            details: details.into(),
            rule: Some(rule),
        }
    }

    /// Graph's answer for an id that does not exist (or cannot be seen): code 100, subcode 33.
    pub fn unknown_object(id: &str) -> Rejection {
        Rejection {
            code: ErrorCode::InvalidParameter,
            subcode: Some(33),
            details: format!(
                "Unsupported request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
            rule: None,
        }
    }

    fn permission(id: impl std::fmt::Display) -> Rejection {
        Rejection::new(
            ErrorCode::PermissionError,
            format!("The access token does not have permission on object {id}: it belongs to another business portfolio."),
        )
    }
}

/// What an accepted send returns to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReceipt {
    pub wamid: Wamid,
    pub wa_id: WaId,
}

/// The events a call caused, and the earliest new timer it set (so a driver that sleeps until
/// the next deadline knows to wake earlier). Reuse one across calls: `clear` keeps capacity.
#[derive(Debug, Default)]
pub struct Effects {
    pub events: Vec<Event>,
    pub wake_at: Option<SimTime>,
    /// Set by a caller that only counts message statuses (the simulator): each status then
    /// goes to [`Self::statuses`] as a [`StatusNote`] instead of to `events` as a full
    /// [`EventBody::Status`]. Why: a full status carries its own copy of the message record
    /// (about 200 bytes written, read and dropped, three to four times per message), which
    /// only a webhook needs. Everything else the engine does is the same either way.
    pub brief_statuses: bool,
    /// The statuses, in order, when `brief_statuses` is set (empty otherwise).
    pub statuses: Vec<StatusNote>,
}

/// A message status as a counting caller sees it (see [`Effects::brief_statuses`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusNote {
    pub at: SimTime,
    pub waba: WabaId,
    pub status: DeliveryStatus,
    /// For `failed`: the code.
    pub error: Option<ErrorCode>,
}

impl Effects {
    /// Effects for a caller that counts statuses rather than sending webhooks.
    pub fn brief() -> Effects {
        Effects {
            brief_statuses: true,
            ..Effects::default()
        }
    }

    pub fn clear(&mut self) {
        self.events.clear();
        self.statuses.clear();
        self.wake_at = None;
    }
    fn wake(&mut self, at: SimTime) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    /// Reports a status of a message whose record the caller keeps (`info` is copied only
    /// for a full event).
    #[inline]
    fn status(
        &mut self,
        at: SimTime,
        waba: WabaId,
        info: &MessageInfo,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
    ) {
        if self.brief_statuses {
            self.note(at, waba, status, error);
        } else {
            self.full_status(at, waba, info.clone(), status, error);
        }
    }

    /// Reports the last status of a message: its record moves into the event, or, for a
    /// brief status, comes back for reuse (see [`recycle`]).
    #[inline]
    fn last_status(
        &mut self,
        at: SimTime,
        waba: WabaId,
        info: Box<MessageInfo>,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
    ) -> Option<Box<MessageInfo>> {
        if self.brief_statuses {
            self.note(at, waba, status, error);
            Some(info)
        } else {
            self.full_status(at, waba, *info, status, error);
            None
        }
    }

    fn note(
        &mut self,
        at: SimTime,
        waba: WabaId,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
    ) {
        self.statuses.push(StatusNote {
            at,
            waba,
            status,
            error,
        });
    }

    fn full_status(
        &mut self,
        at: SimTime,
        waba: WabaId,
        info: MessageInfo,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
    ) {
        self.events.push(Event {
            at,
            waba,
            body: EventBody::Status {
                info,
                status,
                error: error.map(|c| (c, None)),
            },
        });
    }
}

/// Per-(number, user) state. Small on purpose (32 bytes): it exists for every user a number
/// talks to, and is forgotten by the hourly sweep once it holds nothing a fresh entry would not.
#[derive(Clone, Copy, Debug, Default)]
struct Conversation {
    /// End of the customer service window (the user's last message + 24 h); zero if never.
    window_until: SimTime,
    pair: Gcra,
    /// Last template sent to the user (raw id, 0 = none): forced reactions are charged to it.
    last_template: u64,
    /// Unix second at which the user's messaging-limit slot started (0 = unknown): while it
    /// is less than 24 h old the portfolio's map need not be consulted.
    counted_at_s: u32,
    /// UTC day (since the epoch) of `marketing_today` (per-user marketing limit).
    marketing_day: u16,
    marketing_today: u8,
    /// `feedback::BLOCKED`, `feedback::REPORTED`, `feedback::MUTED`.
    flags: u8,
}

#[derive(Debug)]
enum TimerKind {
    /// Next rung of the status ladder for a sent message.
    Status {
        info: Box<MessageInfo>,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
        /// Set until the message is priced at delivery.
        pricing: Option<PriceFacts>,
    },
    /// A user's reaction to a delivered message. Boxed: most timers are statuses, and the
    /// heap moves every timer on each push and pop, so the common kind sets the size (a
    /// 32-byte timer instead of 48).
    Reaction(Box<ReactionTimer>),
    /// Hourly re-evaluation of the quality rating while there is feedback in the window
    /// (ratings recover as signals age; FLAGGED and restriction deadlines are checked here).
    QualityTick,
    /// End of the throughput upgrade's maintenance period.
    ThroughputUpgraded,
}

/// What a reaction timer carries.
#[derive(Debug)]
struct ReactionTimer {
    user: WaId,
    template: Option<TemplateId>,
    kind: reactions::ReactionKind,
}

/// Counters per number, by rule.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NumberCounters {
    pub accepted: u64,
    pub rejected: std::collections::BTreeMap<u32, u64>,
    pub delivered: u64,
    pub read: u64,
    pub failed: std::collections::BTreeMap<u32, u64>,
    pub inbound: u64,
    /// User feedback received by this number.
    pub blocks: u64,
    pub reports: u64,
    pub opt_outs: u64,
    pub mutes: u64,
    pub replies: u64,
}

/// One phone number and everything only it touches: one lock.
struct NumberShard {
    id: PhoneNumberId,
    waba: WabaId,
    business: BusinessId,
    display: String,
    meta: PhoneMeta,
    verified_name: String,
    status: NumberStatus,
    quality: QualityRating,
    throughput: Rate,
    limiter: Gcra,
    name_status: String,
    official: bool,
    profile: BusinessProfile,
    conversations: IdMap<WaId, Conversation>,
    /// Users who came from an ad, apart from `conversations` so the common entry stays small
    /// and the send path skips this map while it is empty (see `charging::EntryPoint`).
    entry_points: IdMap<WaId, charging::EntryPoint>,
    timers: timers::TimerQueue<TimerKind>,
    timer_seq: u64,
    msg_seq: u64,
    log: VecDeque<LogEntry>,
    log_evicted: u64,
    rng: Pcg64Mcg,
    counters: NumberCounters,
    /// Quality, flagging, legacy limit and throughput-upgrade state (fixed size).
    dynamics: feedback::NumberDynamics,
    /// The portfolio's shared state (same `Arc` as `BusinessState::portfolio`).
    portfolio: Arc<Mutex<enforcement::Portfolio>>,
    last_sweep: SimTime,
    /// Sweep early once `conversations` holds this many entries (see [`sweep`]).
    sweep_at_len: usize,
    /// Latest instant seen by this shard: `now` never goes backwards inside it.
    latest: SimTime,
    /// The portfolio's policy state (strikes, ban, contact checks), shared by its numbers.
    policy: Arc<portfolio::PortfolioPolicy>,
    /// Identity key check on (`POST /{id}/settings`); statuses then carry the hash.
    identity_check: bool,
    /// Messages held until the business acknowledges a recipient's identity change; at most
    /// `rules.identity.hold_capacity`. Boxed because a released message moves, as the same
    /// allocation, into the status-ladder timers, which own their `Box<MessageInfo>`; each
    /// status event gets its own copy (a 150-byte copy is cheaper than two atomic
    /// read-modify-writes on a shared reference count, which also wait for pending stores).
    #[allow(clippy::vec_box)]
    held: Vec<(Box<MessageInfo>, charging::PriceFacts)>,
    /// Records of finished messages, reused by the next sends (at most [`SPARE_INFOS`]).
    /// Why: a record lives from its send to its last status, seconds to minutes later; taking
    /// back the one just finished, still in cache, spares the allocator's work on both ends
    /// and a write into a cold block at every send.
    #[allow(clippy::vec_box)]
    spare_infos: Vec<Box<MessageInfo>>,
}

/// How many finished message records a number keeps for reuse: at most about 40 KB per
/// number, and enough to absorb a burst of deliveries between two sends.
const SPARE_INFOS: usize = 256;

/// Keeps a finished message record for the next send (or frees it, past [`SPARE_INFOS`]).
#[inline]
fn recycle(s: &mut NumberShard, info: Option<Box<MessageInfo>>) {
    if let Some(b) = info {
        if s.spare_infos.len() < SPARE_INFOS {
            s.spare_infos.push(b);
        }
    }
}

/// A boxed message record, in a reused block when there is one.
#[inline]
fn boxed_info(s: &mut NumberShard, info: MessageInfo) -> Box<MessageInfo> {
    match s.spare_infos.pop() {
        Some(mut b) => {
            *b = info;
            b
        }
        None => Box::new(info),
    }
}

impl Conversation {
    /// The user blocked this number.
    fn blocked(&self) -> bool {
        self.flags & feedback::BLOCKED != 0
    }
}

impl NumberShard {
    /// The user blocked this number.
    fn is_blocked(&self, user: WaId) -> bool {
        self.conversations
            .get(&user)
            .is_some_and(Conversation::blocked)
    }
}

struct WabaShard {
    id: WabaId,
    business: BusinessId,
    name: String,
    currency: String,
    numbers: Vec<PhoneNumberId>,
    templates: RwLock<TemplateBook>,
    /// Feedback per template (quality, pauses). Taken after `templates`, never while it is
    /// held for writing.
    feedback: Mutex<IdMap<TemplateId, feedback::TemplateFeedback>>,
}

struct BusinessState {
    name: String,
    country: String,
    vertical: String,
    verified: bool,
    wabas: Vec<WabaId>,
    /// Messaging limit, opt-outs, restriction: taken after a number shard's lock, never before.
    portfolio: Arc<Mutex<enforcement::Portfolio>>,
}

#[derive(Debug)]
struct ReviewTimer {
    at: SimTime,
    waba: WabaId,
    template: TemplateId,
    /// Decided at creation from the content; announced at `at`.
    verdict: review::Verdict,
}

/// The engine. Cheap to share (`Arc<Engine>`); every method takes `&self`.
pub struct Engine {
    rules: RulesConfig,
    pair_rate: Rate,
    window_len: u64,
    audience: Audience,
    seed: u64,
    tokens: rustc_hash::FxHashMap<String, BusinessId>,
    businesses: IdMap<BusinessId, BusinessState>,
    wabas: IdMap<WabaId, Arc<WabaShard>>,
    numbers: IdMap<PhoneNumberId, Arc<Mutex<NumberShard>>>,
    /// Number ids in a fixed order, for deterministic iteration.
    number_order: Vec<PhoneNumberId>,
    reviews: Mutex<Vec<ReviewTimer>>,
    policy: PolicyConfig,
    /// Timers that belong to no number: template unpauses, tier scaling. A leaf lock.
    dyn_timers: Mutex<BinaryHeap<Reverse<enforcement::DynTimer>>>,
    dyn_seq: AtomicU64,
    /// Earliest template review or dynamics timer, in µs (`u64::MAX`: none), so that polling
    /// and firing take those two locks only when something there is due. Lowered by every
    /// push while holding that queue's lock; recomputed with both locks held (reviews, then
    /// dynamics timers), so no push is lost between the two.
    side_next: AtomicU64,
    log_seq: AtomicU64,
    next_template_id: AtomicU64,
    /// One pricer per WABA (lock order: number shard before pricer; see `charging.rs`).
    charging: Charging,
    /// Policy state per portfolio (also reachable from each number shard).
    portfolios: IdMap<BusinessId, Arc<portfolio::PortfolioPolicy>>,
    /// Identity generations and acknowledgements (re-registration).
    identities: identity::IdentityBook,
    /// Businesses onboarded through the control API.
    onboarding: Mutex<eligibility::Registry>,
    /// Recycled numbers drawn by the audience (`[audience.profiles.reregistration]`) while a
    /// shard was locked, applied at the end of `handle_timeouts`.
    pending_reregistrations: Mutex<Vec<(SimTime, WaId)>>,
    /// `pending_reregistrations` is not empty (written under its lock): lets every timer
    /// batch skip taking that lock.
    rereg_pending: std::sync::atomic::AtomicBool,
}

/// A problem in a world description, naming the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct WorldError {
    pub field: String,
    pub message: String,
}

fn world_err(field: impl Into<String>, message: impl Into<String>) -> WorldError {
    WorldError {
        field: field.into(),
        message: message.into(),
    }
}

impl Engine {
    /// Builds the engine from a world description with the default `[policy]`. `now` stamps
    /// template creation times.
    pub fn new(
        world: &WorldSpec,
        rules: RulesConfig,
        seed: u64,
        now: SimTime,
    ) -> Result<Engine, WorldError> {
        Engine::with_policy(world, rules, PolicyConfig::default(), seed, now)
    }

    /// Builds the engine with explicit platform-dynamics knobs (`[policy]`).
    pub fn with_policy(
        world: &WorldSpec,
        rules: RulesConfig,
        policy: PolicyConfig,
        seed: u64,
        now: SimTime,
    ) -> Result<Engine, WorldError> {
        rules.validate().map_err(|(f, m)| world_err(f, m))?;
        policy.validate().map_err(|(f, m)| world_err(f, m))?;
        world
            .audience
            .validate()
            .map_err(|(f, m)| world_err(f, m))?;
        let mut tokens = rustc_hash::FxHashMap::default();
        let mut businesses = IdMap::default();
        let mut wabas = IdMap::default();
        let mut numbers = IdMap::default();
        let mut number_order = Vec::new();
        let mut portfolios = IdMap::default();
        let mut template_ids: std::collections::HashSet<TemplateId> = Default::default();
        let mut next_template_id = 1_000_000_000_000_000u64;
        let mut pending_reviews = Vec::new();
        for (bi, b) in world.businesses.iter().enumerate() {
            let bf = format!("businesses[{bi}]");
            if businesses.contains_key(&b.id) {
                return Err(world_err(
                    format!("{bf}.id"),
                    format!("duplicate id {}", b.id),
                ));
            }
            for (ti, t) in b.tokens.iter().enumerate() {
                if t.is_empty() {
                    return Err(world_err(format!("{bf}.tokens[{ti}]"), "empty token"));
                }
                if tokens.insert(t.clone(), b.id).is_some() {
                    return Err(world_err(
                        format!("{bf}.tokens[{ti}]"),
                        "token already belongs to a business",
                    ));
                }
            }
            let risk = if eligibility::prohibition(&b.vertical, &b.country).is_some() {
                Some(violations::Violation::ProhibitedVertical)
            } else if !b.bsp.official {
                Some(violations::Violation::UnofficialBsp)
            } else {
                None
            };
            let mut policy_state = portfolio::PortfolioPolicy::new(risk);
            if rules.onboarding.check {
                if let Some(p) = eligibility::prohibition(&b.vertical, &b.country) {
                    policy_state.refuse_at_onboarding(p.reason);
                }
            }
            let standing = Arc::new(policy_state);
            portfolios.insert(b.id, standing.clone());
            let mut waba_ids = Vec::new();
            let mut biz_numbers: u16 = 0;
            let portfolio = Arc::new(Mutex::new(enforcement::Portfolio::new(
                b.messaging_limit,
                b.wabas.iter().map(|w| w.phone_numbers.len()).sum(),
                b.verified,
            )));
            for (wi, w) in b.wabas.iter().enumerate() {
                let wf = format!("{bf}.wabas[{wi}]");
                if wabas.contains_key(&w.id) {
                    return Err(world_err(
                        format!("{wf}.id"),
                        format!("duplicate id {}", w.id),
                    ));
                }
                let mut book = TemplateBook::default();
                for (ti, t) in w.templates.iter().enumerate() {
                    let tf = format!("{wf}.templates[{ti}]");
                    let id = match t.id {
                        Some(id) => id,
                        None => {
                            next_template_id += 1;
                            TemplateId(next_template_id)
                        }
                    };
                    if !template_ids.insert(id) {
                        return Err(world_err(format!("{tf}.id"), format!("duplicate id {id}")));
                    }
                    if matches!(book.find(&t.name, &t.language), Lookup::Found(_)) {
                        return Err(world_err(
                            format!("{tf}.name"),
                            format!("'{}' already exists in {}", t.name, t.language),
                        ));
                    }
                    let tpl = Template::from_spec(t, id, w.id, now)
                        .map_err(|m| world_err(tf.clone(), m))?;
                    // A template the scenario declares PENDING was just submitted: it gets
                    // its review verdict after the delay, like one created through the API.
                    if tpl.status == TemplateStatus::Pending {
                        pending_reviews.push(ReviewTimer {
                            at: now.plus(rules.template_review_delay_s * MICROS_PER_SEC),
                            waba: w.id,
                            template: id,
                            verdict: review::review(&tpl),
                        });
                    }
                    book.insert(tpl);
                }
                let mut nums = Vec::new();
                for (pi, p) in w.phone_numbers.iter().enumerate() {
                    let pf = format!("{wf}.phone_numbers[{pi}]");
                    if numbers.contains_key(&p.id) {
                        return Err(world_err(
                            format!("{pf}.id"),
                            format!("duplicate id {}", p.id),
                        ));
                    }
                    let digits: String = p
                        .display_phone_number
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect();
                    if digits.len() < 5 {
                        return Err(world_err(
                            format!("{pf}.display_phone_number"),
                            "needs at least 5 digits",
                        ));
                    }
                    let mps = p.throughput_mps.unwrap_or(rules.throughput_mps);
                    if mps == 0 {
                        return Err(world_err(
                            format!("{pf}.throughput_mps"),
                            "must be at least 1",
                        ));
                    }
                    let shard = NumberShard {
                        id: p.id,
                        waba: w.id,
                        business: b.id,
                        display: p.display_phone_number.clone(),
                        meta: PhoneMeta {
                            id: p.id,
                            display: crate::pricing::Name::new(&digits),
                        },
                        verified_name: p.verified_name.clone(),
                        status: p.status,
                        quality: p.quality_rating,
                        throughput: Rate::per_second(mps),
                        limiter: Gcra::default(),
                        name_status: p.name_status.clone(),
                        official: p.is_official_business_account,
                        profile: p.profile.clone(),
                        conversations: IdMap::default(),
                        entry_points: IdMap::default(),
                        timers: Default::default(),
                        timer_seq: 0,
                        msg_seq: 0,
                        // Room for the first decisions: growing the ring copies it.
                        log: VecDeque::with_capacity(rules.log_capacity_per_number.min(1024)),
                        log_evicted: 0,
                        rng: Pcg64Mcg::seed_from_u64(seed ^ p.id.0.rotate_left(17)),
                        counters: NumberCounters::default(),
                        dynamics: feedback::NumberDynamics::new(
                            &policy,
                            b.messaging_limit,
                            biz_numbers,
                        ),
                        portfolio: portfolio.clone(),
                        last_sweep: now,
                        sweep_at_len: SWEEP_MIN_LEN,
                        latest: now,
                        policy: standing.clone(),
                        identity_check: rules.identity.check,
                        held: Vec::new(),
                        spare_infos: Vec::new(),
                    };
                    numbers.insert(p.id, Arc::new(Mutex::new(shard)));
                    number_order.push(p.id);
                    nums.push(p.id);
                    biz_numbers += 1;
                }
                wabas.insert(
                    w.id,
                    Arc::new(WabaShard {
                        id: w.id,
                        business: b.id,
                        name: w.name.clone(),
                        currency: w.currency.clone(),
                        numbers: nums,
                        templates: RwLock::new(book),
                        feedback: Mutex::new(Default::default()),
                    }),
                );
                waba_ids.push(w.id);
            }
            businesses.insert(
                b.id,
                BusinessState {
                    name: b.name.clone(),
                    country: b.country.clone(),
                    vertical: b.vertical.clone(),
                    verified: b.verified,
                    wabas: waba_ids,
                    portfolio,
                },
            );
        }
        number_order.sort();
        let charging = Charging::new(
            charging::embedded_book()?,
            &crate::scenario::PricingSection::default(),
            wabas.iter().map(|(id, w)| (*id, w.currency.as_str())),
        )?;
        // Templates a scenario declares PENDING are under review from the start.
        let first_review = pending_reviews
            .iter()
            .map(|r| r.at.as_micros())
            .min()
            .unwrap_or(u64::MAX);
        Ok(Engine {
            pair_rate: Rate::every(
                (rules.pair_interval_s * MICROS_PER_SEC as f64) as u64,
                rules.pair_burst,
            ),
            window_len: rules.service_window_hours * MICROS_PER_HOUR,
            rules,
            audience: Audience::new(&world.audience, seed),
            seed,
            tokens,
            businesses,
            wabas,
            numbers,
            number_order,
            reviews: Mutex::new(pending_reviews),
            policy,
            dyn_timers: Mutex::new(BinaryHeap::new()),
            dyn_seq: AtomicU64::new(0),
            side_next: AtomicU64::new(first_review),
            log_seq: AtomicU64::new(0),
            next_template_id: AtomicU64::new(next_template_id + 1_000),
            charging,
            portfolios,
            identities: Default::default(),
            onboarding: Default::default(),
            pending_reregistrations: Default::default(),
            rereg_pending: Default::default(),
        })
    }

    /// Replaces the default pricing (`model = "by-date"`, `card = "auto"`, no markup) with a
    /// scenario's `[pricing]`. Call before sharing the engine; ledgers start empty.
    pub fn with_pricing(
        mut self,
        section: &crate::scenario::PricingSection,
    ) -> Result<Engine, WorldError> {
        self.charging = Charging::new(
            self.charging.book(),
            section,
            self.wabas.iter().map(|(id, w)| (*id, w.currency.as_str())),
        )?;
        Ok(self)
    }

    /// Exact cost totals of everything delivered so far, over every WABA, in a fixed order
    /// (serde-serialisable; for the cost section of run and simulate reports).
    pub fn cost_summary(&self) -> crate::pricing::CostSummary {
        self.charging.cost_summary()
    }

    /// `GET /_sim/ledger`: totals plus ledger lines numbered `since` or later (at most
    /// `limit`, oldest first).
    pub fn ledger_page(&self, since: u64, limit: usize) -> charging::LedgerPage {
        self.charging.ledger_page(since, limit)
    }

    pub fn rules(&self) -> &RulesConfig {
        &self.rules
    }

    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
    }

    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The business a bearer token acts for.
    pub fn authorize(&self, token: &str) -> Option<BusinessId> {
        self.tokens.get(token).copied()
    }

    /// Whether an id names a phone number, a WABA or a template (for routing `/{id}`).
    pub fn kind_of(&self, id: u64) -> Option<ObjectKind> {
        if self.numbers.contains_key(&PhoneNumberId(id)) {
            Some(ObjectKind::PhoneNumber)
        } else if self.wabas.contains_key(&WabaId(id)) {
            Some(ObjectKind::Waba)
        } else if self.find_template(TemplateId(id)).is_some() {
            Some(ObjectKind::Template)
        } else {
            None
        }
    }

    fn lookup(&self, id: PhoneNumberId) -> Result<&Arc<Mutex<NumberShard>>, Rejection> {
        self.numbers
            .get(&id)
            .ok_or_else(|| Rejection::unknown_object(&id.to_string()))
    }

    fn shard(
        &self,
        business: BusinessId,
        id: PhoneNumberId,
    ) -> Result<&Arc<Mutex<NumberShard>>, Rejection> {
        let shard = self.lookup(id)?;
        // The owner never changes, but reading it needs the lock; keep it short.
        if shard.lock().business != business {
            return Err(Rejection::permission(id));
        }
        Ok(shard)
    }

    /// Checks that `id` is a phone number `business` may use.
    pub fn check_number(&self, business: BusinessId, id: PhoneNumberId) -> Result<(), Rejection> {
        self.shard(business, id).map(|_| ())
    }

    fn waba(&self, business: BusinessId, id: WabaId) -> Result<&Arc<WabaShard>, Rejection> {
        let w = self
            .wabas
            .get(&id)
            .ok_or_else(|| Rejection::unknown_object(&id.to_string()))?;
        if w.business != business {
            return Err(Rejection::permission(id));
        }
        Ok(w)
    }

    fn next_log_seq(&self) -> u64 {
        self.log_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends one message: the send-path rules in order, then the status ladder.
    ///
    /// Order: number status → throughput (every request to the number counts, as at Meta's
    /// gateway) → template or service-window rules → pair rate (only messages that would
    /// otherwise be accepted use pair quota) → accepted.
    pub fn send(
        &self,
        now: SimTime,
        business: BusinessId,
        phone: PhoneNumberId,
        msg: &Outbound,
        out: &mut Effects,
    ) -> Result<SendReceipt, Rejection> {
        let shard = self.lookup(phone)?;
        let mut s = shard.lock();
        if s.business != business {
            return Err(Rejection::permission(phone));
        }
        // Concurrent callers read the clock before taking the lock, so a later request can get
        // here first; time must not run backwards for the limiters or it throttles spuriously.
        let now = now.max(s.latest);
        s.latest = now;
        let result = self.send_locked(now, &mut s, msg, out);
        if result.is_ok() {
            s.policy.messaged(msg.to);
        }
        match &result {
            Ok(_) => s.counters.accepted += 1,
            Err(rej) => *s.counters.rejected.entry(rej.code.code()).or_default() += 1,
        }
        let cap = self.rules.log_capacity_per_number;
        if cap == 0 {
            // Nothing is kept (the simulator's setting): skip building the line.
            s.log_evicted += 1;
        } else {
            let seq = self.next_log_seq();
            let entry = match &result {
                Ok(r) => LogEntry {
                    seq,
                    at: now,
                    phone_number_id: phone,
                    recipient: Some(msg.to),
                    rule: Rule::Accepted,
                    code: None,
                    wamid: Some(r.wamid),
                    detail: None,
                },
                Err(rej) => LogEntry {
                    seq,
                    at: now,
                    phone_number_id: phone,
                    recipient: Some(msg.to),
                    rule: rej.rule.unwrap_or(Rule::Accepted),
                    code: Some(rej.code),
                    wamid: None,
                    detail: Some(rej.details.clone().into()),
                },
            };
            push_log(&mut s, cap, entry);
        }
        // Sending with the current hash acknowledged an identity change: release what this
        // business's other numbers hold for the user (after unlocking: one shard at a time).
        let release = result.is_ok()
            && s.identity_check
            && msg.recipient_identity_key_hash.is_some()
            && self.identities.generation(msg.to) > 0;
        drop(s);
        if release {
            self.release_held(now, business, msg.to, out);
        }
        result
    }

    fn send_locked(
        &self,
        now: SimTime,
        s: &mut NumberShard,
        msg: &Outbound,
        out: &mut Effects,
    ) -> Result<SendReceipt, Rejection> {
        match s.status {
            NumberStatus::Connected | NumberStatus::Flagged => {}
            NumberStatus::Restricted => {
                return Err(Rejection::rule(
                    ErrorCode::PolicyBlocked,
                    Rule::NumberStatus,
                    "The phone number is RESTRICTED and cannot send messages.",
                ))
            }
            other => {
                return Err(Rejection::rule(
                    ErrorCode::NotRegistered,
                    Rule::NumberStatus,
                    format!(
                        "The phone number status is {}; it must be CONNECTED to send.",
                        other.as_str()
                    ),
                ))
            }
        }
        if s.policy.standing.is_disabled() {
            return Err(integrity::disabled_rejection(&s.policy));
        }
        self.check_maintenance(now, s)?;
        if let Err(wait) = s.limiter.try_take(now, s.throughput) {
            return Err(Rejection::rule(
                ErrorCode::ThroughputLimit,
                Rule::Throughput,
                format!(
                    "Cloud API message throughput has been reached ({} msg/s); retry in {} ms.",
                    1_000_000 / s.throughput.interval.max(1),
                    wait.div_ceil(1_000)
                ),
            ));
        }
        let conv = s.conversations.get(&msg.to).copied().unwrap_or_default();
        let in_window = conv.window_until > now;
        let mut async_error = None;
        let (category, template) = match &msg.content {
            Content::Template(send) => {
                let waba = &self.wabas[&s.waba];
                let book = waba.templates.read();
                let t = match book.find(&send.name, &send.language) {
                    Lookup::Found(t) => t,
                    // Meta answers 132001 whether the name or only the language is missing.
                    Lookup::NoSuchName | Lookup::NoSuchLanguage => {
                        return Err(Rejection::rule(
                            ErrorCode::TemplateMissing,
                            Rule::TemplateExists,
                            format!(
                                "template name ({}) does not exist in {}",
                                send.name, send.language
                            ),
                        ))
                    }
                };
                match t.status {
                    TemplateStatus::Approved => {}
                    TemplateStatus::Paused => {
                        return Err(Rejection::rule(
                            ErrorCode::TemplatePaused,
                            Rule::TemplatePaused,
                            format!("Template {} is paused due to low quality.", t.name),
                        ))
                    }
                    TemplateStatus::Disabled => {
                        return Err(Rejection::rule(
                            ErrorCode::TemplateDisabled,
                            Rule::TemplateDisabled,
                            format!("Template {} is disabled.", t.name),
                        ))
                    }
                    other => {
                        return Err(Rejection::rule(
                            ErrorCode::TemplateMissing,
                            Rule::TemplateApproved,
                            format!(
                                "template name ({}) in {} is {}, not APPROVED",
                                t.name,
                                t.language,
                                other.as_str()
                            ),
                        ))
                    }
                }
                t.check_send(send)
                    .map_err(|(code, d)| Rejection::rule(code, Rule::TemplateParameters, d))?;
                (charging::category_of(t.category), Some((t.id, t.category)))
            }
            Content::FreeForm { .. } => {
                if !in_window {
                    let rej = Rejection::rule(
                        ErrorCode::ReEngagement,
                        Rule::ServiceWindow,
                        ErrorCode::ReEngagement.default_details(),
                    );
                    match self.rules.window_errors {
                        ErrorTiming::Sync => return Err(rej),
                        ErrorTiming::Async => async_error = Some(ErrorCode::ReEngagement),
                    }
                }
                (crate::pricing::Category::Service, None)
            }
        };
        if let Some(kind) = integrity::scan_outbound(&msg.content) {
            return Err(self.content_violation(now, s, msg, kind, out));
        }
        let mut hold = false;
        let mut key_hash = None;
        if s.identity_check {
            key_hash = Some(identity::key_hash(
                self.seed,
                msg.to,
                self.identities.generation(msg.to),
            ));
            if async_error.is_none() {
                match identity::decide(
                    &self.identities,
                    self.seed,
                    s.business,
                    msg.to,
                    msg.recipient_identity_key_hash.as_deref(),
                ) {
                    identity::IdentityDecision::Pass => {}
                    identity::IdentityDecision::Acknowledge(g) => {
                        self.identities.acknowledge(s.business, msg.to, g);
                    }
                    identity::IdentityDecision::Mismatch => {
                        async_error = Some(ErrorCode::IdentityKeyMismatch)
                    }
                    identity::IdentityDecision::Hold => hold = true,
                }
            }
        }
        let mut conv = conv;
        let fep_open =
            !s.entry_points.is_empty() && s.entry_points.get(&msg.to).is_some_and(|e| e.open(now));
        if let Some((id, category)) = template {
            // An earlier asynchronous failure (window, identity) wins over the template rules.
            let template_error =
                self.check_template_send(now, s, msg.to, category, in_window, &mut conv, out)?;
            async_error = async_error.or(template_error);
            conv.last_template = id.0;
        }
        let feedback_category = template.map_or(reactions::FeedbackCategory::Service, |(_, c)| {
            reactions::FeedbackCategory::from(c)
        });
        let template = template.map(|(id, _)| id);
        if async_error.is_none() {
            if let Err(wait) = conv.pair.try_take(now, self.pair_rate) {
                return Err(Rejection::rule(
                    ErrorCode::PairRateLimit,
                    Rule::PairRate,
                    format!(
                        "{} Retry in {} s.",
                        ErrorCode::PairRateLimit.default_details(),
                        wait.div_ceil(MICROS_PER_SEC)
                    ),
                ));
            }
            if fep_open {
                // The business's reply opens the 72 h window (or continues it).
                if let Some(e) = s.entry_points.get_mut(&msg.to) {
                    e.reply(now);
                }
            }
        }
        s.msg_seq += 1;
        let wamid = Wamid {
            user: msg.to,
            seq: s.msg_seq,
            tag: (s.id.0 & 0xFFFF) as u16,
            inbound: false,
        };
        let facts = PriceFacts {
            category,
            csw_open: in_window,
            fep_open,
        };
        // Priced at send (not charged) only when it will be sent: an asynchronous refusal gets
        // a `failed` status with no billing.
        let billing = match async_error {
            Some(_) => events::Billing::NONE,
            None => self
                .charging
                .price(
                    now,
                    charging::MessageRef {
                        waba: s.waba,
                        phone: s.id.0,
                        recipient: msg.to,
                        key: charging::message_key(wamid.tag, wamid.seq),
                    },
                    facts,
                    false,
                    now,
                )
                .unwrap_or(events::Billing::NONE),
        };
        // Stored after pricing, not before: a recipient new to this number gets an entry in a
        // line that is rarely in cache, and an atomic instruction (the pricer's lock) waits
        // for every pending store to reach the cache. From here to the next one (this shard's
        // unlock) the status ladder's start leaves the write time to complete.
        if async_error.is_none() {
            s.conversations.insert(msg.to, conv);
        }
        let phone = s.meta.clone();
        let info = boxed_info(
            s,
            MessageInfo {
                wamid,
                phone,
                billing,
                template,
                feedback_category,
                biz_opaque_callback_data: msg.biz_opaque_callback_data.clone(),
                sent_at: now,
                recipient_identity_key_hash: key_hash,
            },
        );
        let receipt = SendReceipt {
            wamid,
            wa_id: msg.to,
        };
        if let Some(code) = async_error {
            self.fail_now(now, s, info, code, out);
            return Ok(receipt);
        }
        self.detect_violation(now, s, out);
        if hold {
            if s.held.len() >= self.rules.identity.hold_capacity {
                self.fail_now(now, s, info, ErrorCode::IdentityKeyMismatch, out);
            } else {
                s.held.push((info, facts));
            }
            return Ok(receipt);
        }
        self.launch(now, s, info, facts, conv.blocked(), out);
        Ok(receipt)
    }

    /// Starts the status ladder of an accepted message: `sent` now, then delivered (or failed
    /// with 131026 for a number not on WhatsApp) after the audience's delay. `blocked`: the
    /// recipient blocked this number (the caller has just read their state; a second lookup
    /// per message in a million-user map is a cache miss).
    fn launch(
        &self,
        now: SimTime,
        s: &mut NumberShard,
        info: Box<MessageInfo>,
        facts: charging::PriceFacts,
        blocked: bool,
        out: &mut Effects,
    ) {
        let to = info.recipient();
        if blocked {
            // A user who blocked the number never gets its messages: `sent`, then nothing.
            let done = out.last_status(now, s.waba, info, DeliveryStatus::Sent, None);
            recycle(s, done);
            return;
        }
        out.status(now, s.waba, &info, DeliveryStatus::Sent, None);
        let delay = self.audience.delivered_delay(&mut s.rng);
        let (status, error) = if self.audience.on_whatsapp(to) {
            (DeliveryStatus::Delivered, None)
        } else {
            (DeliveryStatus::Failed, Some(ErrorCode::Undeliverable))
        };
        schedule(
            s,
            out,
            now.plus(delay),
            TimerKind::Status {
                info,
                status,
                error,
                pricing: Some(facts),
            },
        );
    }

    /// Counts and logs an asynchronous failure (a `failed` status) with the rule behind it.
    fn record_failure(
        &self,
        at: SimTime,
        s: &mut NumberShard,
        info: &MessageInfo,
        code: ErrorCode,
    ) {
        *s.counters.failed.entry(code.code()).or_default() += 1;
        let entry = LogEntry {
            seq: self.next_log_seq(),
            at,
            phone_number_id: s.id,
            recipient: Some(info.recipient()),
            rule: rule_of_async(code),
            code: Some(code),
            wamid: Some(info.wamid),
            detail: None,
        };
        push_log(s, self.rules.log_capacity_per_number, entry);
    }

    fn fail_now(
        &self,
        now: SimTime,
        s: &mut NumberShard,
        info: Box<MessageInfo>,
        code: ErrorCode,
        out: &mut Effects,
    ) {
        self.record_failure(now, s, &info, code);
        let done = out.last_status(now, s.waba, info, DeliveryStatus::Failed, Some(code));
        recycle(s, done);
    }

    /// Mark an inbound message as read (`"status": "read"`). The platform shows blue ticks to
    /// the user; nothing is reported back by webhook.
    pub fn mark_read(
        &self,
        _now: SimTime,
        business: BusinessId,
        phone: PhoneNumberId,
        message_id: &str,
    ) -> Result<(), Rejection> {
        self.shard(business, phone)?;
        if !message_id.starts_with("wamid.") {
            return Err(Rejection::new(
                ErrorCode::ParameterValueInvalid,
                format!("message_id: '{message_id}' is not a WhatsApp message id (wamid.…)"),
            ));
        }
        Ok(())
    }

    /// A user writes to a business number: opens (or renews) the customer service window and
    /// reports the message by webhook. Used by the control API and the simulator.
    pub fn inbound(
        &self,
        now: SimTime,
        phone: PhoneNumberId,
        from: WaId,
        text: &str,
        out: &mut Effects,
    ) -> Result<Wamid, Rejection> {
        self.inbound_with(now, phone, from, text, false, out)
    }

    /// As [`Self::inbound`], for a user who came from a Click-to-WhatsApp ad or a Page CTA:
    /// a business reply within 24 h opens a 72 h free-entry-point window, in which every
    /// message is free (`pricing.type = free_entry_point`).
    pub fn inbound_from_ad(
        &self,
        now: SimTime,
        phone: PhoneNumberId,
        from: WaId,
        text: &str,
        out: &mut Effects,
    ) -> Result<Wamid, Rejection> {
        self.inbound_with(now, phone, from, text, true, out)
    }

    fn inbound_with(
        &self,
        now: SimTime,
        phone: PhoneNumberId,
        from: WaId,
        text: &str,
        from_ad: bool,
        out: &mut Effects,
    ) -> Result<Wamid, Rejection> {
        let shard = self.lookup(phone)?;
        let mut s = shard.lock();
        let now = now.max(s.latest);
        s.latest = now;
        Ok(self.inbound_locked(now, &mut s, from, text, from_ad, out))
    }

    /// [`Self::inbound`] with the number's lock held (reactions reply from inside a timer).
    fn inbound_locked(
        &self,
        now: SimTime,
        s: &mut NumberShard,
        from: WaId,
        text: &str,
        from_ad: bool,
        out: &mut Effects,
    ) -> Wamid {
        let phone = s.id;
        let conv = s.conversations.entry(from).or_default();
        conv.window_until = now.plus(self.window_len);
        if from_ad {
            s.entry_points
                .entry(from)
                .or_default()
                .user_came_from_ad(now);
        }
        s.msg_seq += 1;
        let wamid = Wamid {
            user: from,
            seq: s.msg_seq,
            tag: (s.id.0 & 0xFFFF) as u16,
            inbound: true,
        };
        s.counters.inbound += 1;
        let seq = self.next_log_seq();
        push_log(
            s,
            self.rules.log_capacity_per_number,
            LogEntry {
                seq,
                at: now,
                phone_number_id: phone,
                recipient: Some(from),
                rule: Rule::InboundMessage,
                code: None,
                wamid: Some(wamid),
                detail: None,
            },
        );
        out.events.push(Event {
            at: now,
            waba: s.waba,
            body: EventBody::Inbound {
                phone: s.meta.clone(),
                from,
                profile_name: self.audience.profile_name(from),
                wamid,
                text: text.to_string(),
                identity_key_hash: s
                    .identity_check
                    .then(|| identity::key_hash(self.seed, from, self.identities.generation(from))),
            },
        });
        wamid
    }

    /// Whether the customer service window between `phone` and `user` is open at `now`.
    pub fn window_open(&self, now: SimTime, phone: PhoneNumberId, user: WaId) -> bool {
        self.numbers.get(&phone).is_some_and(|s| {
            s.lock()
                .conversations
                .get(&user)
                .is_some_and(|c| c.window_until > now)
        })
    }

    /// The earliest pending timer, if any: when the driver must call [`Self::handle_timeouts`].
    pub fn poll_timeout(&self) -> Option<SimTime> {
        let mut best: Option<SimTime> = None;
        for id in &self.number_order {
            if let Some(at) = self.numbers[id].lock().timers.next_at() {
                best = Some(best.map_or(at, |b| b.min(at)));
            }
        }
        let side = self.side_next.load(Ordering::Acquire);
        if side != u64::MAX {
            let at = SimTime(side);
            best = Some(best.map_or(at, |b| b.min(at)));
        }
        best
    }

    /// Whether a review or dynamics timer may be due at `now`.
    fn side_due(&self, now: SimTime) -> bool {
        self.side_next.load(Ordering::Acquire) <= now.as_micros()
    }

    /// Recomputes [`Self::side_next`] (see there for the locking).
    fn refresh_side_next(&self) {
        let r = self.reviews.lock();
        let d = self.dyn_timers.lock();
        let next = r
            .iter()
            .map(|t| t.at)
            .chain(d.peek().map(|Reverse(t)| t.at))
            .min()
            .map_or(u64::MAX, |t| t.as_micros());
        self.side_next.store(next, Ordering::Release);
    }

    /// Fires every timer due at or before `now`, in time order per number.
    pub fn handle_timeouts(&self, now: SimTime, out: &mut Effects) {
        self.fire_due(now, out);
    }

    /// [`Self::handle_timeouts`], returning what [`Self::poll_timeout`] would return after it.
    /// A virtual-time driver alternates the two on every timer; this reads each number's next
    /// timer while its lock is still held, instead of locking every number again.
    pub fn fire_due(&self, now: SimTime, out: &mut Effects) -> Option<SimTime> {
        if self.side_due(now) {
            self.fire_reviews(now, out);
        }
        let mut next: Option<SimTime> = None;
        for id in &self.number_order {
            let mut s = self.numbers[id].lock();
            // Views (limit usage, maintenance) read `latest` as the shard's notion of now.
            s.latest = s.latest.max(now);
            while let Some(timer) = s.timers.pop_due(now) {
                if let Some(TimerKind::Status { info, .. }) = s.timers.peek_item() {
                    prefetch_info(info);
                }
                self.fire(&mut s, timer, out);
            }
            if now.since(s.last_sweep) >= MICROS_PER_HOUR || s.conversations.len() >= s.sweep_at_len
            {
                sweep(&mut s, now);
            }
            if let Some(at) = s.timers.next_at() {
                next = Some(next.map_or(at, |b| b.min(at)));
            }
        }
        // What follows may add timers to numbers already visited: then poll them all.
        let mut exact = true;
        if self.side_due(now) {
            self.fire_dyn_timers(now, out);
            self.refresh_side_next();
            exact = false;
        }
        if self.apply_pending_reregistrations(out) {
            exact = false;
        }
        if !exact {
            return self.poll_timeout();
        }
        let side = self.side_next.load(Ordering::Acquire);
        if side != u64::MAX {
            next = Some(next.map_or(SimTime(side), |b| b.min(SimTime(side))));
        }
        next
    }

    fn fire(&self, s: &mut NumberShard, timer: timers::Timed<TimerKind>, out: &mut Effects) {
        let at = timer.at;
        match timer.item {
            TimerKind::Status {
                mut info,
                status,
                error,
                pricing,
            } => {
                // The platform charges on delivery; failed messages are never priced again.
                if let (DeliveryStatus::Delivered, Some(facts)) = (status, pricing) {
                    let m = charging::MessageRef {
                        waba: s.waba,
                        phone: s.id.0,
                        recipient: info.recipient(),
                        key: charging::message_key(info.wamid.tag, info.wamid.seq),
                    };
                    if let Some(b) = self.charging.price(at, m, facts, true, info.sent_at) {
                        // Usually what the `sent` status showed; when not (a model or free
                        // allowance changed in between), copied if a `sent` event still holds
                        // the message.
                        if b != info.billing {
                            info.billing = b;
                        }
                    }
                }
                match status {
                    DeliveryStatus::Delivered => s.counters.delivered += 1,
                    DeliveryStatus::Read => s.counters.read += 1,
                    DeliveryStatus::Failed => {
                        let code = error.unwrap_or(ErrorCode::SomethingWentWrong);
                        self.record_failure(at, s, &info, code);
                    }
                    DeliveryStatus::Sent => {}
                }
                let next = if status == DeliveryStatus::Delivered {
                    self.audience.read_delay(&mut s.rng)
                } else {
                    None
                };
                if next.is_none() && status != DeliveryStatus::Delivered {
                    // The last rung: the record moves into its event (or, for a brief
                    // status, goes back to the number for reuse).
                    let done = out.last_status(at, s.waba, info, status, error);
                    recycle(s, done);
                    return;
                }
                out.status(at, s.waba, &info, status, error);
                if status == DeliveryStatus::Delivered {
                    self.on_delivered(at, s, &info, out);
                }
                match next {
                    Some(d) => schedule(
                        s,
                        out,
                        at.plus(d),
                        TimerKind::Status {
                            info,
                            status: DeliveryStatus::Read,
                            error: None,
                            pricing: None,
                        },
                    ),
                    // Delivered and never read: done.
                    None => recycle(s, Some(info)),
                }
            }
            TimerKind::Reaction(r) => {
                let ReactionTimer {
                    user,
                    template,
                    kind,
                } = *r;
                self.apply_reaction(at, s, user, template, kind, out)
            }
            TimerKind::QualityTick => self.quality_tick(at, s, out),
            TimerKind::ThroughputUpgraded => self.finish_upgrade(at, s, out),
        }
    }

    fn fire_reviews(&self, now: SimTime, out: &mut Effects) {
        let due: Vec<ReviewTimer> = {
            let mut r = self.reviews.lock();
            if !r.iter().any(|t| t.at <= now) {
                return;
            }
            let (due, keep): (Vec<_>, Vec<_>) = r.drain(..).partition(|t| t.at <= now);
            *r = keep;
            due
        };
        let mut due = due;
        due.sort_by_key(|t| (t.at, t.template));
        for t in due {
            let Some(waba) = self.wabas.get(&t.waba) else {
                continue;
            };
            let mut book = waba.templates.write();
            let Some(tpl) = book.get_mut(t.template) else {
                continue; // deleted while pending
            };
            if tpl.status != TemplateStatus::Pending {
                continue;
            }
            let (status, reason) = match t.verdict {
                review::Verdict::Approve => (TemplateStatus::Approved, None),
                review::Verdict::Reject(r) => (TemplateStatus::Rejected, Some(r)),
            };
            tpl.status = status;
            tpl.rejected_reason = reason;
            out.events.push(Event {
                at: t.at,
                waba: t.waba,
                body: EventBody::TemplateStatus {
                    template: tpl.id,
                    name: tpl.name.clone(),
                    language: tpl.language.clone(),
                    category: tpl.category,
                    status,
                    reason,
                },
            });
        }
    }

    // ----- Templates -----------------------------------------------------------------------

    /// Creates a template (status PENDING); the review verdict comes after
    /// `template_review_delay_s` as a `message_template_status_update` event.
    pub fn create_template(
        &self,
        now: SimTime,
        business: BusinessId,
        waba: WabaId,
        req: &TemplateRequest,
        out: &mut Effects,
    ) -> Result<Template, Rejection> {
        let w = self.waba(business, waba)?;
        let id = TemplateId(self.next_template_id.fetch_add(1, Ordering::Relaxed));
        let t = Template::from_request(req, id, waba, now)
            .map_err(|(code, d)| Rejection::new(code, d))?;
        let mut book = w.templates.write();
        if matches!(book.find(&t.name, &t.language), Lookup::Found(_)) {
            let mut r = Rejection::new(
                ErrorCode::InvalidParameter,
                format!(
                    "Content in this language already exists: message template \"{}\" already has a {} translation.",
                    t.name, t.language
                ),
            );
            r.subcode = Some(2388024);
            return Err(r);
        }
        book.insert(t.clone());
        drop(book);
        let at = now.plus(self.rules.template_review_delay_s * MICROS_PER_SEC);
        {
            let mut r = self.reviews.lock();
            r.push(ReviewTimer {
                at,
                waba,
                template: id,
                verdict: review::review(&t),
            });
            self.side_next.fetch_min(at.as_micros(), Ordering::AcqRel);
        }
        out.wake(at);
        Ok(t)
    }

    /// Templates of a WABA, in creation order.
    pub fn templates(
        &self,
        business: BusinessId,
        waba: WabaId,
    ) -> Result<Vec<Template>, Rejection> {
        Ok(self
            .waba(business, waba)?
            .templates
            .read()
            .templates
            .clone())
    }

    /// Deletes templates by name (every language) or by name and id. Unknown names are an error,
    /// as on the Graph API.
    pub fn delete_template(
        &self,
        business: BusinessId,
        waba: WabaId,
        name: &str,
        id: Option<TemplateId>,
    ) -> Result<usize, Rejection> {
        let w = self.waba(business, waba)?;
        let removed = w.templates.write().remove(name, id);
        if removed == 0 {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                format!(
                    "name: no message template named '{name}'{}",
                    match id {
                        Some(id) => format!(" with hsm_id {id}"),
                        None => String::new(),
                    }
                ),
            ));
        }
        Ok(removed)
    }

    fn find_template(&self, id: TemplateId) -> Option<(Arc<WabaShard>, Template)> {
        self.wabas
            .values()
            .find_map(|w| w.templates.read().get(id).cloned().map(|t| (w.clone(), t)))
    }

    /// One template by id.
    pub fn template(&self, business: BusinessId, id: TemplateId) -> Result<Template, Rejection> {
        let (w, t) = self
            .find_template(id)
            .ok_or_else(|| Rejection::unknown_object(&id.to_string()))?;
        if w.business != business {
            return Err(Rejection::permission(id));
        }
        Ok(t)
    }

    /// Sets a template's status directly (control API, scenario scripting).
    pub fn set_template_status(
        &self,
        now: SimTime,
        waba: WabaId,
        id: TemplateId,
        status: TemplateStatus,
        out: &mut Effects,
    ) -> Result<(), Rejection> {
        let w = self
            .wabas
            .get(&waba)
            .ok_or_else(|| Rejection::unknown_object(&waba.to_string()))?;
        let mut book = w.templates.write();
        let t = book
            .get_mut(id)
            .ok_or_else(|| Rejection::unknown_object(&id.to_string()))?;
        if t.status != status {
            t.status = status;
            out.events.push(Event {
                at: now,
                waba,
                body: EventBody::TemplateStatus {
                    template: id,
                    name: t.name.clone(),
                    language: t.language.clone(),
                    category: t.category,
                    status,
                    reason: None,
                },
            });
        }
        Ok(())
    }

    // ----- Phone numbers and WABAs ---------------------------------------------------------

    /// A snapshot of one number, as `GET /{phone-number-id}` shows it.
    pub fn phone_number(
        &self,
        business: BusinessId,
        id: PhoneNumberId,
    ) -> Result<PhoneNumberView, Rejection> {
        let shard = self.shard(business, id)?;
        Ok(self.view(&mut shard.lock()))
    }

    fn view(&self, s: &mut NumberShard) -> PhoneNumberView {
        let (messaging_limit, used) = self.limit_of(s.latest, s);
        // RESTRICTED is what older material calls a number whose limit is used up: it can
        // only answer users who wrote first until the moving 24 h frees capacity.
        let status = match (s.status, messaging_limit.limit()) {
            (NumberStatus::Connected, Some(l)) if used >= l => NumberStatus::Restricted,
            (st, _) => st,
        };
        PhoneNumberView {
            id: s.id,
            waba_id: s.waba,
            business_id: s.business,
            display_phone_number: s.display.clone(),
            verified_name: s.verified_name.clone(),
            status,
            quality_rating: s.quality,
            throughput_mps: (1_000_000 / s.throughput.interval.max(1)) as u32,
            messaging_limit,
            messaging_limit_used: used,
            quality_score: s.dynamics.score,
            throughput_upgrading: s.dynamics.upgrading_until > s.latest,
            flagged_since: s.dynamics.flagged_since.map(|t| t.unix_secs()),
            name_status: s.name_status.clone(),
            is_official_business_account: s.official,
            country_dial_code: dial_code(&s.meta.display),
            counters: s.counters.clone(),
            log_evicted: s.log_evicted,
        }
    }

    /// The numbers of a WABA.
    pub fn waba_phone_numbers(
        &self,
        business: BusinessId,
        waba: WabaId,
    ) -> Result<Vec<PhoneNumberView>, Rejection> {
        let w = self.waba(business, waba)?;
        Ok(w.numbers
            .iter()
            .map(|id| self.view(&mut self.numbers[id].lock()))
            .collect())
    }

    /// A WABA, as `GET /{waba-id}` shows it.
    pub fn waba_view(&self, business: BusinessId, waba: WabaId) -> Result<WabaView, Rejection> {
        let w = self.waba(business, waba)?;
        Ok(WabaView {
            id: w.id,
            name: w.name.clone(),
            currency: w.currency.clone(),
            business_id: w.business,
            phone_numbers: w.numbers.clone(),
        })
    }

    pub fn business_profile(
        &self,
        business: BusinessId,
        id: PhoneNumberId,
    ) -> Result<BusinessProfile, Rejection> {
        Ok(self.shard(business, id)?.lock().profile.clone())
    }

    /// Updates the business profile: fields present in `update` replace the stored ones.
    pub fn update_business_profile(
        &self,
        business: BusinessId,
        id: PhoneNumberId,
        update: BusinessProfile,
    ) -> Result<(), Rejection> {
        let shard = self.shard(business, id)?;
        let mut s = shard.lock();
        let p = &mut s.profile;
        if update.about.is_some() {
            p.about = update.about;
        }
        if update.address.is_some() {
            p.address = update.address;
        }
        if update.description.is_some() {
            p.description = update.description;
        }
        if update.email.is_some() {
            p.email = update.email;
        }
        if update.profile_picture_url.is_some() {
            p.profile_picture_url = update.profile_picture_url;
        }
        if !update.websites.is_empty() {
            p.websites = update.websites;
        }
        if update.vertical.is_some() {
            p.vertical = update.vertical;
        }
        Ok(())
    }

    // ----- Observability -------------------------------------------------------------------

    /// The decision log, merged across numbers in decision order: entries with `seq >= since`,
    /// at most `limit` of them.
    pub fn events(&self, since: u64, limit: usize) -> EventLogPage {
        let mut all: Vec<LogEntry> = Vec::new();
        let mut evicted = 0;
        for id in &self.number_order {
            let s = self.numbers[id].lock();
            evicted += s.log_evicted;
            all.extend(s.log.iter().filter(|e| e.seq >= since).cloned());
        }
        all.sort_by_key(|e| e.seq);
        let more = all.len() > limit;
        all.truncate(limit);
        EventLogPage {
            next: all.last().map(|e| e.seq + 1).unwrap_or(since),
            more,
            evicted,
            events: all,
        }
    }

    /// Scheduled events not yet due (a `/metrics` gauge).
    pub fn pending_timers(&self) -> usize {
        self.number_order
            .iter()
            .map(|id| self.numbers[id].lock().timers.len())
            .sum::<usize>()
            + self.reviews.lock().len()
            + self.dyn_len()
    }

    /// Everything `GET /_sim/state` shows.
    pub fn snapshot(&self) -> StateSnapshot {
        // The latest instant any number has seen stands for `now` (the engine has no clock).
        let latest = self
            .number_order
            .iter()
            .map(|id| self.numbers[id].lock().latest)
            .max()
            .unwrap_or_default();
        let mut businesses: Vec<BusinessView> = self
            .businesses
            .iter()
            .map(|(id, b)| {
                let now = latest;
                let mut p = b.portfolio.lock();
                BusinessView {
                    id: *id,
                    name: b.name.clone(),
                    country: b.country.clone(),
                    vertical: b.vertical.clone(),
                    verified: b.verified,
                    messaging_limit: p.limit.tier.as_str(),
                    messaging_limit_used: p.limit.used(now),
                    scale_due: p.limit.scale_due.map(|t| t.unix_secs()),
                    restricted_until: (p.restricted_until > now)
                        .then(|| p.restricted_until.unix_secs()),
                    opted_out_users: p.opted_out.len(),
                    low_quality_numbers: p.low_quality.iter().copied().collect(),
                    wabas: b.wabas.clone(),
                    tokens: {
                        let mut t: Vec<String> = self
                            .tokens
                            .iter()
                            .filter(|(_, b)| *b == id)
                            .map(|(t, _)| t.clone())
                            .collect();
                        t.sort();
                        t
                    },
                }
            })
            .collect();
        businesses.sort_by_key(|b| b.id);
        let numbers = self
            .number_order
            .iter()
            .map(|id| self.view(&mut self.numbers[id].lock()))
            .collect();
        let mut templates: Vec<TemplateView> = self
            .wabas
            .values()
            .flat_map(|w| {
                w.templates
                    .read()
                    .templates
                    .iter()
                    .map(|t| {
                        let (q, pauses) = self.template_quality(t.waba, t.id);
                        TemplateView {
                            id: t.id,
                            waba_id: t.waba,
                            name: t.name.clone(),
                            language: t.language.clone(),
                            category: t.category.as_str(),
                            status: t.status.as_str(),
                            quality_score: q.map_or("UNKNOWN", |q| q.as_str()),
                            pauses,
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        templates.sort_by_key(|t| t.id);
        StateSnapshot {
            businesses,
            numbers,
            templates,
            pending_timers: self.pending_timers(),
        }
    }
}

fn rule_of_async(code: ErrorCode) -> Rule {
    match code {
        ErrorCode::Undeliverable => Rule::RecipientOnWhatsapp,
        ErrorCode::ReEngagement => Rule::ServiceWindow,
        ErrorCode::IdentityKeyMismatch => Rule::IdentityCheck,
        ErrorCode::MarketingOptOut => Rule::MarketingOptOut,
        ErrorCode::SpamRateLimit => Rule::MessagingLimit,
        ErrorCode::EcosystemEngagement => Rule::PerUserMarketingLimit,
        _ => Rule::Accepted,
    }
}

fn schedule(s: &mut NumberShard, out: &mut Effects, at: SimTime, kind: TimerKind) {
    s.timer_seq += 1;
    let seq = s.timer_seq;
    s.timers.push(at, seq, kind);
    out.wake(at);
}

/// Asks the CPU to load the status record of the next timer while the current one fires.
///
/// Why: a `read` fires minutes after its message was sent, by when its record has left the
/// nearer caches; copying it into the event and freeing it then stall on memory. Timers fire
/// in heap order, so the next one is known one firing ahead, which is enough time to hide the
/// miss. The record spans up to three cache lines. A hint only: it changes no result.
#[inline]
fn prefetch_info(info: &MessageInfo) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // The allocator's chunk header sits just before the record (read by the free).
        let p = (info as *const MessageInfo).cast::<i8>().wrapping_sub(8);
        let last = p.wrapping_add(8 + std::mem::size_of::<MessageInfo>() - 1);
        // SAFETY: SSE is part of every x86_64 target, and a prefetch never faults or reads
        // into the program: it is a hint about any address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
            _mm_prefetch::<_MM_HINT_T0>(last);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = info;
}

fn push_log(s: &mut NumberShard, cap: usize, e: LogEntry) {
    if cap == 0 {
        s.log_evicted += 1;
        return;
    }
    if s.log.len() >= cap {
        s.log.pop_front();
        s.log_evicted += 1;
    }
    s.log.push_back(e);
}

/// A number's conversation map is swept early only past this many entries (160 KB).
const SWEEP_MIN_LEN: usize = 4_096;

/// Forgets conversations whose window has closed and whose pair quota is whole again: they hold
/// nothing a fresh entry would not, so when this runs changes no result.
///
/// It runs hourly, and also whenever the map has doubled since the last sweep. Why: a campaign
/// to many distinct users leaves one entry per recipient that is idle six seconds later (the
/// pair rate). Swept only hourly, a number sending 75 msg/s holds some 270,000 of them, and
/// every send's lookup and insert land in a table far larger than the caches (the
/// 1M-recipient simulation ran about 8 % faster with this). Swept on doubling, the map stays
/// about twice its live entries (the last seconds' recipients, plus users with an open window
/// or other state), and the sweep's cost stays proportional to the inserts before it.
fn sweep(s: &mut NumberShard, now: SimTime) {
    let today = (now.as_micros() / clock::MICROS_PER_DAY) as u32;
    s.conversations.retain(|_, c| {
        c.window_until > now
            || !c.pair.is_idle(now)
            || c.flags != 0
            || (c.marketing_today > 0 && c.marketing_day == today as u16)
    });
    s.entry_points.retain(|_, e| e.live(now));
    let live = s.conversations.len();
    // A past burst must not leave the live entries spread over a large table.
    if s.conversations.capacity() > 8 * live.max(SWEEP_MIN_LEN) {
        s.conversations.shrink_to(2 * live);
    }
    s.sweep_at_len = (2 * live).max(SWEEP_MIN_LEN);
    s.last_sweep = now;
}

/// The country calling code of a number's display form, by longest known prefix.
fn dial_code(digits: &str) -> String {
    const THREE: [&str; 8] = ["852", "886", "971", "966", "234", "254", "880", "972"];
    const TWO: [&str; 24] = [
        "20", "27", "30", "31", "32", "33", "34", "39", "40", "44", "49", "51", "52", "54", "55",
        "56", "57", "60", "61", "62", "63", "64", "65", "66",
    ];
    if let Some(p) = THREE.iter().find(|p| digits.starts_with(*p)) {
        return p.to_string();
    }
    if let Some(p) = TWO.iter().find(|p| digits.starts_with(*p)) {
        return p.to_string();
    }
    if digits.starts_with("91") || digits.starts_with("90") || digits.starts_with("92") {
        return digits[..2].to_string();
    }
    digits.chars().take(1).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    PhoneNumber,
    Waba,
    Template,
}

#[derive(Clone, Debug, Serialize)]
pub struct PhoneNumberView {
    pub id: PhoneNumberId,
    pub waba_id: WabaId,
    pub business_id: BusinessId,
    pub display_phone_number: String,
    pub verified_name: String,
    pub status: NumberStatus,
    pub quality_rating: QualityRating,
    pub throughput_mps: u32,
    pub messaging_limit: MessagingLimitTier,
    /// Unique users reached outside a service window in the moving 24 h (of the portfolio, or
    /// of the number in legacy per-number mode).
    pub messaging_limit_used: u32,
    /// Recency-weighted negative signals per delivered message (the rating's input).
    pub quality_score: f64,
    /// In the throughput upgrade's maintenance minute (sends get 131057).
    pub throughput_upgrading: bool,
    /// Unix seconds since the number is FLAGGED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged_since: Option<u64>,
    pub name_status: String,
    pub is_official_business_account: bool,
    pub country_dial_code: String,
    pub counters: NumberCounters,
    /// Decision-log lines no longer kept in memory (counted, never silently lost).
    pub log_evicted: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WabaView {
    pub id: WabaId,
    pub name: String,
    pub currency: String,
    pub business_id: BusinessId,
    pub phone_numbers: Vec<PhoneNumberId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BusinessView {
    pub id: BusinessId,
    pub name: String,
    pub country: String,
    pub vertical: String,
    pub verified: bool,
    pub messaging_limit: &'static str,
    pub messaging_limit_used: u32,
    /// Unix seconds at which the pending one-step scaling happens (if quality stays good).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_due: Option<u64>,
    /// Unix seconds until which business-initiated messaging is restricted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restricted_until: Option<u64>,
    pub opted_out_users: usize,
    pub low_quality_numbers: Vec<PhoneNumberId>,
    pub wabas: Vec<WabaId>,
    pub tokens: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TemplateView {
    pub id: TemplateId,
    pub waba_id: WabaId,
    pub name: String,
    pub language: String,
    pub category: &'static str,
    pub status: &'static str,
    /// GREEN / YELLOW / RED, or UNKNOWN until there is enough feedback.
    pub quality_score: &'static str,
    /// Quality pauses so far (the third disables).
    pub pauses: u8,
}

#[derive(Clone, Debug, Serialize)]
pub struct StateSnapshot {
    pub businesses: Vec<BusinessView>,
    pub numbers: Vec<PhoneNumberView>,
    pub templates: Vec<TemplateView>,
    pub pending_timers: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct EventLogPage {
    /// Pass as `since` to get the next page.
    pub next: u64,
    /// More entries are available after this page.
    pub more: bool,
    /// Entries dropped from memory because the per-number log was full.
    pub evicted: u64,
    pub events: Vec<LogEntry>,
}

#[cfg(test)]
mod dynamics_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod policy_tests;
