//! Graph API handlers other than sending: phone numbers, WABAs, templates, business profiles.
//! Each returns the JSON body of a 200 or the engine's [`Rejection`].

use super::query::Query;
use crate::clock::SimTime;
use crate::engine::errors::ErrorCode;
use crate::engine::ids::{BusinessId, PhoneNumberId, TemplateId, WabaId};
use crate::engine::templates::{Template, TemplateRequest};
use crate::engine::world::{BusinessProfile, ParameterFormat, TemplateCategory, TemplateStatus};
use crate::engine::{Effects, PhoneNumberView, Rejection};
use crate::server::SharedWorld as Engine;
use serde_json::{json, Map, Value};

const PHONE_DEFAULT: &[&str] = &[
    "verified_name",
    "display_phone_number",
    "id",
    "quality_rating",
];

fn fields<'a>(q: &'a Query, default: &[&'a str]) -> Vec<&'a str> {
    match q.get("fields") {
        Some(f) if !f.trim().is_empty() => f
            .split(',')
            .map(|s| s.split('{').next().unwrap_or("").trim())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => default.to_vec(),
    }
}

fn nonexisting_field(field: &str, node: &str) -> Rejection {
    Rejection::new(
        ErrorCode::InvalidParameter,
        format!("Tried accessing nonexisting field ({field}) on node type ({node})"),
    )
}

/// Renders a phone number with the requested fields.
pub fn phone_number_json(
    v: &PhoneNumberView,
    q: &Query,
    default: &[&str],
) -> Result<Value, Rejection> {
    let mut m = Map::new();
    for f in fields(q, default) {
        let val = match f {
            "id" => json!(v.id.to_string()),
            "display_phone_number" => json!(v.display_phone_number),
            "verified_name" => json!(v.verified_name),
            "quality_rating" => json!(v.quality_rating.as_str()),
            "quality_score" => json!({"score": v.quality_rating.as_str()}),
            "status" => json!(v.status.as_str()),
            "throughput" => {
                json!({"level": if v.throughput_mps >= 1000 { "HIGH" } else { "STANDARD" }})
            }
            "messaging_limit_tier" => json!(v.messaging_limit.legacy_str()),
            "whatsapp_business_manager_messaging_limit" => json!(v.messaging_limit.as_str()),
            "name_status" => json!(v.name_status),
            "is_official_business_account" => json!(v.is_official_business_account),
            "code_verification_status" => json!(v.code_verification_status),
            "platform_type" => json!("CLOUD_API"),
            "account_mode" => json!("LIVE"),
            "country_dial_code" => {
                let digits: String = v
                    .display_phone_number
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                json!(crate::pricing::countries::calling_code(&digits))
            }
            "is_pin_enabled" => json!(v.is_pin_enabled),
            "is_on_biz_app" | "is_preverified_number" => json!(false),
            // Real fields the simulation has no value for: Graph leaves out fields without a
            // value, and client libraries (pywa's get_business_phone_number) request them all.
            "conversational_automation"
            | "webhook_configuration"
            | "new_name_status"
            | "search_visibility"
            | "eligibility_for_api_business_global_search"
            | "health_status"
            | "certificate"
            | "new_certificate"
            | "last_onboarded_time"
            | "country_code" => continue,
            other => return Err(nonexisting_field(other, "WhatsAppBusinessPhoneNumber")),
        };
        m.insert(f.to_string(), val);
    }
    m.entry("id").or_insert_with(|| json!(v.id.to_string()));
    Ok(Value::Object(m))
}

/// Parses a JSON request body, answering Graph's 100 when it is not JSON.
fn json_body(body: &[u8]) -> Result<Value, Rejection> {
    serde_json::from_slice(body).map_err(|err| {
        Rejection::new(
            ErrorCode::InvalidParameter,
            format!("Request body is not valid JSON: {err}"),
        )
    })
}

pub fn get_phone_number(
    e: &Engine,
    biz: BusinessId,
    id: PhoneNumberId,
    q: &Query,
) -> Result<Value, Rejection> {
    let v = e.phone_number(biz, id)?;
    phone_number_json(&v, q, PHONE_DEFAULT)
}

/// Cursor paging over a list: the one helper every list uses ([`super::paging::page`]).
fn page(items: Vec<Value>, q: &Query) -> Result<Value, Rejection> {
    super::paging::page(items, q)
}

pub fn get_waba_phone_numbers(
    e: &Engine,
    biz: BusinessId,
    waba: WabaId,
    q: &Query,
) -> Result<Value, Rejection> {
    let nums = e.waba_phone_numbers(biz, waba)?;
    let items = nums
        .iter()
        .map(|v| phone_number_json(v, q, PHONE_DEFAULT))
        .collect::<Result<Vec<_>, _>>()?;
    page(items, q)
}

/// `GET /{waba-id}`: the default fields, or with `fields=` the `id` and the fields asked for;
/// `marketing_messages_onboarding_status` (ONBOARDED or ELIGIBLE [M:mm-onb]) only on request.
pub fn get_waba(e: &Engine, biz: BusinessId, waba: WabaId, q: &Query) -> Result<Value, Rejection> {
    let w = e.waba_view(biz, waba)?;
    let all = json!({
        "id": w.id.to_string(),
        "name": w.name,
        "currency": w.currency,
        "timezone_id": "1",
        "message_template_namespace": format!("wabasim_{}", w.id),
    });
    let Some(fields) = q.get("fields").filter(|f| !f.trim().is_empty()) else {
        return Ok(all);
    };
    let mut m = Map::new();
    m.insert("id".into(), all["id"].clone());
    for f in fields.split(',').map(str::trim) {
        let v = match f {
            "marketing_messages_onboarding_status" => {
                json!(e.marketing_messages_status(biz, waba)?)
            }
            other => match all.get(other) {
                Some(v) => v.clone(),
                None => {
                    return Err(Rejection::new(
                        crate::engine::errors::ErrorCode::InvalidParameter,
                        format!("(#100) Tried accessing nonexisting field ({other}) on node type (WhatsAppBusinessAccount)"),
                    ))
                }
            },
        };
        m.insert(f.into(), v);
    }
    Ok(Value::Object(m))
}

const TEMPLATE_DEFAULT: &[&str] = &[
    "name",
    "parameter_format",
    "components",
    "language",
    "status",
    "category",
    "id",
];

fn template_json(t: &Template, fields: &[&str]) -> Result<Value, Rejection> {
    let mut m = Map::new();
    for f in fields {
        let v = match *f {
            "id" => json!(t.id.to_string()),
            "name" => json!(t.name),
            "language" => json!(t.language),
            "status" => json!(t.status.as_str()),
            "category" => json!(t.category.as_str()),
            "parameter_format" => json!(t.parameter_format.as_str()),
            "components" => t.components.clone(),
            "rejected_reason" => json!(t.rejected_reason.unwrap_or("NONE")),
            // Graph sends the date of the score with it (pywa's QualityScore requires it).
            "quality_score" => json!({"score": "UNKNOWN", "date": t.created_at.unix_secs()}),
            // Real fields without a simulated value are left out, as Graph does (pywa's
            // get_templates requests all of them).
            "correct_category" if t.correct_category.is_some() => {
                json!(t.correct_category.map(TemplateCategory::as_str))
            }
            "previous_category" if t.previous_category.is_some() => {
                json!(t.previous_category.map(TemplateCategory::as_str))
            }
            "previous_category"
            | "message_send_ttl_seconds"
            | "correct_category"
            | "library_template_name"
            | "cta_url_link_tracking_opted_out"
            | "sub_category"
            | "degrees_of_freedom_spec" => continue,
            other => return Err(nonexisting_field(other, "WhatsAppBusinessHSM")),
        };
        m.insert(f.to_string(), v);
    }
    m.entry("id").or_insert_with(|| json!(t.id.to_string()));
    Ok(Value::Object(m))
}

pub fn list_templates(
    e: &Engine,
    biz: BusinessId,
    waba: WabaId,
    q: &Query,
) -> Result<Value, Rejection> {
    let fl = fields(q, TEMPLATE_DEFAULT);
    let name = q.get("name");
    // Filters take one value or a comma-separated list (pywa sends `status=APPROVED,PAUSED`).
    let list = |k: &str| {
        q.get(k)
            .map(|v| v.split(',').map(str::trim).collect::<Vec<_>>())
    };
    let status = match list("status") {
        Some(v) => Some(
            v.iter()
                .map(|s| {
                    TemplateStatus::parse(s).ok_or_else(|| {
                        Rejection::new(
                            ErrorCode::InvalidParameter,
                            format!("status: '{s}' is not a template status"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let category = match list("category") {
        Some(v) => Some(
            v.iter()
                .map(|c| {
                    TemplateCategory::parse(c).ok_or_else(|| {
                        Rejection::new(
                            ErrorCode::InvalidParameter,
                            format!(
                                "category: '{c}' is not one of MARKETING, UTILITY, AUTHENTICATION"
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let language = list("language");
    let all = e.templates(biz, waba)?;
    let items = all
        .iter()
        .filter(|t| name.is_none_or(|n| t.name.contains(n)))
        .filter(|t| status.as_ref().is_none_or(|s| s.contains(&t.status)))
        .filter(|t| category.as_ref().is_none_or(|c| c.contains(&t.category)))
        .filter(|t| {
            language
                .as_ref()
                .is_none_or(|l| l.iter().any(|l| t.language.eq_ignore_ascii_case(l)))
        })
        .map(|t| template_json(t, &fl).map(|v| with_quality(e, t, v)))
        .collect::<Result<Vec<_>, _>>()?;
    let total = items.len();
    let mut out = page(items, q)?;
    // `summary=total_count,...`: aggregate fields, as Graph answers them (pywa's get_templates
    // requests and reads all four).
    if let Some(fields) = q.get("summary") {
        let mut m = Map::new();
        for f in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let v = match f {
                "total_count" => json!(total),
                "message_template_count" => json!(all.len()),
                // Meta's limit for a WABA of an unverified business.
                "message_template_limit" => json!(250),
                "are_translations_complete" => json!(true),
                other => return Err(nonexisting_field(other, "WhatsAppBusinessHSMSummary")),
            };
            m.insert(f.to_string(), v);
        }
        out["summary"] = Value::Object(m);
    }
    Ok(out)
}

pub fn get_template(
    e: &Engine,
    biz: BusinessId,
    id: TemplateId,
    q: &Query,
) -> Result<Value, Rejection> {
    let t = e.template(biz, id)?;
    template_json(&t, &fields(q, TEMPLATE_DEFAULT)).map(|v| with_quality(e, &t, v))
}

/// Fills `quality_score.score` from the template's feedback (UNKNOWN until rated).
fn with_quality(e: &Engine, t: &Template, mut v: Value) -> Value {
    if let Some(q) = v.get_mut("quality_score") {
        let (rating, _) = e.template_quality(t.waba, t.id);
        q["score"] = json!(rating.map_or("UNKNOWN", |r| r.as_str()));
    }
    v
}

pub fn create_template(
    e: &Engine,
    now: SimTime,
    biz: BusinessId,
    waba: WabaId,
    body: &[u8],
    out: &mut Effects,
) -> Result<Value, Rejection> {
    let v = json_body(body)?;
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let missing = |k: &str| {
        Rejection::new(
            ErrorCode::InvalidParameter,
            format!("The parameter {k} is required."),
        )
    };
    let name = s("name").ok_or_else(|| missing("name"))?;
    let language = s("language").ok_or_else(|| missing("language"))?;
    let cat = s("category").ok_or_else(|| missing("category"))?;
    let category = TemplateCategory::parse(cat).ok_or_else(|| {
        Rejection::new(
            ErrorCode::InvalidParameter,
            format!("category: '{cat}' is not one of MARKETING, UTILITY, AUTHENTICATION"),
        )
    })?;
    let parameter_format = match s("parameter_format")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("positional") => ParameterFormat::Positional,
        Some("named") => ParameterFormat::Named,
        Some(other) => {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                format!("parameter_format: '{other}' is not one of positional, named"),
            ))
        }
    };
    let components = v
        .get("components")
        .cloned()
        .ok_or_else(|| missing("components"))?;
    let req = TemplateRequest {
        name: name.to_string(),
        language: language.to_string(),
        category,
        parameter_format,
        components,
    };
    let t = e.create_template(now, biz, waba, &req, out)?;
    Ok(
        json!({"id": t.id.to_string(), "status": t.status.as_str(), "category": t.category.as_str()}),
    )
}

pub fn delete_template(
    e: &Engine,
    biz: BusinessId,
    waba: WabaId,
    q: &Query,
) -> Result<Value, Rejection> {
    let name = q.get("name").ok_or_else(|| {
        Rejection::new(
            ErrorCode::InvalidParameter,
            "The parameter name is required.",
        )
    })?;
    let id = match q.get("hsm_id") {
        Some(h) => Some(h.parse::<TemplateId>().map_err(|_| {
            Rejection::new(
                ErrorCode::InvalidParameter,
                format!("hsm_id: '{h}' is not a template id"),
            )
        })?),
        None => None,
    };
    e.delete_template(biz, waba, name, id)?;
    Ok(json!({"success": true}))
}

const VERTICALS: &[&str] = &[
    "UNDEFINED",
    "OTHER",
    "AUTO",
    "BEAUTY",
    "APPAREL",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GROCERY",
    "GOVT",
    "HOTEL",
    "HEALTH",
    "NONPROFIT",
    "PROF_SERVICES",
    "RETAIL",
    "TRAVEL",
    "RESTAURANT",
    "ALCOHOL",
    "ONLINE_GAMBLING",
    "PHYSICAL_GAMBLING",
    "OTC_DRUGS",
    "NOT_A_BIZ",
];

pub fn get_profile(
    e: &Engine,
    biz: BusinessId,
    id: PhoneNumberId,
    q: &Query,
) -> Result<Value, Rejection> {
    let p = e.business_profile(biz, id)?;
    let mut v = serde_json::to_value(&p).unwrap_or_else(|_| json!({}));
    v["messaging_product"] = json!("whatsapp");
    if let Some(f) = q.get("fields") {
        let keep: Vec<&str> = f.split(',').map(str::trim).collect();
        for k in &keep {
            if ![
                "about",
                "address",
                "description",
                "email",
                "profile_picture_url",
                "websites",
                "vertical",
                "messaging_product",
            ]
            .contains(k)
            {
                return Err(nonexisting_field(k, "WhatsAppBusinessProfile"));
            }
        }
        if let Some(m) = v.as_object_mut() {
            m.retain(|k, _| keep.contains(&k.as_str()) || k == "messaging_product");
        }
    }
    // Meta answers a flat profile object inside `data` (what client libraries read); the OAS
    // wraps it in `business_profile`, which real responses do not.
    Ok(json!({"data": [v]}))
}

pub fn update_profile(
    e: &Engine,
    biz: BusinessId,
    id: PhoneNumberId,
    body: &[u8],
) -> Result<Value, Rejection> {
    let v = json_body(body)?;
    if !v.is_object() {
        return Err(Rejection::new(
            ErrorCode::InvalidParameter,
            "Request body must be a JSON object of profile fields.",
        ));
    }
    let bad = |f: &str, why: &str| {
        Rejection::new(ErrorCode::ParameterValueInvalid, format!("{f}: {why}"))
    };
    let str_field = |k: &str, max: usize| -> Result<Option<String>, Rejection> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(bad(k, &format!("at most {max} characters"))),
            Some(_) => Err(bad(k, "must be a string")),
        }
    };
    let about = str_field("about", 139)?;
    if about.as_deref() == Some("") {
        return Err(bad("about", "must not be empty"));
    }
    let email = str_field("email", 128)?;
    if let Some(em) = &email {
        if !em.contains('@') || em.starts_with('@') || em.ends_with('@') {
            return Err(bad("email", &format!("'{em}' is not an email address")));
        }
    }
    let vertical = str_field("vertical", 64)?;
    if let Some(vv) = &vertical {
        if !VERTICALS.contains(&vv.as_str()) {
            return Err(bad(
                "vertical",
                &format!("'{vv}' is not one of {}", VERTICALS.join(", ")),
            ));
        }
    }
    let websites = match v.get("websites") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => {
            if a.len() > 2 {
                return Err(bad("websites", "at most 2 websites"));
            }
            let mut out = vec![];
            for (i, w) in a.iter().enumerate() {
                let s = w
                    .as_str()
                    .ok_or_else(|| bad(&format!("websites[{i}]"), "must be a string"))?;
                if !(s.starts_with("http://") || s.starts_with("https://")) || s.len() > 256 {
                    return Err(bad(
                        &format!("websites[{i}]"),
                        "must be an http(s) URL of at most 256 characters",
                    ));
                }
                out.push(s.to_string());
            }
            out
        }
        Some(_) => return Err(bad("websites", "must be an array of URLs")),
    };
    let update = BusinessProfile {
        about,
        address: str_field("address", 256)?,
        description: str_field("description", 512)?,
        email,
        profile_picture_url: None,
        websites,
        vertical,
    };
    e.update_business_profile(biz, id, update)?;
    Ok(json!({"success": true}))
}
