//! What the engine tells the outside world: events (which the webhooks module turns into
//! webhook payloads) and the decision log (which explains every decision by the rule behind it).

use super::errors::ErrorCode;
use super::ids::{PhoneNumberId, TemplateId, WaId, WabaId};
use super::world::{MessagingLimitTier, QualityRating, TemplateCategory, TemplateStatus};
use crate::clock::SimTime;
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
    /// Digits only, as Meta puts it in `metadata.display_phone_number`.
    pub display: Arc<str>,
}

/// How a message is billed, as far as the status webhook's `pricing` object shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Billing {
    /// `pricing.category` / `conversation.origin.type`: marketing, utility, authentication,
    /// service, referral_conversion.
    pub category: &'static str,
    /// `pricing.type`: regular, free_customer_service, free_entry_point.
    pub pricing_type: &'static str,
    pub billable: bool,
}

/// What a status webhook needs to know about the message it reports on. Carried by the timers
/// of the status ladder, so no per-message table is kept.
#[derive(Clone, Debug)]
pub struct MessageInfo {
    pub wamid: Wamid,
    pub phone: PhoneMeta,
    pub recipient: WaId,
    pub billing: Billing,
    pub template: Option<TemplateId>,
    pub biz_opaque_callback_data: Option<Arc<str>>,
    pub sent_at: SimTime,
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
        info: Box<MessageInfo>,
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
    },
    /// `messages` field: a system message (`user_changed_number`).
    UserChangedNumber {
        phone: PhoneMeta,
        old: WaId,
        new: WaId,
        wamid: Wamid,
    },
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
        display: Arc<str>,
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
            Rule::OptIn => "opt_in",
            Rule::MarketingOptOut => "marketing_opt_out",
            Rule::MessagingLimit => "messaging_limit",
            Rule::PerUserMarketingLimit => "per_user_marketing_limit",
            Rule::AccountRestriction => "account_restriction",
            Rule::ThroughputUpgrade => "throughput_upgrade",
            Rule::UserFeedback => "user_feedback",
        }
    }
}

/// One line of the decision log.
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    /// Global order of decisions.
    pub seq: u64,
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
    pub detail: Option<Box<str>>,
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
