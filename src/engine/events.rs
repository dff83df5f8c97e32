//! What the engine tells the outside world: events (which the webhooks module turns into
//! webhook payloads) and the decision log (which explains every decision by the rule behind it).

use super::errors::ErrorCode;
use super::ids::{PhoneNumberId, TemplateId, WaId, WabaId};
use super::world::{MessagingLimitTier, QualityRating, TemplateCategory, TemplateStatus};
use crate::clock::SimTime;
use crate::pricing::{Category, ConversationId, PricingModelId, PricingType};
use base64::Engine as _;
use serde::Serialize;
use std::sync::Arc;

/// A message id. Kept as numbers and rendered to the `wamid.` form only when it goes on the wire,
/// so the hot path and the timers carry 24 bytes instead of a 60-byte string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Wamid {
    pub user: WaId,
    /// Sequence number within the issuing phone number.
    pub seq: u64,
    /// Low bits of the issuing phone number id, so ids of different numbers never collide.
    pub tag: u16,
    /// Inbound (user-sent) ids carry a different flag, as Meta's do.
    pub inbound: bool,
}

impl Wamid {
    /// Renders the id the way Meta's look: `wamid.` + base64 of a Thrift-compact-like struct
    /// holding the user's number, a direction flag and a 20-hex-digit id. Clients treat it as
    /// opaque; the shape only makes logs look familiar.
    pub fn render(&self) -> String {
        let mut buf = [0u8; 64];
        let mut n = 0;
        let mut push = |b: &[u8]| {
            buf[n..n + b.len()].copy_from_slice(b);
            n += b.len();
        };
        let mut digits = [0u8; 20];
        let d = fmt_u64(self.user.0, &mut digits);
        push(&[0x1C, 0x18, d.len() as u8]);
        push(d);
        push(&[
            0x15,
            0x02,
            0x00,
            if self.inbound { 0x12 } else { 0x11 },
            0x18,
            20,
        ]);
        let mut hex = [0u8; 20];
        write_hex(&mut hex[..4], self.tag as u64);
        write_hex(&mut hex[4..], self.seq);
        push(&hex);
        push(&[0x00]);
        let mut s = String::with_capacity(6 + n.div_ceil(3) * 4);
        s.push_str("wamid.");
        base64::engine::general_purpose::STANDARD.encode_string(&buf[..n], &mut s);
        s
    }
}

impl Wamid {
    /// Reads back an id [`Wamid::render`] wrote (`None` for anything else), so a client's
    /// `wamid.…` can be looked up without keeping rendered ids.
    pub fn parse(text: &str) -> Option<Wamid> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.strip_prefix("wamid.")?)
            .ok()?;
        let rest = raw.strip_prefix(&[0x1C, 0x18])?;
        let (&len, rest) = rest.split_first()?;
        let len = usize::from(len);
        if len == 0 || len > 20 || rest.len() < len {
            return None;
        }
        let (digits, rest) = rest.split_at(len);
        let user = std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?;
        let rest = rest.strip_prefix(&[0x15, 0x02, 0x00])?;
        let (&flag, rest) = rest.split_first()?;
        let inbound = match flag {
            0x12 => true,
            0x11 => false,
            _ => return None,
        };
        let hex = rest.strip_prefix(&[0x18, 20])?.strip_suffix(&[0x00])?;
        if hex.len() != 20 {
            return None;
        }
        let hex = std::str::from_utf8(hex).ok()?;
        let tag = u16::from_str_radix(&hex[..4], 16).ok()?;
        let seq = u64::from_str_radix(&hex[4..], 16).ok()?;
        Some(Wamid {
            user: WaId(user),
            seq,
            tag,
            inbound,
        })
    }
}

fn fmt_u64(mut v: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &out[i..]
}

fn write_hex(out: &mut [u8], mut v: u64) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in out.iter_mut().rev() {
        *b = HEX[(v & 0xF) as usize];
        v >>= 4;
    }
}

/// The phone number an event is about, as webhook `metadata` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct PhoneMeta {
    pub id: PhoneNumberId,
    /// As Meta puts it in `metadata.display_phone_number` (digits only).
    pub display: DisplayNumber,
}

/// A business number's display form, digits only (E.164: at most 15 digits, no leading zero),
/// kept as the number it spells: 8 bytes copied into every message's status record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DisplayNumber(u64);

impl DisplayNumber {
    /// The most digits a phone number has (E.164).
    pub const MAX_DIGITS: usize = 15;

    /// The digits of `text` (anything else is ignored: "+62 812-0000-0001" is 6281200000001);
    /// `None` when there are none, more than [`Self::MAX_DIGITS`], or a leading zero.
    pub fn parse(text: &str) -> Option<DisplayNumber> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_digit).collect();
        if digits.is_empty() || digits.len() > Self::MAX_DIGITS || digits[0] == b'0' {
            return None;
        }
        Some(DisplayNumber(
            digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')),
        ))
    }
}

impl std::fmt::Display for DisplayNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a message is billed, as the status webhook's `pricing` and `conversation` objects show
/// it. Built from the pricer's [`crate::pricing::Charge`] (see `engine/charging.rs`) and kept
/// small and `Copy` (enums and numbers, 40 bytes): it rides in every status timer, so its size
/// is paid per message in flight. The webhook payload writes the wire names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Billing {
    /// The pricing model; `None`: no `pricing` / `conversation` objects at all (a message
    /// refused before it was sent). The template era has no `pricing` object either.
    pub model: Option<PricingModelId>,
    /// `pricing.category` (authentication-international is written with a hyphen there).
    pub category: Category,
    /// `pricing.type`; not written under CBP, whose webhooks had none.
    pub pricing_type: PricingType,
    pub billable: bool,
    /// The `conversation` object, if the message has one.
    pub conversation: Option<BilledConversation>,
}

/// `statuses[].conversation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BilledConversation {
    /// Written as 32 hex digits.
    pub id: ConversationId,
    /// `expiration_timestamp`, shown on the `sent` status only; `SimTime::ZERO`: none.
    pub expires_at: SimTime,
    /// `origin.type`.
    pub origin: Category,
}

impl Billing {
    /// No `pricing` / `conversation` objects.
    pub const NONE: Billing = Billing {
        model: None,
        category: Category::Service,
        pricing_type: PricingType::Regular,
        billable: false,
        conversation: None,
    };

    /// Per-message pricing (`pmp-2025-07`) with a per-message conversation (v23 semantics):
    /// for tests and for callers that build events by hand.
    pub fn pmp(
        category: Category,
        pricing_type: PricingType,
        billable: bool,
        conversation_id: ConversationId,
        expires_at: SimTime,
    ) -> Billing {
        Billing {
            model: Some(PricingModelId::Pmp2025_07),
            category,
            pricing_type,
            billable,
            conversation: Some(BilledConversation {
                id: conversation_id,
                expires_at,
                origin: category,
            }),
        }
    }
}

/// Who a user is to one business number, as webhooks show them: the portfolio's BSUID, the
/// username if they have one, and whether their phone number may be shown (Meta omits
/// `wa_id`, `from` and `recipient_id` for a user with a username who hides their number from
/// businesses they have not talked to recently) [M:bsuid]. Plain data decided by the core, so
/// the renderer needs no audience or seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserRef {
    pub user_id: super::bsuid::UserId,
    /// The parent BSUID, when the portfolio is enrolled in a parent BSUID account.
    pub parent_user_id: Option<super::bsuid::UserId>,
    pub username: Option<super::audience::Username>,
    pub phone_shown: bool,
    /// The send named the user by BSUID (`recipient`) rather than by phone (`to`): a failed
    /// status then keeps `recipient_user_id`.
    pub by_user_id: bool,
}

impl UserRef {
    /// A user without a username, phone shown, named by phone: what every webhook showed
    /// before usernames (events built by hand in tests and tools).
    pub fn plain(user_id: super::bsuid::UserId) -> UserRef {
        UserRef {
            user_id,
            parent_user_id: None,
            username: None,
            phone_shown: true,
            by_user_id: false,
        }
    }
}

/// What a status webhook needs to know about the message it reports on. Carried by the timers
/// of the status ladder, so no per-message table is kept.
#[derive(Clone, Debug)]
pub struct MessageInfo {
    /// Its `user` is the recipient ([`Self::recipient`]).
    pub wamid: Wamid,
    pub phone: PhoneMeta,
    pub billing: Billing,
    pub template: Option<TemplateId>,
    /// What the recipient reacts to: the template's category when it was sent, or service
    /// for a free-form message (saves a template lookup per delivery).
    pub feedback_category: super::reactions::FeedbackCategory,
    pub biz_opaque_callback_data: Option<Arc<str>>,
    pub sent_at: SimTime,
    /// The recipient's identity key hash, set when the sending number has the identity check
    /// on (statuses then carry `recipient_identity_key_hash`). 12 bytes inline, no allocation.
    pub recipient_identity_key_hash: Option<super::identity::KeyHash>,
    /// The recipient as the webhooks show them (BSUID, username, phone shown or not).
    pub user: UserRef,
}

impl MessageInfo {
    /// The recipient's wa_id (the wamid names it).
    pub fn recipient(&self) -> WaId {
        self.wamid.user
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// Something the platform reports to the business by webhook.
#[derive(Clone, Debug)]
pub struct Event {
    pub at: SimTime,
    /// `entry[].id` of the webhook.
    pub waba: WabaId,
    pub body: EventBody,
}

#[derive(Clone, Debug)]
pub enum EventBody {
    /// `messages` field: a status of an outbound message.
    Status {
        /// A copy per event: no reference count shared between the event and the status
        /// ladder's timer (see `MessageInfo`).
        info: MessageInfo,
        status: DeliveryStatus,
        /// For `failed`: the code and details.
        error: Option<(ErrorCode, Option<String>)>,
    },
    /// `messages` field: a user wrote to the business.
    Inbound {
        phone: PhoneMeta,
        from: WaId,
        profile_name: String,
        wamid: Wamid,
        text: String,
        /// `contacts[].identity_key_hash`: set when the number has the identity check on.
        identity_key_hash: Option<super::identity::KeyHash>,
        user: UserRef,
        /// An image or document attached (`text` is then its caption).
        media: Option<super::inbound_media::InboundMedia>,
    },
    /// `messages` field: a system message (`user_changed_number`).
    UserChangedNumber {
        phone: PhoneMeta,
        old: WaId,
        new: WaId,
        wamid: Wamid,
    },
    /// `messages` field: the system message `user_changed_user_id`: the user's BSUID in this
    /// portfolio changed because their number did (sent with `user_changed_number`) [M:bsuid].
    UserChangedUserId {
        phone: PhoneMeta,
        /// The user's previous number (`from`).
        old: WaId,
        /// The user as they are now: the new number (`system.wa_id` when it may be shown) and
        /// the new BSUID.
        new: WaId,
        new_user: UserRef,
        previous_user_id: super::bsuid::UserId,
        wamid: Wamid,
    },
    /// `user_id_update` field (subscribed apart from `messages`): the same BSUID change as
    /// [`EventBody::UserChangedUserId`], with the previous and current ids side by side
    /// [M:bsuid].
    UserIdUpdate {
        phone: PhoneMeta,
        /// The user as they are now (`wa_id` when the phone may be shown).
        new: WaId,
        new_user: UserRef,
        previous_user_id: super::bsuid::UserId,
        /// The previous parent BSUID, when the portfolio is enrolled in a parent account.
        previous_parent_user_id: Option<super::bsuid::UserId>,
    },
    /// `user_preferences` field: the user stopped (STOP, or the opt-out button) or resumed
    /// marketing messages from the business.
    UserPreference {
        phone: PhoneMeta,
        user: WaId,
        profile_name: String,
        /// `value`: `stop` (true) or `resume` (false).
        stop: bool,
    },
    /// `account_update` field, event `DISABLED_UPDATE`: the WABA's portfolio was disabled for
    /// repeated policy violations (or reinstated). One per WABA of the portfolio.
    AccountDisabled { state: super::violations::BanState },
    /// `message_template_status_update` field.
    TemplateStatus {
        template: TemplateId,
        name: String,
        language: String,
        category: TemplateCategory,
        status: TemplateStatus,
        reason: Option<&'static str>,
    },
    /// `message_template_status_update` for quality pauses: PAUSED with `other_info.title`
    /// FIRST_PAUSE / SECOND_PAUSE, APPROVED with UNPAUSE, DISABLED with `disable_info`.
    TemplatePause {
        template: TemplateId,
        name: String,
        language: String,
        category: TemplateCategory,
        status: TemplateStatus,
        /// `other_info.title`.
        title: &'static str,
        /// `other_info.description`.
        description: String,
    },
    /// `template_category_update` field: Meta announces (`CategoryChange::Notice`) or has made
    /// (`CategoryChange::Done`) a change of the template's category.
    TemplateCategoryUpdate {
        template: TemplateId,
        name: String,
        language: String,
        /// `new_category`: the current category in a notice, the new one once changed (as
        /// Meta's two forms use it).
        new_category: TemplateCategory,
        change: CategoryChange,
    },
    /// `account_update` field, event `VOLUME_BASED_PRICING_TIER_UPDATE`: the portfolio's
    /// billable messages of a category to a market this month reached a new volume tier.
    VolumeTier(super::charging::TierEntered),
    /// `message_template_quality_update` field. `None` is UNKNOWN (quality pending).
    TemplateQuality {
        template: TemplateId,
        name: String,
        language: String,
        previous: Option<QualityRating>,
        new: Option<QualityRating>,
    },
    /// `phone_number_quality_update` field: THROUGHPUT_UPGRADE, and behind the legacy switch
    /// FLAGGED / UNFLAGGED / DOWNGRADE / UPGRADE.
    PhoneQuality {
        display: DisplayNumber,
        event: &'static str,
        current_limit: MessagingLimitTier,
        old_limit: Option<MessagingLimitTier>,
    },
    /// `business_capability_update` field: the portfolio's messaging limit changed.
    BusinessCapability {
        limit: MessagingLimitTier,
        /// Registered numbers the portfolio may have (2 at 250, 20 from 2,000 on).
        max_phone_numbers: u32,
    },
    /// `account_update` field, event ACCOUNT_RESTRICTION: business-initiated messaging
    /// restricted until `expiration` after sustained low quality.
    AccountRestriction {
        restriction_type: &'static str,
        expiration: SimTime,
    },
    /// `account_alerts` field: the review of the portfolio's step from 250 to 2,000 was
    /// deferred [M:account-alerts] (docs/policy-model.md).
    LimitReviewDeferred {
        business: super::ids::BusinessId,
        business_name: String,
    },
    /// `account_update` field, event MM_LITE_TERMS_SIGNED: the business accepted the Marketing
    /// Messages API terms; one per WABA [M:mm-onb].
    MarketingMessagesTermsSigned {
        owner_business: super::ids::BusinessId,
    },
}

/// The two forms of `template_category_update` [M:tcu].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CategoryChange {
    /// Advance notice: `correct_category` and `category_update_timestamp` (when it changes).
    Notice {
        correct: TemplateCategory,
        effective: SimTime,
    },
    /// The change was made: `previous_category`.
    Done { previous: TemplateCategory },
}

/// The rule behind a decision. Every rejection names one; the event log and the metrics count
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The message passed every rule.
    Accepted,
    /// The number must be CONNECTED (or FLAGGED) to send.
    NumberStatus,
    /// Per-number throughput (130429).
    Throughput,
    /// Business/consumer pair rate (131056).
    PairRate,
    /// Free-form messages only inside the 24 h customer service window (131047).
    ServiceWindow,
    /// The template must exist in the requested language (132001).
    TemplateExists,
    /// The template must be APPROVED (132001).
    TemplateApproved,
    /// Paused templates cannot be sent (132015).
    TemplatePaused,
    /// Disabled templates cannot be sent (132016).
    TemplateDisabled,
    /// Parameters must match the template (132000, 132012).
    TemplateParameters,
    /// The recipient must have WhatsApp (131026, asynchronous).
    RecipientOnWhatsapp,
    /// A template was reviewed.
    TemplateReview,
    /// A user wrote to the business (opens the service window).
    InboundMessage,
    /// Outbound text carried a sensitive identifier (card number, national id): 132007 / 368.
    ContentPolicy,
    /// The business portfolio is disabled for repeated violations (368).
    AccountDisabled,
    /// The identity key check (137000, or held until acknowledged).
    IdentityCheck,
    /// The platform detected a violation (prohibited vertical, unofficial BSP): a strike.
    PolicyViolation,
    /// Strict opt-in mode: business-initiated templates need the user's opt-in (131005).
    OptIn,
    /// The user opted out of marketing from this business (131050, asynchronous).
    MarketingOptOut,
    /// The messaging limit (unique users per moving 24 h) is used up (131048).
    MessagingLimit,
    /// Per-user marketing template limit (131049, asynchronous).
    PerUserMarketingLimit,
    /// Business-initiated messaging restricted after sustained low quality (131048).
    AccountRestriction,
    /// The number is being upgraded to higher throughput (131057).
    ThroughputUpgrade,
    /// A user reacted (block, report, opt-out, mute, reply).
    UserFeedback,
    /// The business was refused at onboarding (prohibited vertical): 368 on every send.
    Onboarding,
    /// A message by media id must name media the business uploaded and the platform still
    /// keeps (131053, asynchronous).
    MediaAvailable,
    /// The business blocked the user (Block Users API): sends fail (130403), inbound messages
    /// are not delivered.
    BlockedUser,
    /// A send by business-scoped user id (`recipient`): the id must be one this portfolio
    /// issued for the user's current identity (131009), and authentication templates cannot
    /// go to a BSUID (131062).
    BsuidRecipient,
    /// The Marketing Messages API's own rules: marketing templates only, the terms, template
    /// sync (131055, 134101), and marketing disabled on the Cloud API (131063).
    MarketingMessages,
    /// Template pacing: a send of a new or low-quality template held for the quality
    /// assessment, released after it, or failed with 132015 when it paused the template.
    TemplatePacing,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Accepted => "accepted",
            Rule::NumberStatus => "number_status",
            Rule::Throughput => "throughput",
            Rule::PairRate => "pair_rate",
            Rule::ServiceWindow => "service_window",
            Rule::TemplateExists => "template_exists",
            Rule::TemplateApproved => "template_approved",
            Rule::TemplatePaused => "template_paused",
            Rule::TemplateDisabled => "template_disabled",
            Rule::TemplateParameters => "template_parameters",
            Rule::RecipientOnWhatsapp => "recipient_on_whatsapp",
            Rule::TemplateReview => "template_review",
            Rule::InboundMessage => "inbound_message",
            Rule::ContentPolicy => "content_policy",
            Rule::AccountDisabled => "account_disabled",
            Rule::IdentityCheck => "identity_check",
            Rule::PolicyViolation => "policy_violation",
            Rule::OptIn => "opt_in",
            Rule::MarketingOptOut => "marketing_opt_out",
            Rule::MessagingLimit => "messaging_limit",
            Rule::PerUserMarketingLimit => "per_user_marketing_limit",
            Rule::AccountRestriction => "account_restriction",
            Rule::ThroughputUpgrade => "throughput_upgrade",
            Rule::UserFeedback => "user_feedback",
            Rule::Onboarding => "onboarding",
            Rule::MediaAvailable => "media_available",
            Rule::BlockedUser => "blocked_user",
            Rule::BsuidRecipient => "bsuid_recipient",
            Rule::MarketingMessages => "marketing_messages",
            Rule::TemplatePacing => "template_pacing",
        }
    }
}

/// A decision of the core with the rule behind it: a send accepted or refused, an
/// asynchronous failure, an inbound message, user feedback, a detected violation. Doors that
/// keep a decision log number these (the server's `GET /_sim/events`).
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// Simulated time, Unix microseconds.
    #[serde(serialize_with = "ser_time")]
    pub at: SimTime,
    pub phone_number_id: PhoneNumberId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<WaId>,
    pub rule: Rule,
    /// The error code, for rejections and failures.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_code")]
    pub code: Option<ErrorCode>,
    /// The message id, for accepted messages and asynchronous failures.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_wamid")]
    pub wamid: Option<Wamid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why, in words: a rejection's details (owned), or a fixed label such as a reaction's
    /// (borrowed, so the common case allocates nothing).
    pub detail: Option<std::borrow::Cow<'static, str>>,
}

fn ser_time<S: serde::Serializer>(t: &SimTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(t.as_micros())
}
fn ser_code<S: serde::Serializer>(c: &Option<ErrorCode>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_u32(c.code()),
        None => s.serialize_none(),
    }
}
fn ser_wamid<S: serde::Serializer>(w: &Option<Wamid>, s: S) -> Result<S::Ok, S::Error> {
    match w {
        Some(w) => s.serialize_str(&w.render()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wamids_read_back_and_nothing_else_does() {
        for w in [
            Wamid {
                user: WaId(16503879439),
                seq: 1,
                tag: 7,
                inbound: false,
            },
            Wamid {
                user: WaId(1),
                seq: u64::MAX >> 1,
                tag: u16::MAX,
                inbound: true,
            },
        ] {
            assert_eq!(Wamid::parse(&w.render()), Some(w));
        }
        for bad in [
            "",
            "wamid.",
            "wamid.!!",
            "HBgL",
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBQ",
        ] {
            assert_eq!(Wamid::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn wamid_looks_like_metas_and_is_unique() {
        let a = Wamid {
            user: WaId(16503879439),
            seq: 1,
            tag: 7,
            inbound: false,
        };
        let s = a.render();
        assert!(s.starts_with("wamid.HBgL"), "{s}");
        let b = Wamid { seq: 2, ..a };
        assert_ne!(s, b.render());
        let c = Wamid { inbound: true, ..a };
        assert_ne!(s, c.render());
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&s["wamid.".len()..])
            .unwrap();
        assert_eq!(&raw[3..14], b"16503879439");
    }
}
