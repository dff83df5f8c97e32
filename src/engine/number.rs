//! One business phone number's state: its limiter, its conversations with users, its timers
//! (the status ladder, reactions, quality ticks), its random draws and its counters.
//!
//! Plain data owned by its [`Portfolio`](super::Portfolio); the rules that read and change it
//! live in `send`, `feedback`, `enforcement` and `integrity`.

use super::charging::{EntryPoint, PriceFacts};
use super::errors::ErrorCode;
use super::events::{DeliveryStatus, MessageInfo, PhoneMeta};
use super::feedback::{self, NumberDynamics};
use super::ids::{BusinessId, IdMap, PhoneNumberId, TemplateId, WaId, WabaId};
use super::limits::{Gcra, Rate};
use super::reactions::ReactionKind;
use super::timers::TimerQueue;
use super::world::{BusinessProfile, NumberStatus, QualityRating};
use super::Sink;
use crate::clock::{self, SimTime};
use serde::Serialize;
use std::collections::BTreeMap;

/// Per-(number, user) state. Small on purpose (32 bytes): it exists for every user a number
/// talks to, and is forgotten by the sweep once it holds nothing a fresh entry would not.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Conversation {
    /// End of the customer service window (the user's last message + 24 h); zero if never.
    pub window_until: SimTime,
    pub pair: Gcra,
    /// Last template sent to the user (raw id, 0 = none): forced reactions are charged to it.
    pub last_template: u64,
    /// Unix second at which the user's messaging-limit slot started (0 = unknown): while it
    /// is less than 24 h old the portfolio's map need not be consulted.
    pub counted_at_s: u32,
    /// UTC day (since the epoch) of `marketing_today` (per-user marketing limit).
    pub marketing_day: u16,
    pub marketing_today: u8,
    /// `feedback::BLOCKED`, `feedback::REPORTED`, `feedback::MUTED`.
    pub flags: u8,
}

impl Conversation {
    /// The user blocked this number.
    pub fn blocked(&self) -> bool {
        self.flags & feedback::BLOCKED != 0
    }
}

#[derive(Debug)]
pub(super) enum TimerKind {
    /// Next rung of the status ladder for a sent message.
    Status {
        info: Box<MessageInfo>,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
        /// Set until the message is priced at delivery.
        pricing: Option<PriceFacts>,
    },
    /// A user's reaction to a delivered message. Boxed: most timers are statuses, and the
    /// queue moves every timer on each push and pop, so the common kind sets the size.
    Reaction(Box<ReactionTimer>),
    /// Hourly re-evaluation of the quality rating while there is feedback in the window
    /// (ratings recover as signals age; FLAGGED and restriction deadlines are checked here).
    QualityTick,
    /// End of the throughput upgrade's maintenance period.
    ThroughputUpgraded,
}

/// What a reaction timer carries.
#[derive(Debug)]
pub(super) struct ReactionTimer {
    pub user: WaId,
    pub template: Option<TemplateId>,
    pub kind: ReactionKind,
}

/// Counters per number, by rule.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NumberCounters {
    pub accepted: u64,
    pub rejected: BTreeMap<u32, u64>,
    pub delivered: u64,
    pub read: u64,
    pub failed: BTreeMap<u32, u64>,
    pub inbound: u64,
    /// Messages of users the business blocked: not delivered (no webhook, no window).
    #[serde(skip_serializing_if = "is_zero")]
    pub inbound_blocked: u64,
    /// User feedback received by this number.
    pub blocks: u64,
    pub reports: u64,
    pub opt_outs: u64,
    pub mutes: u64,
    pub replies: u64,
    /// Template pacing: messages held for the quality assessment, released after it, and
    /// dropped (failed with 132015) when it paused the template.
    #[serde(skip_serializing_if = "is_zero")]
    pub held: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub released: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One phone number and everything only it touches.
pub(super) struct Number {
    pub id: PhoneNumberId,
    pub waba: WabaId,
    pub business: BusinessId,
    pub display: String,
    pub meta: PhoneMeta,
    pub verified_name: String,
    pub status: NumberStatus,
    /// Verification code, two-step PIN, registered or not (`registration.rs`).
    pub registration: super::registration::Registration,
    pub quality: QualityRating,
    pub throughput: Rate,
    pub limiter: Gcra,
    pub name_status: String,
    pub official: bool,
    pub profile: BusinessProfile,
    pub conversations: IdMap<WaId, Conversation>,
    /// Users who came from an ad, apart from `conversations` so the common entry stays small
    /// and the send path skips this map while it is empty (see `charging::EntryPoint`).
    pub entry_points: IdMap<WaId, EntryPoint>,
    /// When this number last sent to the phone number (`to`) of a user who hides it behind a
    /// username: for 30 days after, webhooks may show that user's phone [M:bsuid]. Only such
    /// users have entries, so the map stays empty while nobody hides their number.
    pub phone_contacts: IdMap<WaId, SimTime>,
    pub timers: TimerQueue<TimerKind>,
    pub timer_seq: u64,
    pub msg_seq: u64,
    pub rng: rand_pcg::Pcg64Mcg,
    pub counters: NumberCounters,
    /// Quality, flagging, legacy limit and throughput-upgrade state (fixed size).
    pub dynamics: NumberDynamics,
    pub last_sweep: SimTime,
    /// Sweep early once `conversations` holds this many entries (see [`sweep`]).
    pub sweep_at_len: usize,
    /// Latest instant seen by this number: `now` never goes backwards inside it, even when
    /// a door's concurrent callers read the clock before they reach the portfolio.
    pub latest: SimTime,
    /// Identity key check on (`POST /{id}/settings`); statuses then carry the hash.
    pub identity_check: bool,
    /// Shared with the WhatsApp Business app: throughput stays at 20 msg/s (no upgrade).
    pub coexistence: bool,
    /// Messages held until the business acknowledges a recipient's identity change; at most
    /// `rules.identity.hold_capacity`. Boxed because a released message moves, as the same
    /// allocation, into the status-ladder timers.
    #[allow(clippy::vec_box)]
    pub held: Vec<(Box<MessageInfo>, PriceFacts)>,
}

impl Number {
    /// The user blocked this number.
    pub fn is_blocked(&self, user: WaId) -> bool {
        self.conversations
            .get(&user)
            .is_some_and(Conversation::blocked)
    }

    /// A new message id of this number (inbound or outbound).
    pub fn next_wamid(&mut self, user: WaId, inbound: bool) -> super::events::Wamid {
        self.msg_seq += 1;
        super::events::Wamid {
            user,
            seq: self.msg_seq,
            tag: (self.id.0 & 0xFFFF) as u16,
            inbound,
        }
    }

    /// Queues a timer and tells the sink a deadline was added.
    pub fn schedule(&mut self, sink: &mut impl Sink, at: SimTime, kind: TimerKind) {
        self.timer_seq += 1;
        self.timers.push(at, self.timer_seq, kind);
        sink.wake(at);
    }

    /// Forgets what no longer matters once the hour has passed or the map has doubled.
    pub fn maybe_sweep(&mut self, now: SimTime) {
        if now.since(self.last_sweep) >= clock::MICROS_PER_HOUR
            || self.conversations.len() >= self.sweep_at_len
        {
            sweep(self, now);
        }
    }
}

/// A number's conversation map is swept early only past this many entries (160 KB).
pub(super) const SWEEP_MIN_LEN: usize = 4_096;

/// Forgets conversations whose window has closed and whose pair quota is whole again: they hold
/// nothing a fresh entry would not, so when this runs changes no result.
///
/// It runs hourly, and also whenever the map has doubled since the last sweep. Why: a campaign
/// to many distinct users leaves one entry per recipient that is idle six seconds later (the
/// pair rate). Swept only hourly, a number sending 75 msg/s would hold some 270,000 of them, and
/// every send's lookup and insert would land in a table far larger than the caches. Swept on
/// doubling, the map stays about twice its live entries, and the sweep's cost stays
/// proportional to the inserts before it.
fn sweep(s: &mut Number, now: SimTime) {
    let today = (now.as_micros() / clock::MICROS_PER_DAY) as u32;
    s.conversations.retain(|_, c| {
        c.window_until > now
            || !c.pair.is_idle(now)
            || c.flags != 0
            || (c.marketing_today > 0 && c.marketing_day == today as u16)
    });
    s.entry_points.retain(|_, e| e.live(now));
    s.phone_contacts
        .retain(|_, at| at.plus(super::bsuid::PHONE_CONTACT_WINDOW) > now);
    let live = s.conversations.len();
    // A past burst must not leave the live entries spread over a large table.
    if s.conversations.capacity() > 8 * live.max(SWEEP_MIN_LEN) {
        s.conversations.shrink_to(2 * live);
    }
    s.sweep_at_len = (2 * live).max(SWEEP_MIN_LEN);
    s.last_sweep = now;
}
