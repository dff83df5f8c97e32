//! The Graph API wire format of `POST /{phone-number-id}/messages`, and its translation into
//! the engine's domain types.
//!
//! Lenient in what it accepts (Meta's own examples omit `recipient_type` and even `type`;
//! extra fields such as `biz_opaque_callback_data` are fine), exact in what it refuses: every
//! error names the offending field.

use crate::engine::errors::ErrorCode;
use crate::engine::ids::WaId;
use crate::engine::message::{Addressee, Channel, Content, FreeFormKind, Outbound};
use crate::engine::templates::{TemplateParam, TemplateSend};
use crate::engine::Rejection;
use serde::Deserialize;
use serde_json::Value;

/// What a messages request asks for.
#[derive(Debug)]
pub enum MessagesRequest {
    Send {
        msg: Outbound,
        /// The `to` (or, without one, `recipient`) value exactly as given (echoed as
        /// `contacts[].input`).
        input: String,
        /// The uploaded media a media message names by `id` (the server checks it exists; the
        /// engine does not need to know).
        media_id: Option<String>,
    },
    MarkRead {
        message_id: String,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum {
    S(String),
    N(serde_json::Number),
}

impl StrOrNum {
    fn into_string(self) -> String {
        match self {
            StrOrNum::S(s) => s,
            StrOrNum::N(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct Wire {
    messaging_product: Option<String>,
    recipient_type: Option<String>,
    to: Option<StrOrNum>,
    /// A business-scoped user id; `to` wins when both are given [M:bsuid].
    recipient: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    message_id: Option<String>,
    biz_opaque_callback_data: Option<String>,
    recipient_identity_key_hash: Option<String>,
    text: Option<TextObj>,
    template: Option<TemplateObj>,
    interactive: Option<Value>,
    image: Option<MediaObj>,
    audio: Option<MediaObj>,
    video: Option<MediaObj>,
    document: Option<MediaObj>,
    sticker: Option<MediaObj>,
    reaction: Option<ReactionObj>,
    contacts: Option<Vec<Value>>,
    location: Option<LocationObj>,
}

#[derive(Deserialize)]
struct TextObj {
    body: Option<String>,
}

#[derive(Deserialize)]
struct MediaObj {
    id: Option<StrOrNum>,
    link: Option<String>,
    caption: Option<String>,
}

#[derive(Deserialize)]
struct ReactionObj {
    message_id: Option<String>,
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct LocationObj {
    latitude: Option<StrOrNum>,
    longitude: Option<StrOrNum>,
}

#[derive(Deserialize)]
struct TemplateObj {
    name: Option<String>,
    language: Option<LanguageObj>,
    components: Option<Vec<ComponentObj>>,
}

#[derive(Deserialize)]
struct LanguageObj {
    code: Option<String>,
}

#[derive(Deserialize)]
struct ComponentObj {
    #[serde(rename = "type")]
    kind: Option<String>,
    parameters: Option<Vec<ParamObj>>,
}

#[derive(Deserialize)]
struct ParamObj {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    parameter_name: Option<String>,
    currency: Option<FallbackObj>,
    date_time: Option<FallbackObj>,
}

#[derive(Deserialize)]
struct FallbackObj {
    fallback_value: Option<String>,
}

fn missing(field: &str) -> Rejection {
    Rejection::new(
        ErrorCode::InvalidParameter,
        format!("The parameter {field} is required."),
    )
}

fn invalid(field: &str, why: impl std::fmt::Display) -> Rejection {
    Rejection::new(ErrorCode::ParameterValueInvalid, format!("{field}: {why}"))
}

/// Parses and validates a messages request body: a JSON object, or a form-encoded body (Graph
/// takes `application/x-www-form-urlencoded` posts too, with object parameters such as `text`
/// given as JSON text). The body decides, not `Content-Type`: clients label bodies loosely and
/// Graph reads both. A JSON array is refused: Graph wants an object, and reading the array by
/// position would accept nonsense.
pub fn parse_messages(body: &[u8]) -> Result<MessagesRequest, Rejection> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Err(Rejection::new(
            ErrorCode::InvalidParameter,
            "Request body must be a JSON object (or form fields), not an array.",
        )),
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => parse_json(&form_to_json(body)),
        _ => parse_json(body),
    }
}

/// Parses a `/marketing_messages` body: the `/messages` payload, but only a template
/// (`type` other than `template` → 100 "Message must be a template message.", as observed
/// from Meta through 360dialog), plus `product_policy` (`CLOUD_API_FALLBACK`, the default, or
/// `STRICT`) and `message_activity_sharing` (a boolean, accepted: wabasim shares no activity).
/// Returns the send and the `to`/`recipient` input.
pub fn parse_marketing_messages(body: &[u8]) -> Result<(Outbound, String), Rejection> {
    let form;
    let json: &[u8] = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
            form = form_to_json(body);
            &form
        }
        _ => body,
    };
    let v: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    let template_only = || {
        Rejection::new(
            ErrorCode::InvalidParameter,
            "Message must be a template message.",
        )
    };
    if v.is_object() && (v.get("type").and_then(Value::as_str) != Some("template")) {
        return Err(template_only());
    }
    let strict = match v.get("product_policy") {
        None | Some(Value::Null) => false,
        Some(Value::String(p)) if p == "CLOUD_API_FALLBACK" => false,
        Some(Value::String(p)) if p == "STRICT" => true,
        Some(other) => {
            return Err(invalid(
                "product_policy",
                format!("{other} is not one of CLOUD_API_FALLBACK, STRICT"),
            ))
        }
    };
    match v.get("message_activity_sharing") {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(Value::String(b)) if b == "true" || b == "false" => {}
        Some(other) => {
            return Err(invalid(
                "message_activity_sharing",
                format!("{other} is not a boolean"),
            ))
        }
    }
    match parse_messages(body)? {
        MessagesRequest::Send {
            mut msg,
            input,
            media_id: None,
        } if matches!(msg.content, Content::Template(_)) => {
            msg.channel = Channel::MarketingMessages { strict };
            Ok((msg, input))
        }
        _ => Err(template_only()),
    }
}

/// A form-encoded body as the JSON object it stands for: each field a string, except values
/// that are JSON objects or arrays (`text={"body":"hi"}`), which are taken as such. A repeated
/// field keeps its last value.
fn form_to_json(body: &[u8]) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        let t = v.trim_start();
        let value = if t.starts_with('{') || t.starts_with('[') {
            serde_json::from_str(&v).unwrap_or_else(|_| Value::String(v.into_owned()))
        } else {
            Value::String(v.into_owned())
        };
        obj.insert(k.into_owned(), value);
    }
    serde_json::to_vec(&obj).unwrap_or_default()
}

fn parse_json(body: &[u8]) -> Result<MessagesRequest, Rejection> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let w: Wire = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || path == "." {
            Rejection::new(
                ErrorCode::InvalidParameter,
                format!("Request body is not valid JSON: {inner}"),
            )
        } else {
            Rejection::new(ErrorCode::InvalidParameter, format!("{path}: {inner}"))
        }
    })?;
    match w.messaging_product.as_deref() {
        Some("whatsapp") => {}
        Some(other) => {
            return Err(invalid(
                "messaging_product",
                format!("'{other}' is not supported; use \"whatsapp\""),
            ))
        }
        None => return Err(missing("messaging_product")),
    }
    if let Some(status) = w.status.as_deref() {
        if status != "read" {
            return Err(invalid(
                "status",
                format!("'{status}' is not supported; use \"read\""),
            ));
        }
        let id = w.message_id.ok_or_else(|| missing("message_id"))?;
        return Ok(MessagesRequest::MarkRead { message_id: id });
    }
    match w.recipient_type.as_deref() {
        None | Some("individual") => {}
        Some("group") => {
            return Err(invalid(
                "recipient_type",
                "group messaging is not simulated by wabasim; use \"individual\"",
            ))
        }
        Some(other) => {
            return Err(invalid(
                "recipient_type",
                format!("'{other}' is not one of individual, group"),
            ))
        }
    }
    // Meta: `to` (a phone number) wins over `recipient` (a BSUID) when both are given; the
    // portfolio resolves a BSUID (they are per portfolio), the wire only carries it.
    let (input, to) = match (w.to, w.recipient) {
        (Some(to), _) => {
            let input = to.into_string();
            let wa = WaId::parse_lenient(&input)
                .ok_or_else(|| invalid("to", format!("'{input}' is not a valid phone number")))?;
            (input, Addressee::Phone(wa))
        }
        (None, Some(r)) => {
            let id = Addressee::UserId(r.as_str().into());
            (r, id)
        }
        (None, None) => return Err(missing("to")),
    };
    // Meta's "Send Text Message with Preview URL" example leaves `type` out; default to text.
    let kind = w.kind.as_deref().unwrap_or("text");
    let mut media_id = None;
    let content = match kind {
        "text" => {
            let t = w.text.ok_or_else(|| missing("text"))?;
            let body = t.body.ok_or_else(|| missing("text.body"))?;
            if body.is_empty() {
                return Err(invalid("text.body", "must not be empty"));
            }
            if body.chars().count() > 4096 {
                return Err(invalid("text.body", "at most 4096 characters"));
            }
            Content::FreeForm {
                kind: FreeFormKind::Text,
                text: Some(body),
            }
        }
        "template" => Content::Template(parse_template(w.template.ok_or_else(|| missing("template"))?)?),
        "image" | "audio" | "video" | "document" | "sticker" => {
            let (obj, k) = match kind {
                "image" => (w.image, FreeFormKind::Image),
                "audio" => (w.audio, FreeFormKind::Audio),
                "video" => (w.video, FreeFormKind::Video),
                "document" => (w.document, FreeFormKind::Document),
                _ => (w.sticker, FreeFormKind::Sticker),
            };
            let m = obj.ok_or_else(|| missing(kind))?;
            match (&m.id, &m.link) {
                (Some(_), Some(_)) => {
                    return Err(invalid(kind, "give either id or link, not both"))
                }
                (None, None) => return Err(missing(&format!("{kind}.id or {kind}.link"))),
                (None, Some(link)) => {
                    if !(link.starts_with("https://") || link.starts_with("http://")) {
                        return Err(invalid(
                            &format!("{kind}.link"),
                            format!("'{link}' is not an http(s) URL"),
                        ));
                    }
                }
                (Some(_), None) => {}
            }
            media_id = m.id.map(StrOrNum::into_string);
            Content::FreeForm {
                kind: k,
                text: m.caption,
            }
        }
        "reaction" => {
            let r = w.reaction.ok_or_else(|| missing("reaction"))?;
            let id = r.message_id.ok_or_else(|| missing("reaction.message_id"))?;
            if !id.starts_with("wamid.") {
                return Err(invalid(
                    "reaction.message_id",
                    format!("'{id}' is not a WhatsApp message id (wamid.…)"),
                ));
            }
            if r.emoji.is_none() {
                return Err(missing("reaction.emoji"));
            }
            Content::FreeForm {
                kind: FreeFormKind::Reaction,
                text: None,
            }
        }
        "interactive" => {
            let i = w.interactive.ok_or_else(|| missing("interactive"))?;
            let text = validate_interactive(&i)?;
            Content::FreeForm {
                kind: FreeFormKind::Interactive,
                text,
            }
        }
        "contacts" => {
            let c = w.contacts.ok_or_else(|| missing("contacts"))?;
            if c.is_empty() || c.len() > 5 {
                return Err(invalid("contacts", "must hold 1 to 5 contacts"));
            }
            for (i, contact) in c.iter().enumerate() {
                if contact
                    .pointer("/name/formatted_name")
                    .and_then(Value::as_str)
                    .is_none()
                {
                    return Err(missing(&format!("contacts[{i}].name.formatted_name")));
                }
            }
            Content::FreeForm {
                kind: FreeFormKind::Contacts,
                text: None,
            }
        }
        "location" => {
            let l = w.location.ok_or_else(|| missing("location"))?;
            coordinate("location.latitude", l.latitude, 90.0)?;
            coordinate("location.longitude", l.longitude, 180.0)?;
            Content::FreeForm {
                kind: FreeFormKind::Location,
                text: None,
            }
        }
        other => {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                format!(
                    "type: '{other}' is not one of text, template, interactive, image, audio, video, document, sticker, reaction, contacts, location"
                ),
            ))
        }
    };
    Ok(MessagesRequest::Send {
        msg: Outbound {
            to,
            content,
            biz_opaque_callback_data: w.biz_opaque_callback_data.map(Into::into),
            recipient_identity_key_hash: w.recipient_identity_key_hash.map(Into::into),
            media_unavailable: false,
            channel: Default::default(),
        },
        input,
        media_id,
    })
}

fn coordinate(field: &str, v: Option<StrOrNum>, bound: f64) -> Result<(), Rejection> {
    let v = v.ok_or_else(|| missing(field))?.into_string();
    let x: f64 = v
        .parse()
        .map_err(|_| invalid(field, format!("'{v}' is not a number")))?;
    if !(-bound..=bound).contains(&x) {
        return Err(invalid(field, format!("{x} is outside -{bound}..{bound}")));
    }
    Ok(())
}

fn parse_template(t: TemplateObj) -> Result<TemplateSend, Rejection> {
    let name = t.name.ok_or_else(|| missing("template.name"))?;
    let language = t
        .language
        .ok_or_else(|| missing("template.language"))?
        .code
        .ok_or_else(|| missing("template.language.code"))?;
    let mut send = TemplateSend {
        name,
        language,
        header: Vec::new(),
        body: Vec::new(),
    };
    for (i, c) in t.components.unwrap_or_default().into_iter().enumerate() {
        let kind = c
            .kind
            .ok_or_else(|| missing(&format!("template.components[{i}].type")))?;
        let target = match kind.to_ascii_lowercase().as_str() {
            "header" => &mut send.header,
            "body" => &mut send.body,
            // Button parameters (quick-reply payloads, URL suffixes) are not counted against the
            // body; carousel and limited-time-offer components likewise.
            "button" | "carousel" | "limited_time_offer" | "footer" => continue,
            other => {
                return Err(invalid(
                    &format!("template.components[{i}].type"),
                    format!("'{other}' is not one of header, body, button"),
                ))
            }
        };
        for (j, p) in c.parameters.unwrap_or_default().into_iter().enumerate() {
            let field = format!("template.components[{i}].parameters[{j}]");
            let pk = p.kind.ok_or_else(|| missing(&format!("{field}.type")))?;
            let text = match pk.as_str() {
                "text" => Some(p.text.ok_or_else(|| missing(&format!("{field}.text")))?),
                "currency" => Some(
                    p.currency
                        .and_then(|c| c.fallback_value)
                        .ok_or_else(|| missing(&format!("{field}.currency.fallback_value")))?,
                ),
                "date_time" => Some(
                    p.date_time
                        .and_then(|c| c.fallback_value)
                        .ok_or_else(|| missing(&format!("{field}.date_time.fallback_value")))?,
                ),
                "image" | "video" | "document" | "location" | "payload" | "coupon_code"
                | "action" | "product" => None,
                other => {
                    return Err(invalid(
                        &format!("{field}.type"),
                        format!("'{other}' is not a template parameter type"),
                    ))
                }
            };
            target.push(TemplateParam {
                name: p.parameter_name,
                text,
            });
        }
    }
    Ok(send)
}

/// Validates an interactive object; returns its body text.
fn validate_interactive(i: &Value) -> Result<Option<String>, Rejection> {
    let kind = i
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("interactive.type"))?;
    let body = i.pointer("/body/text").and_then(Value::as_str);
    match kind {
        "button" => {
            let body = body.ok_or_else(|| missing("interactive.body.text"))?;
            let buttons = i
                .pointer("/action/buttons")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("interactive.action.buttons"))?;
            if buttons.is_empty() || buttons.len() > 3 {
                return Err(invalid(
                    "interactive.action.buttons",
                    format!("{} buttons; reply buttons take 1 to 3", buttons.len()),
                ));
            }
            let mut ids = Vec::new();
            for (n, b) in buttons.iter().enumerate() {
                let f = format!("interactive.action.buttons[{n}]");
                let id = b
                    .pointer("/reply/id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing(&format!("{f}.reply.id")))?;
                let title = b
                    .pointer("/reply/title")
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing(&format!("{f}.reply.title")))?;
                if title.chars().count() > 20 {
                    return Err(invalid(&format!("{f}.reply.title"), "at most 20 characters"));
                }
                if ids.contains(&id) {
                    return Err(invalid(&format!("{f}.reply.id"), format!("duplicate id '{id}'")));
                }
                ids.push(id);
            }
            Ok(Some(body.to_string()))
        }
        "list" => {
            let body = body.ok_or_else(|| missing("interactive.body.text"))?;
            let button = i
                .pointer("/action/button")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("interactive.action.button"))?;
            if button.chars().count() > 20 {
                return Err(invalid("interactive.action.button", "at most 20 characters"));
            }
            let sections = i
                .pointer("/action/sections")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("interactive.action.sections"))?;
            if sections.is_empty() || sections.len() > 10 {
                return Err(invalid("interactive.action.sections", "1 to 10 sections"));
            }
            let mut rows_total = 0;
            for (s, sec) in sections.iter().enumerate() {
                let rows = sec
                    .get("rows")
                    .and_then(Value::as_array)
                    .ok_or_else(|| missing(&format!("interactive.action.sections[{s}].rows")))?;
                for (r, row) in rows.iter().enumerate() {
                    let f = format!("interactive.action.sections[{s}].rows[{r}]");
                    row.get("id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| missing(&format!("{f}.id")))?;
                    let title = row
                        .get("title")
                        .and_then(Value::as_str)
                        .ok_or_else(|| missing(&format!("{f}.title")))?;
                    if title.chars().count() > 24 {
                        return Err(invalid(&format!("{f}.title"), "at most 24 characters"));
                    }
                }
                rows_total += rows.len();
            }
            if rows_total == 0 || rows_total > 10 {
                return Err(invalid(
                    "interactive.action.sections",
                    format!("{rows_total} rows in all; a list takes 1 to 10"),
                ));
            }
            Ok(Some(body.to_string()))
        }
        "cta_url" | "product" | "product_list" | "catalog_message" | "flow"
        | "location_request_message" | "address_message" | "call_permission_request" => {
            Ok(body.map(str::to_string))
        }
        other => Err(invalid(
            "interactive.type",
            format!("'{other}' is not one of button, list, cta_url, product, product_list, catalog_message, flow, location_request_message"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> (u32, String) {
        let e = parse_messages(body.as_bytes()).unwrap_err();
        (e.code.code(), e.details)
    }

    #[test]
    fn text_without_type_and_recipient_type_is_accepted() {
        let r = parse_messages(br#"{"messaging_product":"whatsapp","to":"+1 650-555-1234","text":{"body":"hi","preview_url":true}}"#).unwrap();
        match r {
            MessagesRequest::Send { msg, input, .. } => {
                assert_eq!(input, "+1 650-555-1234");
                assert_eq!(msg.to, Addressee::Phone(WaId(16505551234)));
            }
            _ => panic!(),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert!(
            err(r#"{"messaging_product":"whatsapp","to":"1650555","type":"text","text":{}}"#)
                .1
                .contains("text.body")
        );
        assert!(err(
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"text","text":{"body":5}}"#
        )
        .1
        .contains("text.body"));
        assert!(err(r#"{"to":"16505551234","text":{"body":"x"}}"#)
            .1
            .contains("messaging_product"));
        assert!(
            err(r#"{"messaging_product":"whatsapp","to":"abc","text":{"body":"x"}}"#)
                .1
                .starts_with("to:")
        );
        assert!(err(
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"image","image":{}}"#
        )
        .1
        .contains("image.id or image.link"));
        assert!(
            err(r#"{"messaging_product":"whatsapp","to":"16505551234","type":"nope"}"#)
                .1
                .starts_with("type:")
        );
        assert!(err(r#"{"messaging_product":"whatsapp","to":"16505551234","type":"template","template":{"name":"x"}}"#).1.contains("template.language"));
        assert_eq!(err("{not json").0, 100);
    }

    #[test]
    fn interactive_buttons_are_validated() {
        let four = r#"{"messaging_product":"whatsapp","to":"16505551234","type":"interactive","interactive":{"type":"button","body":{"text":"b"},"action":{"buttons":[
            {"type":"reply","reply":{"id":"a","title":"A"}},{"type":"reply","reply":{"id":"b","title":"B"}},
            {"type":"reply","reply":{"id":"c","title":"C"}},{"type":"reply","reply":{"id":"d","title":"D"}}]}}}"#;
        let (code, d) = err(four);
        assert_eq!(code, 131009);
        assert!(d.contains("interactive.action.buttons"), "{d}");
        let ok = r#"{"messaging_product":"whatsapp","to":"16505551234","type":"interactive","interactive":{"type":"list","body":{"text":"b"},"action":{"button":"Pick","sections":[{"title":"s","rows":[{"id":"1","title":"One"}]}]}}}"#;
        assert!(parse_messages(ok.as_bytes()).is_ok());
    }

    #[test]
    fn template_params_positional_named_and_fallbacks() {
        let body = r#"{"messaging_product":"whatsapp","to":"6281300000001","type":"template","template":{"name":"promo","language":{"code":"id"},"components":[
            {"type":"header","parameters":[{"type":"image","image":{"link":"https://x/y.png"}}]},
            {"type":"body","parameters":[{"type":"text","text":"Ayu","parameter_name":"first_name"},{"type":"currency","currency":{"fallback_value":"$1","code":"USD","amount_1000":1000}}]},
            {"type":"button","sub_type":"quick_reply","index":0,"parameters":[{"type":"payload","payload":"stop"}]}]}}"#;
        let MessagesRequest::Send { msg, .. } = parse_messages(body.as_bytes()).unwrap() else {
            panic!()
        };
        let Content::Template(t) = msg.content else {
            panic!()
        };
        assert_eq!(t.header.len(), 1);
        assert_eq!(t.body.len(), 2);
        assert_eq!(t.body[0].name.as_deref(), Some("first_name"));
        assert_eq!(t.body[1].text.as_deref(), Some("$1"));
    }

    #[test]
    fn mark_as_read() {
        let r = parse_messages(br#"{"messaging_product":"whatsapp","status":"read","message_id":"wamid.X","typing_indicator":{"type":"text"}}"#).unwrap();
        assert!(matches!(r, MessagesRequest::MarkRead { .. }));
        assert!(err(r#"{"messaging_product":"whatsapp","status":"read"}"#)
            .1
            .contains("message_id"));
    }

    /// Graph refuses a JSON array as a message instead of reading it by position.
    #[test]
    fn an_array_body_is_refused() {
        let (code, d) = err(r#"["whatsapp","individual","16505551234","text"]"#);
        assert_eq!(code, 100);
        assert!(d.contains("JSON object"), "{d}");
    }

    /// Graph takes form-encoded sends; object parameters come as JSON text.
    #[test]
    fn form_encoded_sends_are_accepted() {
        let body = "messaging_product=whatsapp&to=%2B16505551234&type=text&text=%7B%22body%22%3A%22hi%22%7D";
        let MessagesRequest::Send { msg, input, .. } = parse_messages(body.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(input, "+16505551234");
        assert_eq!(
            msg.content,
            Content::FreeForm {
                kind: FreeFormKind::Text,
                text: Some("hi".into())
            }
        );
        let (code, d) = err("messaging_product=whatsapp&to=16505551234&type=text");
        assert_eq!(code, 100);
        assert!(d.contains("text"), "{d}");
    }

    /// A media message by `id` carries the id out for the server's check; by `link` it has none.
    #[test]
    fn media_ids_are_carried_out() {
        let by_id = r#"{"messaging_product":"whatsapp","to":"16505551234","type":"image","image":{"id":1037000000000001}}"#;
        let MessagesRequest::Send { media_id, .. } = parse_messages(by_id.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(media_id.as_deref(), Some("1037000000000001"));
        let by_link = r#"{"messaging_product":"whatsapp","to":"16505551234","type":"image","image":{"link":"https://x/y.png"}}"#;
        let MessagesRequest::Send { media_id, .. } = parse_messages(by_link.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(media_id, None);
    }
}
