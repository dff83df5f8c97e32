//! Engine events → Meta-shaped webhook JSON (`value` of one change, and the envelope).
//!
//! Pure functions: no I/O, no clock. The dispatcher calls them once per POST; tests call them
//! directly to check each shape against the reference (`cloud-api.md` §3).

use crate::clock::SimTime;
use crate::engine::events::{
    BilledConversation, Billing, CategoryChange, DeliveryStatus, Event, EventBody, MessageInfo,
    PhoneMeta, UserRef,
};
use crate::engine::world::{MessagingLimitTier, QualityRating, TemplateStatus};
use crate::pricing::Category;
use serde_json::{json, Map, Value};

/// `field` of a change carrying message statuses, inbound and system messages.
pub const FIELD_MESSAGES: &str = "messages";
/// `field` of a template review/status change.
pub const FIELD_TEMPLATE_STATUS: &str = "message_template_status_update";
/// `field` of account-level notices (restrictions, bans).
pub const FIELD_ACCOUNT_UPDATE: &str = "account_update";
/// `field` of a template quality change.
pub const FIELD_TEMPLATE_QUALITY: &str = "message_template_quality_update";
pub const FIELD_TEMPLATE_CATEGORY: &str = "template_category_update";
/// `field` of a phone number quality/limit/throughput change.
pub const FIELD_PHONE_QUALITY: &str = "phone_number_quality_update";
/// `field` of a portfolio messaging-limit change.
pub const FIELD_BUSINESS_CAPABILITY: &str = "business_capability_update";
pub const FIELD_ACCOUNT_ALERTS: &str = "account_alerts";
/// `field` of a user's BSUID change [M:bsuid].
pub const FIELD_USER_ID_UPDATE: &str = "user_id_update";

/// Where `statuses[].errors[].href` points (Meta's error-code page).
pub const ERROR_CODES_HREF: &str =
    "https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes";

/// The major number of a Graph API version such as `"v23.0"` (also `"23"`, `"v24"`).
/// `None` if it is not of that form.
pub fn api_major(api_version: &str) -> Option<u32> {
    let v = api_version.strip_prefix('v').unwrap_or(api_version);
    let major = v.split('.').next()?;
    let rest_ok = v
        .split('.')
        .skip(1)
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit()) || !rest_ok {
        return None;
    }
    major.parse().ok()
}

/// Whether statuses of this API version carry the message's `conversation` object. v24.0
/// dropped it under per-message pricing except inside a free entry point window; CBP
/// conversations keep it. An unparseable version is treated as the newest behaviour (config
/// validation rejects those anyway).
fn includes_conversation(api_version: &str, b: &crate::engine::events::Billing) -> bool {
    match api_major(api_version) {
        Some(m) if m <= 23 => true,
        _ => {
            b.model.is_some_and(|m| m.is_cbp())
                || b.pricing_type == crate::pricing::PricingType::FreeEntryPoint
        }
    }
}

/// The field and the `value` object of the change reporting `ev`.
pub fn render_change(ev: &Event, api_version: &str) -> (&'static str, Value) {
    match &ev.body {
        EventBody::Status {
            info,
            status,
            error,
        } => (
            FIELD_MESSAGES,
            status_value(ev.at, info, *status, error.as_ref(), api_version),
        ),
        EventBody::Inbound {
            phone,
            from,
            profile_name,
            wamid,
            text,
            identity_key_hash,
            user,
            media,
        } => {
            let mut m = Map::new();
            if user.phone_shown {
                m.insert("from".into(), from.to_string().into());
            }
            m.insert("from_user_id".into(), user.user_id.to_string().into());
            if let Some(p) = user.parent_user_id {
                m.insert("from_parent_user_id".into(), p.to_string().into());
            }
            m.insert("id".into(), wamid.render().into());
            m.insert("timestamp".into(), ev.at.unix_secs().to_string().into());
            match media {
                // Meta's media objects: `caption`, `mime_type`, `sha256`, `id`, and `filename`
                // for documents (cloud-api-2026.md §1.8). No `url`: the renderer does not know
                // the server's address; `GET /{id}` gives one, as Meta documents.
                Some(md) => {
                    let mut o = Map::new();
                    if !text.is_empty() {
                        o.insert("caption".into(), text.as_str().into());
                    }
                    if md.kind == crate::engine::inbound_media::InboundMediaKind::Document {
                        o.insert("filename".into(), md.filename().into());
                    }
                    o.insert("mime_type".into(), md.mime().into());
                    o.insert("sha256".into(), md.sha256_base64().into());
                    o.insert("id".into(), md.id.to_string().into());
                    m.insert("type".into(), md.kind.as_str().into());
                    m.insert(md.kind.as_str().into(), Value::Object(o));
                }
                None => {
                    m.insert("type".into(), "text".into());
                    m.insert("text".into(), json!({ "body": text }));
                }
            }
            (
                FIELD_MESSAGES,
                json!({
                    "messaging_product": "whatsapp",
                    "metadata": metadata(phone),
                    "contacts": [inbound_contact(profile_name, *from, user, identity_key_hash.as_ref())],
                    "messages": [Value::Object(m)],
                }),
            )
        }
        // System messages carry no `contacts` (OAS `IncomingMessageValueSystem`).
        EventBody::UserChangedNumber {
            phone,
            old,
            new,
            wamid,
        } => (
            FIELD_MESSAGES,
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata(phone),
                "messages": [{
                    "from": old.to_string(),
                    "id": wamid.render(),
                    "timestamp": ev.at.unix_secs().to_string(),
                    "type": "system",
                    "system": {
                        "body": format!("User {old} changed from {old} to {new}"),
                        "wa_id": new.to_string(),
                        "type": "user_changed_number",
                    },
                }],
            }),
        ),
        // Meta's example: the old BSUID is only in `body`; `wa_id` only when the phone may be
        // shown [M:bsuid].
        EventBody::UserChangedUserId {
            phone,
            old,
            new,
            new_user,
            previous_user_id,
            wamid,
        } => {
            let mut system = Map::new();
            system.insert(
                "body".into(),
                format!(
                    "User {} changed from {previous_user_id} to {}",
                    crate::engine::audience::profile_name(*new),
                    new_user.user_id
                )
                .into(),
            );
            if new_user.phone_shown {
                system.insert("wa_id".into(), new.to_string().into());
            }
            system.insert("user_id".into(), new_user.user_id.to_string().into());
            if let Some(p) = new_user.parent_user_id {
                system.insert("parent_user_id".into(), p.to_string().into());
            }
            system.insert("type".into(), "user_changed_user_id".into());
            (
                FIELD_MESSAGES,
                json!({
                    "messaging_product": "whatsapp",
                    "metadata": metadata(phone),
                    "messages": [{
                        "from": old.to_string(),
                        "id": wamid.render(),
                        "timestamp": ev.at.unix_secs().to_string(),
                        "type": "system",
                        "system": Value::Object(system),
                    }],
                }),
            )
        }
        // Meta's example entry (cloud-api-2026.md §3.6) in the `value` of a `user_id_update`
        // change, beside `messaging_product` and `metadata` as every WhatsApp field has them.
        EventBody::UserIdUpdate {
            phone,
            new,
            new_user,
            previous_user_id,
            previous_parent_user_id,
        } => {
            let mut u = Map::new();
            if new_user.phone_shown {
                u.insert("wa_id".into(), new.to_string().into());
            }
            u.insert(
                "detail".into(),
                format!(
                    "User id for {} has been updated.",
                    crate::engine::audience::profile_name(*new)
                )
                .into(),
            );
            u.insert(
                "user_id".into(),
                json!({"previous": previous_user_id.to_string(),
                       "current": new_user.user_id.to_string()}),
            );
            if let (Some(prev), Some(cur)) = (previous_parent_user_id, new_user.parent_user_id) {
                u.insert(
                    "parent_user_id".into(),
                    json!({"previous": prev.to_string(), "current": cur.to_string()}),
                );
            }
            u.insert("timestamp".into(), ev.at.unix_secs().to_string().into());
            (
                FIELD_USER_ID_UPDATE,
                json!({
                    "messaging_product": "whatsapp",
                    "metadata": metadata(phone),
                    "user_id_update": [Value::Object(u)],
                }),
            )
        }
        // Meta's `user_preferences` webhook reference: contacts plus one preference entry.
        EventBody::UserPreference {
            phone,
            user,
            profile_name,
            stop,
        } => (
            "user_preferences",
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata(phone),
                "contacts": [{"profile": {"name": profile_name}, "wa_id": user.to_string()}],
                "user_preferences": [{
                    "wa_id": user.to_string(),
                    "detail": if *stop {
                        "User requested to stop marketing messages"
                    } else {
                        "User requested to resume marketing messages"
                    },
                    "category": "marketing_messages",
                    "value": if *stop { "stop" } else { "resume" },
                    "timestamp": ev.at.unix_secs(),
                }],
            }),
        ),
        // pywa fixture `account_update.json` ("account_disabled"): the date is an English string.
        EventBody::AccountDisabled { state } => (
            FIELD_ACCOUNT_UPDATE,
            json!({
                "event": "DISABLED_UPDATE",
                "ban_info": {
                    "waba_ban_state": state.as_str(),
                    "waba_ban_date": crate::engine::violations::ban_date(ev.at.unix_secs()),
                },
            }),
        ),
        EventBody::TemplateStatus {
            template,
            name,
            language,
            category,
            status,
            reason,
        } => {
            // Meta: `reason` is "NONE" when there is nothing to say, and null when the
            // template is scheduled for deletion.
            let reason = match (reason, status) {
                (Some(r), _) => Value::from(*r),
                (None, TemplateStatus::PendingDeletion) => Value::Null,
                (None, _) => Value::from("NONE"),
            };
            (
                FIELD_TEMPLATE_STATUS,
                json!({
                    "event": status.as_str(),
                    "message_template_id": template.0,
                    "message_template_name": name,
                    "message_template_language": language,
                    "reason": reason,
                    "message_template_category": category.as_str(),
                }),
            )
        }
        EventBody::TemplatePause {
            template,
            name,
            language,
            category,
            status,
            title,
            description,
        } => {
            let mut v = json!({
                "event": status.as_str(),
                "message_template_id": template.0,
                "message_template_name": name,
                "message_template_language": language,
                "reason": "NONE",
                "message_template_category": category.as_str(),
                "other_info": {"title": title, "description": description},
            });
            if *status == TemplateStatus::Disabled {
                v["disable_info"] = json!({"disable_date": ev.at.unix_secs()});
            }
            (FIELD_TEMPLATE_STATUS, v)
        }
        // Meta's example [M:pricing]: `tier` is "lower:upper", `region` the market's name.
        EventBody::VolumeTier(t) => {
            let category = match t.category {
                crate::pricing::Category::AuthenticationInternational => {
                    "AUTHENTICATION_INTERNATIONAL"
                }
                crate::pricing::Category::Authentication => "AUTHENTICATION",
                crate::pricing::Category::Utility => "UTILITY",
                other => other.wire(),
            };
            (
                FIELD_ACCOUNT_UPDATE,
                json!({
                    "event": "VOLUME_BASED_PRICING_TIER_UPDATE",
                    "volume_tier_info": {
                        "tier_update_time": ev.at.unix_secs(),
                        "pricing_category": category,
                        "tier": t.tier.band(),
                        "effective_month": format!("{:04}-{:02}", t.month.0, t.month.1),
                        "region": &*t.market,
                    },
                }),
            )
        }
        // Meta's two forms [M:tcu]: the id is an integer; in the notice `new_category` is the
        // current category and `category_update_timestamp` when the change takes effect.
        EventBody::TemplateCategoryUpdate {
            template,
            name,
            language,
            new_category,
            change,
        } => {
            let mut v = json!({
                "message_template_id": template.0,
                "message_template_name": name,
                "message_template_language": language,
            });
            match change {
                CategoryChange::Notice { correct, effective } => {
                    v["new_category"] = json!(new_category.as_str());
                    v["correct_category"] = json!(correct.as_str());
                    v["category_update_timestamp"] = json!(effective.unix_secs());
                }
                CategoryChange::Done { previous } => {
                    v["previous_category"] = json!(previous.as_str());
                    v["new_category"] = json!(new_category.as_str());
                }
            }
            (FIELD_TEMPLATE_CATEGORY, v)
        }
        EventBody::TemplateQuality {
            template,
            name,
            language,
            previous,
            new,
        } => {
            let score = |q: &Option<QualityRating>| q.map_or("UNKNOWN", |q| q.as_str());
            (
                FIELD_TEMPLATE_QUALITY,
                json!({
                    "previous_quality_score": score(previous),
                    "new_quality_score": score(new),
                    "message_template_id": template.0,
                    "message_template_name": name,
                    "message_template_language": language,
                }),
            )
        }
        EventBody::PhoneQuality {
            display,
            event,
            current_limit,
            old_limit,
        } => {
            let mut v = Map::new();
            v.insert("display_phone_number".into(), display.to_string().into());
            v.insert("event".into(), (*event).into());
            if let Some(old) = old_limit {
                v.insert("old_limit".into(), old.as_str().into());
            }
            v.insert("current_limit".into(), current_limit.as_str().into());
            v.insert(
                "max_daily_conversations_per_business".into(),
                current_limit.as_str().into(),
            );
            (FIELD_PHONE_QUALITY, Value::Object(v))
        }
        // Meta's table says TIER_* strings for the per-business figure but its own example
        // sends the integer; we send integers (-1 = unlimited), as the example does.
        EventBody::BusinessCapability {
            limit,
            max_phone_numbers,
        } => {
            let n = limit.limit().map_or(-1, i64::from);
            let mut v = json!({
                "max_daily_conversation_per_phone": n,
                "max_daily_conversations_per_business": n,
            });
            let key = if *limit <= MessagingLimitTier::Tier250 {
                "max_phone_numbers_per_business"
            } else {
                "max_phone_numbers_per_waba"
            };
            v[key] = json!(max_phone_numbers);
            (FIELD_BUSINESS_CAPABILITY, v)
        }
        EventBody::AccountRestriction {
            restriction_type,
            expiration,
        } => (
            FIELD_ACCOUNT_UPDATE,
            json!({
                "event": "ACCOUNT_RESTRICTION",
                "restriction_info": [{
                    "restriction_type": restriction_type,
                    "expiration": expiration.unix_secs(),
                }],
            }),
        ),
        // Meta's `account_alerts` reference: the entity is the business portfolio, a deferral
        // is a WARNING, and the description is the one Meta lists for "not enough signal yet".
        EventBody::LimitReviewDeferred {
            business,
            business_name,
        } => (
            FIELD_ACCOUNT_ALERTS,
            json!({
                "entity_type": "BUSINESS",
                "entity_id": business.to_string(),
                "alert_info": {
                    "alert_severity": "WARNING",
                    "alert_status": "ACTIVE",
                    "alert_type": "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED",
                    "alert_description": format!(
                        "Limits cannot be increased for your business {business_name}. Use WhatsApp Business platform actively for several days and follow our messaging policies."
                    ),
                },
            }),
        ),
        EventBody::MarketingMessagesTermsSigned { owner_business } => (
            FIELD_ACCOUNT_UPDATE,
            json!({
                "event": "MM_LITE_TERMS_SIGNED",
                "waba_info": {
                    "owner_business_id": owner_business.to_string(),
                    "waba_id": ev.waba.to_string(),
                },
            }),
        ),
    }
}

/// `contacts[0]` of an inbound message: `username` if the user has one, `wa_id` only when the
/// phone may be shown [M:bsuid]; `identity_key_hash` only with the identity check on
/// [M:numbers].
fn inbound_contact(
    profile_name: &str,
    from: crate::engine::ids::WaId,
    user: &UserRef,
    hash: Option<&crate::engine::identity::KeyHash>,
) -> Value {
    let mut c = Map::new();
    c.insert(
        "profile".into(),
        profile(profile_name, user.username.as_ref()),
    );
    if user.phone_shown {
        c.insert("wa_id".into(), from.to_string().into());
    }
    c.insert("user_id".into(), user.user_id.to_string().into());
    if let Some(p) = user.parent_user_id {
        c.insert("parent_user_id".into(), p.to_string().into());
    }
    if let Some(h) = hash {
        c.insert(
            "identity_key_hash".into(),
            crate::engine::identity::key_hash_string(h).into(),
        );
    }
    Value::Object(c)
}

fn profile(name: &str, username: Option<&crate::engine::audience::Username>) -> Value {
    let mut p = Map::new();
    p.insert("name".into(), name.into());
    if let Some(u) = username {
        p.insert("username".into(), u.as_str().into());
    }
    Value::Object(p)
}

fn metadata(phone: &PhoneMeta) -> Value {
    json!({
        "display_phone_number": phone.display.to_string(),
        "phone_number_id": phone.id.to_string(),
    })
}

fn status_value(
    at: SimTime,
    info: &MessageInfo,
    status: DeliveryStatus,
    error: Option<&(crate::engine::errors::ErrorCode, Option<String>)>,
    api_version: &str,
) -> Value {
    let mut st = Map::new();
    st.insert("id".into(), info.wamid.render().into());
    st.insert("status".into(), status.as_str().into());
    st.insert("timestamp".into(), at.unix_secs().to_string().into());
    // The phone only when it may be shown; the BSUID always, except on a failed status of a
    // send by phone number [M:bsuid].
    let user = &info.user;
    let failed = status == DeliveryStatus::Failed;
    if user.phone_shown {
        st.insert("recipient_id".into(), info.recipient().to_string().into());
    }
    if !failed || user.by_user_id {
        st.insert("recipient_user_id".into(), user.user_id.to_string().into());
        if let Some(p) = user.parent_user_id {
            st.insert("recipient_parent_user_id".into(), p.to_string().into());
        }
    }
    if let Some(cb) = &info.biz_opaque_callback_data {
        st.insert("biz_opaque_callback_data".into(), (**cb).into());
    }
    // Only when the number has the identity key check on [M:status, M:numbers].
    if let Some(h) = &info.recipient_identity_key_hash {
        st.insert(
            "recipient_identity_key_hash".into(),
            crate::engine::identity::key_hash_string(h).into(),
        );
    }
    // Billing information rides on `sent` and on the first of delivered/read; the engine always
    // emits `delivered` before `read`, so `delivered` is the one.
    // The objects come from the engine's charge: at `sent` the preview, at `delivered` the
    // charge recorded in the ledger.
    let billed = matches!(status, DeliveryStatus::Sent | DeliveryStatus::Delivered);
    if billed {
        let b = &info.billing;
        if let Some(c) = &b.conversation {
            if includes_conversation(api_version, b) {
                st.insert(
                    "conversation".into(),
                    conversation(c, status == DeliveryStatus::Sent),
                );
            }
        }
        if let Some(p) = pricing(b) {
            st.insert("pricing".into(), p);
        }
    }
    if status == DeliveryStatus::Failed {
        if let Some((code, details)) = error {
            let details = details.as_deref().unwrap_or(code.default_details());
            st.insert(
                "errors".into(),
                json!([{
                    "code": code.code(),
                    "title": code.title(),
                    "message": code.title(),
                    "error_data": {"details": details},
                    "href": ERROR_CODES_HREF,
                }]),
            );
        }
    }
    let mut v = Map::new();
    v.insert("messaging_product".into(), "whatsapp".into());
    v.insert("metadata".into(), metadata(&info.phone));
    // A failed status has no `contacts`; `username` only on delivered and read [M:bsuid].
    if !failed {
        let username = user
            .username
            .as_ref()
            .filter(|_| matches!(status, DeliveryStatus::Delivered | DeliveryStatus::Read));
        let mut c = Map::new();
        c.insert(
            "profile".into(),
            profile(
                &crate::engine::audience::profile_name(info.recipient()),
                username,
            ),
        );
        if user.phone_shown {
            c.insert("wa_id".into(), info.recipient().to_string().into());
        }
        c.insert("user_id".into(), user.user_id.to_string().into());
        if let Some(p) = user.parent_user_id {
            c.insert("parent_user_id".into(), p.to_string().into());
        }
        v.insert("contacts".into(), json!([Value::Object(c)]));
    }
    v.insert("statuses".into(), json!([Value::Object(st)]));
    Value::Object(v)
}

/// `conversation`: id and origin from the charge; `expiration_timestamp` only on `sent`.
fn conversation(c: &BilledConversation, with_expiration: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), c.id.to_string().into());
    if with_expiration && c.expires_at != SimTime::ZERO {
        m.insert(
            "expiration_timestamp".into(),
            c.expires_at.unix_secs().to_string().into(),
        );
    }
    m.insert("origin".into(), json!({"type": c.origin.wire()}));
    Value::Object(m)
}

/// `pricing`, or `None` when there is no such object (template era, or a message refused
/// before sending). `type` only under per-message pricing: CBP webhooks had none. Meta's
/// pricing table writes authentication-international with a hyphen.
fn pricing(b: &Billing) -> Option<Value> {
    let model = b.model?;
    let name = model.webhook_name()?;
    let category = match b.category {
        Category::AuthenticationInternational => "authentication-international",
        c => c.wire(),
    };
    let mut m = Map::new();
    m.insert("billable".into(), b.billable.into());
    m.insert("pricing_model".into(), name.into());
    // Meta's Marketing Messages API example has no `type` [M:mm-send].
    if !model.is_cbp() && b.category != Category::MarketingLite {
        m.insert("type".into(), b.pricing_type.wire().into());
    }
    m.insert("category".into(), category.into());
    Some(Value::Object(m))
}

/// The whole webhook body for `events`, which must all belong to the same WABA (the dispatcher
/// batches only those; the first event's WABA is used). `entry.time` is present when the batch
/// holds a non-`messages` field, as in Meta's examples; it is the latest event's time.
pub fn envelope(events: &[Event], api_version: &str) -> Value {
    let waba = events
        .first()
        .map(|e| e.waba.to_string())
        .unwrap_or_default();
    let mut needs_time = false;
    let changes: Vec<Value> = events
        .iter()
        .map(|ev| {
            let (field, value) = render_change(ev, api_version);
            needs_time |= field != FIELD_MESSAGES;
            json!({"value": value, "field": field})
        })
        .collect();
    let mut entry = Map::new();
    entry.insert("id".into(), waba.into());
    if needs_time {
        let t = events.iter().map(|e| e.at).max().unwrap_or_default();
        entry.insert("time".into(), t.unix_secs().into());
    }
    entry.insert("changes".into(), changes.into());
    json!({"object": "whatsapp_business_account", "entry": [Value::Object(entry)]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::errors::ErrorCode;
    use crate::engine::events::Wamid;
    use crate::engine::ids::{PhoneNumberId, TemplateId, WaId, WabaId};
    use crate::engine::world::TemplateCategory;
    use std::sync::Arc;

    const T: u64 = 1_750_030_073;

    fn phone() -> PhoneMeta {
        PhoneMeta {
            id: PhoneNumberId(106540352242922),
            display: crate::engine::events::DisplayNumber::parse("15550783881").unwrap(),
        }
    }

    fn info(billing: Billing) -> MessageInfo {
        MessageInfo {
            wamid: Wamid {
                user: WaId(16505551234),
                seq: 42,
                tag: 7,
                inbound: false,
            },
            phone: phone(),
            billing,
            template: None,
            feedback_category: crate::engine::reactions::FeedbackCategory::Service,
            biz_opaque_callback_data: Some(Arc::from("order-17")),
            sent_at: SimTime::from_secs(T),
            recipient_identity_key_hash: None,
            user: uref(WaId(16505551234), true, false, false),
        }
    }

    /// The user as the core would describe them: phone shown or not, with a username or
    /// not, named by BSUID in the send or not.
    fn uref(wa: WaId, phone_shown: bool, username: bool, by_user_id: bool) -> UserRef {
        UserRef {
            user_id: crate::engine::bsuid::user_id(1, crate::engine::ids::BusinessId(9), wa, 0),
            parent_user_id: None,
            username: username.then(|| crate::engine::audience::Username::of(wa)),
            phone_shown,
            by_user_id,
        }
    }

    use crate::pricing::{ConversationId, PricingModelId, PricingType};

    const CONV: ConversationId = ConversationId(0x0123456789abcdef, 0x0123456789abcdef);

    fn marketing() -> Billing {
        Billing::pmp(
            Category::Marketing,
            PricingType::Regular,
            true,
            CONV,
            SimTime::from_secs(T + 86_400),
        )
    }

    fn status_ev(status: DeliveryStatus, billing: Billing, at: u64) -> Event {
        Event {
            at: SimTime::from_secs(at),
            waba: WabaId(102290129340398),
            body: EventBody::Status {
                info: info(billing),
                status,
                error: None,
            },
        }
    }

    fn first_status(v: &Value) -> &Value {
        &v["statuses"][0]
    }

    #[test]
    fn sent_carries_conversation_with_expiration_and_pricing() {
        let ev = status_ev(DeliveryStatus::Sent, marketing(), T);
        let (field, v) = render_change(&ev, "v23.0");
        assert_eq!(field, "messages");
        assert_eq!(v["messaging_product"], "whatsapp");
        assert_eq!(v["metadata"]["display_phone_number"], "15550783881");
        assert_eq!(v["metadata"]["phone_number_id"], "106540352242922");
        let s = first_status(&v);
        assert!(s["id"].as_str().unwrap().starts_with("wamid."));
        assert_eq!(s["status"], "sent");
        assert_eq!(s["timestamp"], T.to_string());
        assert_eq!(s["recipient_id"], "16505551234");
        assert_eq!(s["biz_opaque_callback_data"], "order-17");
        let c = &s["conversation"];
        assert_eq!(c["id"].as_str().unwrap().len(), 32);
        assert_eq!(c["expiration_timestamp"], (T + 86_400).to_string());
        assert_eq!(c["origin"], json!({"type": "marketing"}));
        assert_eq!(
            s["pricing"],
            json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"})
        );
        assert!(s.get("errors").is_none());
    }

    #[test]
    fn delivered_has_same_conversation_without_expiration_and_read_has_no_billing() {
        let service = Billing::pmp(
            Category::Service,
            PricingType::FreeCustomerService,
            false,
            CONV,
            SimTime::from_secs(T + 86_400),
        );
        let sent = render_change(&status_ev(DeliveryStatus::Sent, service, T), "v23.0").1;
        let del = render_change(
            &status_ev(DeliveryStatus::Delivered, service, T + 2),
            "v23.0",
        )
        .1;
        let (s, d) = (first_status(&sent), first_status(&del));
        assert_eq!(d["status"], "delivered");
        assert_eq!(d["timestamp"], (T + 2).to_string());
        assert_eq!(d["conversation"]["id"], s["conversation"]["id"]);
        assert!(d["conversation"].get("expiration_timestamp").is_none());
        assert_eq!(d["conversation"]["origin"]["type"], "service");
        assert_eq!(d["pricing"]["type"], "free_customer_service");
        assert_eq!(d["pricing"]["billable"], false);

        let read = render_change(&status_ev(DeliveryStatus::Read, service, T + 9), "v23.0").1;
        let r = first_status(&read);
        assert_eq!(r["status"], "read");
        assert!(r.get("conversation").is_none());
        assert!(r.get("pricing").is_none());
    }

    #[test]
    fn cbp_pricing_has_no_type_and_template_era_has_no_pricing() {
        let cbp = Billing {
            model: Some(PricingModelId::Cbp2022),
            category: Category::BusinessInitiated,
            pricing_type: PricingType::Regular,
            billable: true,
            conversation: Some(BilledConversation {
                id: CONV,
                expires_at: SimTime::from_secs(T + 86_400),
                origin: Category::BusinessInitiated,
            }),
        };
        let v = render_change(&status_ev(DeliveryStatus::Sent, cbp, T), "v24.0").1;
        let s = first_status(&v);
        assert_eq!(
            s["pricing"],
            json!({"billable": true, "pricing_model": "CBP", "category": "business_initiated"})
        );
        assert_eq!(s["conversation"]["id"], "0123456789abcdef0123456789abcdef");
        let era = Billing {
            model: Some(PricingModelId::TemplateEra),
            conversation: None,
            ..marketing()
        };
        let v = render_change(&status_ev(DeliveryStatus::Delivered, era, T), "v23.0").1;
        assert!(first_status(&v).get("pricing").is_none());
        assert!(first_status(&v).get("conversation").is_none());
    }

    #[test]
    fn v24_omits_conversation_unless_free_entry_point() {
        let v = render_change(&status_ev(DeliveryStatus::Sent, marketing(), T), "v24.0").1;
        assert!(first_status(&v).get("conversation").is_none());
        assert_eq!(first_status(&v)["pricing"]["category"], "marketing");
        let fep = Billing::pmp(
            Category::ReferralConversion,
            PricingType::FreeEntryPoint,
            false,
            CONV,
            SimTime::from_secs(T + 72 * 3600),
        );
        let v = render_change(&status_ev(DeliveryStatus::Sent, fep, T), "v25.0").1;
        let c = &first_status(&v)["conversation"];
        assert_eq!(c["origin"]["type"], "referral_conversion");
        assert_eq!(c["expiration_timestamp"], (T + 72 * 3600).to_string());
    }

    #[test]
    fn failed_carries_errors_and_no_billing() {
        let mut ev = status_ev(DeliveryStatus::Failed, marketing(), T + 1);
        if let EventBody::Status { error, .. } = &mut ev.body {
            *error = Some((ErrorCode::Undeliverable, None));
        }
        let v = render_change(&ev, "v23.0").1;
        let s = first_status(&v);
        assert_eq!(s["status"], "failed");
        assert!(s.get("pricing").is_none() && s.get("conversation").is_none());
        assert_eq!(
            s["errors"],
            json!([{
                "code": 131026,
                "title": "Message Undeliverable.",
                "message": "Message Undeliverable.",
                "error_data": {"details": "Message Undeliverable."},
                "href": ERROR_CODES_HREF,
            }])
        );
    }

    #[test]
    fn inbound_text_message_shape() {
        let ev = Event {
            at: SimTime::from_secs(T),
            waba: WabaId(1),
            body: EventBody::Inbound {
                phone: phone(),
                from: WaId(16505551234),
                profile_name: "Sheena Nelson".into(),
                wamid: Wamid {
                    user: WaId(16505551234),
                    seq: 1,
                    tag: 7,
                    inbound: true,
                },
                text: "Olá 😀".into(),
                identity_key_hash: None,
                media: None,
                user: uref(WaId(16505551234), true, false, false),
            },
        };
        let (field, v) = render_change(&ev, "v23.0");
        assert_eq!(field, "messages");
        assert_eq!(
            v["contacts"],
            json!([{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234", "user_id": uref(WaId(16505551234), true, false, false).user_id.to_string()}])
        );
        assert!(v["contacts"][0]["user_id"]
            .as_str()
            .unwrap()
            .starts_with("US."));
        let m = &v["messages"][0];
        assert_eq!(m["from"], "16505551234");
        assert!(m["id"].as_str().unwrap().starts_with("wamid."));
        assert_eq!(m["timestamp"], T.to_string());
        assert_eq!(m["type"], "text");
        assert_eq!(m["text"], json!({"body": "Olá 😀"}));
        assert!(v.get("statuses").is_none());
    }

    #[test]
    fn user_changed_number_is_a_system_message_without_contacts() {
        let ev = Event {
            at: SimTime::from_secs(T),
            waba: WabaId(1),
            body: EventBody::UserChangedNumber {
                phone: phone(),
                old: WaId(16505551234),
                new: WaId(12195555358),
                wamid: Wamid {
                    user: WaId(16505551234),
                    seq: 3,
                    tag: 7,
                    inbound: true,
                },
            },
        };
        let (field, v) = render_change(&ev, "v23.0");
        assert_eq!(field, "messages");
        assert!(v.get("contacts").is_none());
        let m = &v["messages"][0];
        assert_eq!(m["from"], "16505551234");
        assert_eq!(m["type"], "system");
        assert_eq!(
            m["system"],
            json!({
                "body": "User 16505551234 changed from 16505551234 to 12195555358",
                "wa_id": "12195555358",
                "type": "user_changed_number",
            })
        );
    }

    fn template_ev(status: TemplateStatus, reason: Option<&'static str>) -> Event {
        Event {
            at: SimTime::from_secs(T),
            waba: WabaId(102290129340398),
            body: EventBody::TemplateStatus {
                template: TemplateId(1689556908129832),
                name: "order_confirmation".into(),
                language: "en_US".into(),
                category: TemplateCategory::Utility,
                status,
                reason,
            },
        }
    }

    #[test]
    fn template_status_shape_and_envelope_time() {
        let ev = template_ev(TemplateStatus::Approved, None);
        let (field, v) = render_change(&ev, "v23.0");
        assert_eq!(field, "message_template_status_update");
        assert_eq!(
            v,
            json!({
                "event": "APPROVED",
                "message_template_id": 1689556908129832u64,
                "message_template_name": "order_confirmation",
                "message_template_language": "en_US",
                "reason": "NONE",
                "message_template_category": "UTILITY",
            })
        );
        let r = render_change(
            &template_ev(TemplateStatus::Rejected, Some("INVALID_FORMAT")),
            "v23.0",
        )
        .1;
        assert_eq!(r["reason"], "INVALID_FORMAT");
        let p = render_change(&template_ev(TemplateStatus::PendingDeletion, None), "v23.0").1;
        assert_eq!(p["reason"], Value::Null);

        let env = envelope(&[ev], "v23.0");
        assert_eq!(env["object"], "whatsapp_business_account");
        assert_eq!(env["entry"][0]["id"], "102290129340398");
        assert_eq!(env["entry"][0]["time"], T);
        assert_eq!(
            env["entry"][0]["changes"][0]["field"],
            "message_template_status_update"
        );
    }

    #[test]
    fn messages_envelope_has_no_time_and_one_change_per_event() {
        let evs = [
            status_ev(DeliveryStatus::Sent, marketing(), T),
            status_ev(DeliveryStatus::Delivered, marketing(), T + 1),
        ];
        let env = envelope(&evs, "v23.0");
        let entry = &env["entry"][0];
        assert!(entry.get("time").is_none());
        assert_eq!(entry["id"], "102290129340398");
        let changes = entry["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[1]["field"], "messages");
        assert_eq!(changes[1]["value"]["statuses"][0]["status"], "delivered");
    }

    #[test]
    fn api_versions_parse() {
        assert_eq!(api_major("v23.0"), Some(23));
        assert_eq!(api_major("v24"), Some(24));
        assert_eq!(api_major("19.0"), Some(19));
        assert_eq!(api_major("latest"), None);
        assert_eq!(api_major("v23."), None);
    }

    /// A status of a message to `user` (the user as the core described them).
    fn status_for(status: DeliveryStatus, user: UserRef, error: Option<ErrorCode>) -> Value {
        let mut i = info(Billing::NONE);
        i.user = user;
        let ev = Event {
            at: SimTime::from_secs(T),
            waba: WabaId(1),
            body: EventBody::Status {
                info: i,
                status,
                error: error.map(|c| (c, None)),
            },
        };
        render_change(&ev, "v23.0").1
    }

    #[test]
    fn statuses_carry_the_bsuid_and_the_username_on_delivered_and_read_only() {
        let wa = WaId(16505551234);
        let u = uref(wa, true, true, false);
        let id = u.user_id.to_string();
        let sent = status_for(DeliveryStatus::Sent, u, None);
        assert_eq!(
            sent["contacts"],
            json!([{"profile": {"name": crate::engine::audience::profile_name(wa)}, "wa_id": "16505551234", "user_id": id}])
        );
        assert_eq!(first_status(&sent)["recipient_id"], "16505551234");
        assert_eq!(first_status(&sent)["recipient_user_id"], id);
        for st in [DeliveryStatus::Delivered, DeliveryStatus::Read] {
            let v = status_for(st, u, None);
            assert_eq!(
                v["contacts"][0]["profile"]["username"],
                crate::engine::audience::Username::of(wa).as_str()
            );
        }
        // No username: no `username` on delivered either.
        let v = status_for(
            DeliveryStatus::Delivered,
            uref(wa, true, false, false),
            None,
        );
        assert!(v["contacts"][0]["profile"].get("username").is_none());
    }

    #[test]
    fn a_hidden_phone_is_omitted_not_empty() {
        let wa = WaId(16505551234);
        let u = uref(wa, false, true, true);
        let v = status_for(DeliveryStatus::Delivered, u, None);
        let c = &v["contacts"][0];
        assert!(c.get("wa_id").is_none(), "{c}");
        assert_eq!(c["user_id"], u.user_id.to_string());
        let s = first_status(&v);
        assert!(s.get("recipient_id").is_none(), "{s}");
        assert_eq!(s["recipient_user_id"], u.user_id.to_string());
        // Inbound: no `from`, no `wa_id`; `from_user_id` and the username.
        let ev = Event {
            at: SimTime::from_secs(T),
            waba: WabaId(1),
            body: EventBody::Inbound {
                phone: phone(),
                from: wa,
                profile_name: "Sheena Nelson".into(),
                wamid: Wamid {
                    user: wa,
                    seq: 1,
                    tag: 7,
                    inbound: true,
                },
                text: "hi".into(),
                identity_key_hash: None,
                media: None,
                user: u,
            },
        };
        let v = render_change(&ev, "v23.0").1;
        assert_eq!(
            v["contacts"],
            json!([{"profile": {"name": "Sheena Nelson", "username": crate::engine::audience::Username::of(wa).as_str()}, "user_id": u.user_id.to_string()}])
        );
        let m = &v["messages"][0];
        assert!(m.get("from").is_none(), "{m}");
        assert_eq!(m["from_user_id"], u.user_id.to_string());
    }

    #[test]
    fn failed_statuses_drop_contacts_and_the_bsuid_of_phone_sends() {
        let wa = WaId(16505551234);
        let by_phone = status_for(
            DeliveryStatus::Failed,
            uref(wa, true, true, false),
            Some(ErrorCode::Undeliverable),
        );
        assert!(by_phone.get("contacts").is_none());
        let s = first_status(&by_phone);
        assert_eq!(s["recipient_id"], "16505551234");
        assert!(s.get("recipient_user_id").is_none());
        let u = uref(wa, false, true, true);
        let by_id = status_for(DeliveryStatus::Failed, u, Some(ErrorCode::Undeliverable));
        assert!(by_id.get("contacts").is_none());
        let s = first_status(&by_id);
        assert_eq!(s["recipient_user_id"], u.user_id.to_string());
        assert!(s.get("recipient_id").is_none());
    }

    #[test]
    fn user_id_update_names_previous_and_current_ids() {
        let new = WaId(16505559999);
        let prev = uref(WaId(16505551234), true, false, false).user_id;
        let acct = crate::engine::ids::BusinessId(77);
        let parent = |w| crate::engine::bsuid::parent_user_id(1, acct, w, 0);
        for (shown, enrolled) in [(true, false), (false, true)] {
            let mut new_user = uref(new, shown, false, false);
            new_user.parent_user_id = enrolled.then(|| parent(new));
            let ev = Event {
                at: SimTime::from_secs(T),
                waba: WabaId(1),
                body: EventBody::UserIdUpdate {
                    phone: phone(),
                    new,
                    new_user,
                    previous_user_id: prev,
                    previous_parent_user_id: enrolled.then(|| parent(WaId(16505551234))),
                },
            };
            let (field, v) = render_change(&ev, "v23.0");
            assert_eq!(field, "user_id_update");
            assert_eq!(v["messaging_product"], "whatsapp");
            let u = &v["user_id_update"][0];
            assert_eq!(
                u["user_id"],
                json!({"previous": prev.to_string(), "current": new_user.user_id.to_string()})
            );
            assert_eq!(u["timestamp"], T.to_string());
            assert!(u["detail"].as_str().unwrap().ends_with("has been updated."));
            assert_eq!(u.get("wa_id").is_some(), shown, "{u}");
            if enrolled {
                assert_eq!(
                    u["parent_user_id"]["current"],
                    parent(new).to_string().as_str()
                );
                assert!(u["parent_user_id"]["previous"]
                    .as_str()
                    .unwrap()
                    .contains(".ENT."));
            } else {
                assert!(u.get("parent_user_id").is_none());
            }
        }
    }

    #[test]
    fn user_changed_user_id_is_a_system_message_naming_both_ids() {
        let old = WaId(16505551234);
        let new = WaId(16505559999);
        let prev = uref(old, true, false, false).user_id;
        for shown in [true, false] {
            let new_user = uref(new, shown, false, false);
            let ev = Event {
                at: SimTime::from_secs(T),
                waba: WabaId(1),
                body: EventBody::UserChangedUserId {
                    phone: phone(),
                    old,
                    new,
                    new_user,
                    previous_user_id: prev,
                    wamid: Wamid {
                        user: old,
                        seq: 3,
                        tag: 7,
                        inbound: true,
                    },
                },
            };
            let (field, v) = render_change(&ev, "v23.0");
            assert_eq!(field, FIELD_MESSAGES);
            assert!(v.get("contacts").is_none());
            let m = &v["messages"][0];
            assert_eq!(m["from"], "16505551234");
            assert_eq!(m["type"], "system");
            let sys = &m["system"];
            assert_eq!(sys["type"], "user_changed_user_id");
            assert_eq!(sys["user_id"], new_user.user_id.to_string());
            let body = sys["body"].as_str().unwrap();
            assert!(
                body.contains(&format!("changed from {prev} to {}", new_user.user_id)),
                "{body}"
            );
            assert_eq!(sys.get("wa_id").is_some(), shown);
        }
    }
}

/// Shapes of the platform-dynamics webhooks (reference §3: wh-pnqu, wh-mtsu, wh-mtqu, wh-bcu,
/// account_update).
#[cfg(test)]
mod dynamics_shape_tests {
    use super::*;
    use crate::engine::events::PhoneMeta;
    use crate::engine::ids::{PhoneNumberId, TemplateId, WaId, WabaId};
    use crate::engine::world::TemplateCategory;

    const T: u64 = 1_750_030_073;

    fn ev(body: EventBody) -> Event {
        Event {
            at: SimTime::from_secs(T),
            waba: WabaId(102290129340398),
            body,
        }
    }

    fn pause(status: TemplateStatus, title: &'static str) -> Event {
        ev(EventBody::TemplatePause {
            template: TemplateId(806312974732579),
            name: "promo".into(),
            language: "id".into(),
            category: TemplateCategory::Marketing,
            status,
            title,
            description: "d".into(),
        })
    }

    #[test]
    fn pause_unpause_and_disable() {
        let (f, v) = render_change(&pause(TemplateStatus::Paused, "FIRST_PAUSE"), "v23.0");
        assert_eq!(f, "message_template_status_update");
        assert_eq!(
            v,
            json!({
                "event": "PAUSED",
                "message_template_id": 806312974732579u64,
                "message_template_name": "promo",
                "message_template_language": "id",
                "reason": "NONE",
                "message_template_category": "MARKETING",
                "other_info": {"title": "FIRST_PAUSE", "description": "d"},
            })
        );
        let v = render_change(&pause(TemplateStatus::Approved, "UNPAUSE"), "v23.0").1;
        assert_eq!(v["event"], "APPROVED");
        assert!(v.get("disable_info").is_none());
        let v = render_change(&pause(TemplateStatus::Disabled, "DISABLED"), "v23.0").1;
        assert_eq!(v["event"], "DISABLED");
        assert_eq!(v["disable_info"], json!({"disable_date": T}));
    }

    /// Meta's `VOLUME_BASED_PRICING_TIER_UPDATE` example [M:pricing], byte for byte.
    #[test]
    fn volume_tier_update_follows_metas_example() {
        use crate::engine::charging::TierEntered;
        use crate::pricing::{Category, Name, Percent, Tier};
        let e = Event {
            at: SimTime::from_secs(1743451903),
            waba: WabaId(102290129340398),
            body: EventBody::VolumeTier(TierEntered {
                category: Category::Utility,
                market: Name::new("India"),
                tier: Tier {
                    index: 4,
                    from: 25000001,
                    to: Some(50000000),
                    discount: Percent::parse("18").unwrap(),
                },
                month: (2025, 11),
            }),
        };
        let (f, v) = render_change(&e, "v23.0");
        assert_eq!(f, "account_update");
        assert_eq!(
            v.to_string(),
            r#"{"event":"VOLUME_BASED_PRICING_TIER_UPDATE","volume_tier_info":{"tier_update_time":1743451903,"pricing_category":"UTILITY","tier":"25000001:50000000","effective_month":"2025-11","region":"India"}}"#
        );
    }

    /// Both forms of Meta's `template_category_update` example [M:tcu], byte for byte.
    #[test]
    fn template_category_update_notice_and_completed_forms() {
        use crate::engine::world::TemplateCategory;
        let body = |change| EventBody::TemplateCategoryUpdate {
            template: TemplateId(278077987957091),
            name: "welcome_template".into(),
            language: "en-US".into(),
            new_category: match change {
                CategoryChange::Notice { .. } => TemplateCategory::Utility,
                CategoryChange::Done { .. } => TemplateCategory::Marketing,
            },
            change,
        };
        let (f, v) = render_change(
            &ev(body(CategoryChange::Notice {
                correct: TemplateCategory::Marketing,
                effective: SimTime::from_secs(1746169200),
            })),
            "v23.0",
        );
        assert_eq!(f, "template_category_update");
        assert_eq!(
            v.to_string(),
            r#"{"message_template_id":278077987957091,"message_template_name":"welcome_template","message_template_language":"en-US","new_category":"UTILITY","correct_category":"MARKETING","category_update_timestamp":1746169200}"#
        );
        let (_, v) = render_change(
            &ev(body(CategoryChange::Done {
                previous: TemplateCategory::Utility,
            })),
            "v23.0",
        );
        assert_eq!(
            v.to_string(),
            r#"{"message_template_id":278077987957091,"message_template_name":"welcome_template","message_template_language":"en-US","previous_category":"UTILITY","new_category":"MARKETING"}"#
        );
        assert!(v.get("correct_category").is_none());
    }

    #[test]
    fn template_quality_update() {
        let e = ev(EventBody::TemplateQuality {
            template: TemplateId(806312974732579),
            name: "welcome_template".into(),
            language: "en-US".into(),
            previous: None,
            new: Some(QualityRating::Yellow),
        });
        let (f, v) = render_change(&e, "v23.0");
        assert_eq!(f, "message_template_quality_update");
        assert_eq!(
            v,
            json!({"previous_quality_score": "UNKNOWN", "new_quality_score": "YELLOW",
                   "message_template_id": 806312974732579u64,
                   "message_template_name": "welcome_template",
                   "message_template_language": "en-US"})
        );
    }

    #[test]
    fn phone_quality_throughput_upgrade_and_legacy_downgrade() {
        let e = ev(EventBody::PhoneQuality {
            display: crate::engine::events::DisplayNumber::parse("15550783881").unwrap(),
            event: "THROUGHPUT_UPGRADE",
            current_limit: MessagingLimitTier::Unlimited,
            old_limit: None,
        });
        let (f, v) = render_change(&e, "v23.0");
        assert_eq!(f, "phone_number_quality_update");
        assert_eq!(
            v,
            json!({"display_phone_number": "15550783881", "event": "THROUGHPUT_UPGRADE",
                   "current_limit": "TIER_UNLIMITED",
                   "max_daily_conversations_per_business": "TIER_UNLIMITED"})
        );
        let e = ev(EventBody::PhoneQuality {
            display: crate::engine::events::DisplayNumber::parse("15550783881").unwrap(),
            event: "DOWNGRADE",
            current_limit: MessagingLimitTier::Tier1K,
            old_limit: Some(MessagingLimitTier::Tier10K),
        });
        let v = render_change(&e, "v23.0").1;
        assert_eq!(v["old_limit"], "TIER_10K");
        assert_eq!(v["current_limit"], "TIER_1K");
        assert_eq!(envelope(&[e], "v23.0")["entry"][0]["time"], T);
    }

    /// Meta's `account_alerts` reference shape, and `MM_LITE_TERMS_SIGNED` per WABA.
    #[test]
    fn account_alerts_deferral_and_mm_terms_signed() {
        let e = ev(EventBody::LimitReviewDeferred {
            business: crate::engine::ids::BusinessId(77),
            business_name: "Toko".into(),
        });
        let (f, v) = render_change(&e, "v23.0");
        assert_eq!(f, "account_alerts");
        assert_eq!(v["entity_type"], "BUSINESS");
        assert_eq!(v["entity_id"], "77");
        let info = &v["alert_info"];
        assert_eq!(
            info["alert_type"],
            "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED"
        );
        assert_eq!(info["alert_severity"], "WARNING");
        assert_eq!(info["alert_status"], "ACTIVE");
        assert!(info["alert_description"]
            .as_str()
            .unwrap()
            .starts_with("Limits cannot be increased for your business Toko."));
        assert_eq!(envelope(&[e], "v23.0")["entry"][0]["time"], T);
        let e = ev(EventBody::MarketingMessagesTermsSigned {
            owner_business: crate::engine::ids::BusinessId(77),
        });
        let (f, v) = render_change(&e, "v23.0");
        assert_eq!(f, "account_update");
        assert_eq!(
            v,
            json!({"event": "MM_LITE_TERMS_SIGNED",
                   "waba_info": {"owner_business_id": "77", "waba_id": e.waba.to_string()}})
        );
    }

    #[test]
    fn business_capability_and_account_restriction() {
        let cap = |limit| {
            render_change(
                &ev(EventBody::BusinessCapability {
                    limit,
                    max_phone_numbers: if limit == MessagingLimitTier::Tier250 {
                        2
                    } else {
                        20
                    },
                }),
                "v23.0",
            )
        };
        let (f, v) = cap(MessagingLimitTier::Tier2K);
        assert_eq!(f, "business_capability_update");
        assert_eq!(
            v,
            json!({"max_daily_conversation_per_phone": 2000,
                   "max_daily_conversations_per_business": 2000,
                   "max_phone_numbers_per_waba": 20})
        );
        let v = cap(MessagingLimitTier::Tier250).1;
        assert_eq!(v["max_phone_numbers_per_business"], 2);
        assert!(v.get("max_phone_numbers_per_waba").is_none());
        assert_eq!(
            cap(MessagingLimitTier::Unlimited).1["max_daily_conversations_per_business"],
            -1
        );

        let e = ev(EventBody::AccountRestriction {
            restriction_type: "RESTRICTED_BIZ_INITIATED_MESSAGING",
            expiration: SimTime::from_secs(1_641_330_498),
        });
        let (f, v) = render_change(&e, "v23.0");
        assert_eq!(f, "account_update");
        assert_eq!(
            v,
            json!({"event": "ACCOUNT_RESTRICTION", "restriction_info": [
                {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1_641_330_498u64}]})
        );
    }

    /// Meta's `user_preferences` reference shape: contacts plus one preference entry.
    #[test]
    fn user_preferences_stop_and_resume() {
        let pref = |stop| {
            render_change(
                &ev(EventBody::UserPreference {
                    phone: PhoneMeta {
                        id: PhoneNumberId(106540352242922),
                        display: crate::engine::events::DisplayNumber::parse("15550783881")
                            .unwrap(),
                    },
                    user: WaId(16505551234),
                    profile_name: "Ayu".into(),
                    stop,
                }),
                "v23.0",
            )
        };
        let (f, v) = pref(true);
        assert_eq!(f, "user_preferences");
        assert_eq!(
            v,
            json!({"messaging_product": "whatsapp",
                   "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                   "contacts": [{"profile": {"name": "Ayu"}, "wa_id": "16505551234"}],
                   "user_preferences": [{"wa_id": "16505551234",
                       "detail": "User requested to stop marketing messages",
                       "category": "marketing_messages", "value": "stop", "timestamp": T}]})
        );
        let v = pref(false).1;
        assert_eq!(v["user_preferences"][0]["value"], "resume");
        assert_eq!(
            v["user_preferences"][0]["detail"],
            "User requested to resume marketing messages"
        );
    }
}
