//! Message templates: their parameters, their lifecycle (review, approval), and the checks a
//! template send must pass (132001, 132000, 132015, 132016).

use super::errors::ErrorCode;
use super::ids::{TemplateId, WabaId};
use super::world::{ParameterFormat, TemplateCategory, TemplateSpec, TemplateStatus};
use crate::clock::SimTime;
use serde_json::{json, Value};

/// The parameters a template text expects.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ParamSpec {
    /// No placeholders.
    #[default]
    None,
    /// `{{1}}` … `{{n}}`: n parameters.
    Positional(usize),
    /// `{{first_name}}` …: these names, in order of first appearance.
    Named(Vec<String>),
}

impl ParamSpec {
    pub fn count(&self) -> usize {
        match self {
            ParamSpec::None => 0,
            ParamSpec::Positional(n) => *n,
            ParamSpec::Named(v) => v.len(),
        }
    }
}

/// Reads the placeholders of a template text. Positional placeholders count up to the highest
/// index (Meta requires them to be sequential); anything else between braces is a name.
pub fn parse_placeholders(text: &str) -> Result<ParamSpec, String> {
    let mut max_pos = 0usize;
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("unclosed '{{' placeholder".into());
        };
        let inner = after[..end].trim();
        if inner.is_empty() {
            return Err("empty '{{}}' placeholder".into());
        }
        if inner.bytes().all(|b| b.is_ascii_digit()) {
            let n: usize = inner.parse().map_err(|_| format!("bad index {inner}"))?;
            if n == 0 {
                return Err("positional placeholders start at {{1}}".into());
            }
            max_pos = max_pos.max(n);
        } else if inner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            if !names.iter().any(|n| n == inner) {
                names.push(inner.to_string());
            }
        } else {
            return Err(format!(
                "placeholder '{{{{{inner}}}}}' must be a number or a lowercase name"
            ));
        }
        rest = &after[end + 2..];
    }
    match (max_pos, names.is_empty()) {
        (0, true) => Ok(ParamSpec::None),
        (n, true) => Ok(ParamSpec::Positional(n)),
        (0, false) => Ok(ParamSpec::Named(names)),
        _ => Err("a template cannot mix positional and named placeholders".into()),
    }
}

/// A template in a WABA.
#[derive(Clone, Debug)]
pub struct Template {
    pub id: TemplateId,
    pub waba: WabaId,
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    pub status: TemplateStatus,
    pub parameter_format: ParameterFormat,
    /// Components in the Graph shape, echoed by `GET message_templates`.
    pub components: Value,
    pub header_text: Option<String>,
    pub body_text: String,
    pub header_params: ParamSpec,
    pub body_params: ParamSpec,
    /// Why a review rejected it (`rejected_reason` on the API).
    pub rejected_reason: Option<&'static str>,
    pub created_at: SimTime,
    /// The category Meta announced it will change to (`correct_category`), until it does.
    pub correct_category: Option<TemplateCategory>,
    /// The category before Meta's last change (`previous_category`).
    pub previous_category: Option<TemplateCategory>,
    /// Marketing Messages API: synced to the ad account from this instant [M:mm-send].
    pub mm_synced_at: SimTime,
    /// Marketing Messages API: the last send through it (or the sync); idle for more than
    /// 7 days, the template syncs again.
    pub mm_last_sent: SimTime,
}

impl Template {
    /// Builds a template from a scenario declaration.
    pub fn from_spec(
        spec: &TemplateSpec,
        id: TemplateId,
        waba: WabaId,
        now: SimTime,
    ) -> Result<Template, String> {
        let body_params = parse_placeholders(&spec.body).map_err(|e| format!("body: {e}"))?;
        let header_params = match &spec.header {
            Some(h) => parse_placeholders(h).map_err(|e| format!("header: {e}"))?,
            None => ParamSpec::None,
        };
        check_format(spec.parameter_format, &body_params).map_err(|e| format!("body: {e}"))?;
        let mut components = Vec::new();
        if let Some(h) = &spec.header {
            components.push(json!({"type": "HEADER", "format": "TEXT", "text": h}));
        }
        let mut body = json!({"type": "BODY", "text": spec.body});
        match &body_params {
            ParamSpec::Positional(n) => {
                let ex: Vec<String> = (1..=*n).map(|i| format!("example {i}")).collect();
                body["example"] = json!({"body_text": [ex]});
            }
            ParamSpec::Named(names) => {
                let ex: Vec<Value> = names
                    .iter()
                    .map(|n| json!({"param_name": n, "example": format!("example {n}")}))
                    .collect();
                body["example"] = json!({"body_text_named_params": ex});
            }
            ParamSpec::None => {}
        }
        components.push(body);
        if let Some(f) = &spec.footer {
            components.push(json!({"type": "FOOTER", "text": f}));
        }
        if !spec.quick_replies.is_empty() {
            let buttons: Vec<Value> = spec
                .quick_replies
                .iter()
                .map(|t| json!({"type": "QUICK_REPLY", "text": t}))
                .collect();
            components.push(json!({"type": "BUTTONS", "buttons": buttons}));
        }
        Ok(Template {
            id,
            waba,
            name: spec.name.clone(),
            language: spec.language.clone(),
            category: spec.category,
            status: spec.status,
            parameter_format: spec.parameter_format,
            components: Value::Array(components),
            header_text: spec.header.clone(),
            body_text: spec.body.clone(),
            header_params,
            body_params,
            rejected_reason: None,
            created_at: now,
            mm_synced_at: now,
            mm_last_sent: now,
            correct_category: None,
            previous_category: None,
        })
    }

    /// Builds a template from a `POST message_templates` request (already parsed into its
    /// parts by the server). Errors name the offending field.
    pub fn from_request(
        req: &TemplateRequest,
        id: TemplateId,
        waba: WabaId,
        now: SimTime,
    ) -> Result<Template, (ErrorCode, String)> {
        let bad = |msg: String| (ErrorCode::InvalidParameter, msg);
        if req.name.is_empty()
            || req.name.len() > 512
            || !req
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(bad(format!(
                "name: '{}' must be 1 to 512 lowercase letters, digits or underscores",
                req.name
            )));
        }
        if req.language.is_empty() {
            return Err(bad("language: required (e.g. \"en_US\")".into()));
        }
        let comps = req
            .components
            .as_array()
            .ok_or_else(|| bad("components: must be an array".into()))?;
        let mut header_text = None;
        let mut body_text = None;
        for (i, c) in comps.iter().enumerate() {
            let kind = c
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("components[{i}].type: required")))?;
            match kind.to_ascii_uppercase().as_str() {
                "HEADER" => {
                    let format = c.get("format").and_then(Value::as_str).unwrap_or("TEXT");
                    if format.eq_ignore_ascii_case("TEXT") {
                        let t = c.get("text").and_then(Value::as_str).ok_or_else(|| {
                            bad(format!("components[{i}].text: required for a TEXT header"))
                        })?;
                        if t.chars().count() > 60 {
                            return Err(bad(format!(
                                "components[{i}].text: a header has at most 60 characters"
                            )));
                        }
                        header_text = Some(t.to_string());
                    }
                }
                "BODY" => {
                    let t = c
                        .get("text")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(format!("components[{i}].text: required for BODY")))?;
                    if t.chars().count() > 1024 {
                        return Err(bad(format!(
                            "components[{i}].text: a body has at most 1024 characters"
                        )));
                    }
                    body_text = Some(t.to_string());
                }
                "FOOTER"
                | "BUTTONS"
                | "CAROUSEL"
                | "LIMITED_TIME_OFFER"
                | "CALL_PERMISSION_REQUEST" => {}
                other => {
                    return Err(bad(format!(
                    "components[{i}].type: '{other}' is not one of HEADER, BODY, FOOTER, BUTTONS"
                )))
                }
            }
        }
        // Authentication templates carry Meta's fixed body; the request may omit it.
        let body_text = match (body_text, req.category) {
            (Some(b), _) => b,
            (None, TemplateCategory::Authentication) => {
                "{{1}} is your verification code.".to_string()
            }
            (None, _) => return Err(bad("components: a BODY component is required".into())),
        };
        let body_params = parse_placeholders(&body_text).map_err(|e| {
            (
                ErrorCode::InvalidParameter,
                format!("components.BODY.text: {e}"),
            )
        })?;
        check_format(req.parameter_format, &body_params).map_err(|e| {
            (
                ErrorCode::InvalidParameter,
                format!("parameter_format: {e}"),
            )
        })?;
        let header_params = match &header_text {
            Some(h) => parse_placeholders(h).map_err(|e| {
                (
                    ErrorCode::InvalidParameter,
                    format!("components.HEADER.text: {e}"),
                )
            })?,
            None => ParamSpec::None,
        };
        Ok(Template {
            id,
            waba,
            name: req.name.clone(),
            language: req.language.clone(),
            category: req.category,
            status: TemplateStatus::Pending,
            parameter_format: req.parameter_format,
            components: req.components.clone(),
            header_text,
            body_text,
            header_params,
            body_params,
            rejected_reason: None,
            created_at: now,
            mm_synced_at: now.plus(super::marketing_messages::SYNC),
            mm_last_sent: now.plus(super::marketing_messages::SYNC),
            correct_category: None,
            previous_category: None,
        })
    }

    /// Checks the parameters of a send against this template.
    pub fn check_send(&self, send: &TemplateSend) -> Result<(), (ErrorCode, String)> {
        check_params("header", &self.header_params, &send.header)?;
        check_params("body", &self.body_params, &send.body)
    }
}

fn check_format(format: ParameterFormat, params: &ParamSpec) -> Result<(), String> {
    match (format, params) {
        (ParameterFormat::Positional, ParamSpec::Named(_)) => {
            Err("named placeholders need parameter_format \"named\"".into())
        }
        (ParameterFormat::Named, ParamSpec::Positional(_)) => {
            Err("positional placeholders need parameter_format \"positional\"".into())
        }
        _ => Ok(()),
    }
}

fn check_params(
    component: &str,
    expected: &ParamSpec,
    given: &[TemplateParam],
) -> Result<(), (ErrorCode, String)> {
    if given.len() != expected.count() {
        return Err((
            ErrorCode::TemplateParamCount,
            format!(
                "{component}: number of localizable_params ({}) does not match the expected number of params ({})",
                given.len(),
                expected.count()
            ),
        ));
    }
    if let ParamSpec::Named(names) = expected {
        for name in names {
            if !given
                .iter()
                .any(|p| p.name.as_deref() == Some(name.as_str()))
            {
                return Err((
                    ErrorCode::TemplateParamFormat,
                    format!("{component}: parameter_name '{name}' is missing"),
                ));
            }
        }
    }
    Ok(())
}

/// A `POST message_templates` request, in domain terms.
#[derive(Clone, Debug)]
pub struct TemplateRequest {
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    pub parameter_format: ParameterFormat,
    pub components: Value,
}

/// One parameter of a template send.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TemplateParam {
    /// `parameter_name` for named templates.
    pub name: Option<String>,
    /// The text the user will see (text, or the fallback of currency/date_time; media have none).
    pub text: Option<String>,
}

/// The template part of a send request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TemplateSend {
    pub name: String,
    pub language: String,
    pub header: Vec<TemplateParam>,
    pub body: Vec<TemplateParam>,
}

/// Up to this many templates, [`TemplateBook::find`] scans instead of hashing.
const SCAN_BELOW: usize = 16;

/// The templates of one WABA, indexed by name.
#[derive(Debug, Default)]
pub struct TemplateBook {
    pub templates: Vec<Template>,
    by_name: rustc_hash::FxHashMap<Box<str>, Vec<usize>>,
}

/// Why a template send was refused.
#[derive(Debug)]
pub enum Lookup<'a> {
    Found(&'a Template),
    /// No template with that name in any language.
    NoSuchName,
    /// The name exists, but not in this language.
    NoSuchLanguage,
}

impl TemplateBook {
    /// Distinct template names (translations of a name count once, as Meta's cap counts).
    pub fn name_count(&self) -> usize {
        self.by_name.len()
    }

    pub fn has_name(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn insert(&mut self, t: Template) {
        let idx = self.templates.len();
        self.by_name
            .entry(t.name.as_str().into())
            .or_default()
            .push(idx);
        self.templates.push(t);
    }

    pub fn find(&self, name: &str, language: &str) -> Lookup<'_> {
        // A WABA usually has a handful of templates: comparing names (mostly a length check)
        // is cheaper than hashing one, and this runs on every template send.
        if self.templates.len() <= SCAN_BELOW {
            let mut named = false;
            for t in &self.templates {
                if t.name == name {
                    if t.language.eq_ignore_ascii_case(language) {
                        return Lookup::Found(t);
                    }
                    named = true;
                }
            }
            return if named {
                Lookup::NoSuchLanguage
            } else {
                Lookup::NoSuchName
            };
        }
        match self.by_name.get(name) {
            None => Lookup::NoSuchName,
            Some(ids) => ids
                .iter()
                .map(|i| &self.templates[*i])
                .find(|t| t.language.eq_ignore_ascii_case(language))
                .map(Lookup::Found)
                .unwrap_or(Lookup::NoSuchLanguage),
        }
    }

    pub fn get(&self, id: TemplateId) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id)
    }

    pub fn get_mut(&mut self, id: TemplateId) -> Option<&mut Template> {
        self.templates.iter_mut().find(|t| t.id == id)
    }

    /// Removes templates matching `name` (all languages) and optionally one id. Returns how
    /// many were removed.
    pub fn remove(&mut self, name: &str, id: Option<TemplateId>) -> usize {
        let before = self.templates.len();
        self.templates
            .retain(|t| !(t.name == name && id.is_none_or(|id| t.id == id)));
        let removed = before - self.templates.len();
        if removed > 0 {
            self.by_name.clear();
            for (i, t) in self.templates.iter().enumerate() {
                self.by_name
                    .entry(t.name.as_str().into())
                    .or_default()
                    .push(i);
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(body: &str, format: ParameterFormat) -> TemplateSpec {
        TemplateSpec {
            parameter_format: format,
            ..TemplateSpec::new("t", "en_US", TemplateCategory::Marketing, body)
        }
    }

    fn text(s: &str) -> TemplateParam {
        TemplateParam {
            name: None,
            text: Some(s.into()),
        }
    }

    #[test]
    fn placeholders_positional_and_named() {
        assert_eq!(parse_placeholders("Hi").unwrap(), ParamSpec::None);
        assert_eq!(
            parse_placeholders("Hi {{1}}, your {{2}} and {{1}}").unwrap(),
            ParamSpec::Positional(2)
        );
        assert_eq!(
            parse_placeholders("Hi {{first_name}} {{ order_id }}").unwrap(),
            ParamSpec::Named(vec!["first_name".into(), "order_id".into()])
        );
        assert!(parse_placeholders("Hi {{1}} {{name}}").is_err());
        assert!(parse_placeholders("Hi {{1").is_err());
        assert!(parse_placeholders("Hi {{0}}").is_err());
    }

    #[test]
    fn send_with_wrong_count_is_132000_and_right_count_passes() {
        let t = Template::from_spec(
            &spec("Halo {{1}}, diskon {{2}}", ParameterFormat::Positional),
            TemplateId(1),
            WabaId(1),
            SimTime::ZERO,
        )
        .unwrap();
        let mut send = TemplateSend {
            body: vec![text("Ayu")],
            ..Default::default()
        };
        let err = t.check_send(&send).unwrap_err();
        assert_eq!(err.0, ErrorCode::TemplateParamCount);
        assert!(err.1.contains("(1)") && err.1.contains("(2)"), "{}", err.1);
        send.body.push(text("20%"));
        assert!(t.check_send(&send).is_ok());
    }

    #[test]
    fn named_send_needs_the_names() {
        let t = Template::from_spec(
            &spec("Hi {{first_name}}", ParameterFormat::Named),
            TemplateId(1),
            WabaId(1),
            SimTime::ZERO,
        )
        .unwrap();
        let wrong = TemplateSend {
            body: vec![TemplateParam {
                name: Some("last_name".into()),
                text: Some("x".into()),
            }],
            ..Default::default()
        };
        assert_eq!(
            t.check_send(&wrong).unwrap_err().0,
            ErrorCode::TemplateParamFormat
        );
        let right = TemplateSend {
            body: vec![TemplateParam {
                name: Some("first_name".into()),
                text: Some("x".into()),
            }],
            ..Default::default()
        };
        assert!(t.check_send(&right).is_ok());
    }

    #[test]
    fn book_lookup_distinguishes_name_and_language() {
        let mut b = TemplateBook::default();
        b.insert(
            Template::from_spec(
                &spec("x", ParameterFormat::Positional),
                TemplateId(5),
                WabaId(1),
                SimTime::ZERO,
            )
            .unwrap(),
        );
        assert!(matches!(b.find("t", "en_US"), Lookup::Found(_)));
        assert!(matches!(b.find("t", "en_us"), Lookup::Found(_)));
        assert!(matches!(b.find("t", "id"), Lookup::NoSuchLanguage));
        assert!(matches!(b.find("u", "en_US"), Lookup::NoSuchName));
        assert_eq!(b.remove("t", Some(TemplateId(6))), 0);
        assert_eq!(b.remove("t", None), 1);
        assert!(matches!(b.find("t", "en_US"), Lookup::NoSuchName));
    }

    /// The scan of a small book and the index of a large one give the same answers.
    #[test]
    fn small_and_large_books_find_alike() {
        let book = |n: usize| {
            let mut b = TemplateBook::default();
            for i in 0..n {
                let mut sp = spec("x", ParameterFormat::Positional);
                // The large book's extra templates have names the questions never ask for.
                sp.name = if i < SCAN_BELOW {
                    format!("t{}", i % 5)
                } else {
                    format!("z{i}")
                };
                sp.language = ["en_US", "id", "pt_BR"][i % 3].into();
                b.insert(
                    Template::from_spec(&sp, TemplateId(i as u64 + 1), WabaId(1), SimTime::ZERO)
                        .unwrap(),
                );
            }
            b
        };
        let (small, large) = (book(SCAN_BELOW), book(SCAN_BELOW * 4));
        let ask = |b: &TemplateBook, name: &str, lang: &str| match b.find(name, lang) {
            Lookup::Found(t) => format!("found {}", t.id.0),
            Lookup::NoSuchName => "no name".to_string(),
            Lookup::NoSuchLanguage => "no language".to_string(),
        };
        for name in ["t0", "t1", "t4", "t9", "t", ""] {
            for lang in ["en_US", "EN_us", "id", "pt_BR", "fr"] {
                assert_eq!(
                    ask(&small, name, lang),
                    ask(&large, name, lang),
                    "{name} {lang}"
                );
            }
        }
        // t0 is templates 0, 5, 10, 15: en_US, pt_BR, id, en_US; the first match wins.
        assert_eq!(ask(&small, "t0", "en_us"), "found 1");
        assert_eq!(ask(&small, "t0", "id"), "found 11");
        assert_eq!(ask(&small, "t0", "fr"), "no language");
        assert_eq!(ask(&small, "t9", "id"), "no name");
    }

    #[test]
    fn request_validation_names_fields() {
        let req = TemplateRequest {
            name: "Bad Name".into(),
            language: "en_US".into(),
            category: TemplateCategory::Utility,
            parameter_format: ParameterFormat::Positional,
            components: json!([{"type": "BODY", "text": "x"}]),
        };
        let e = Template::from_request(&req, TemplateId(1), WabaId(1), SimTime::ZERO).unwrap_err();
        assert!(e.1.starts_with("name:"), "{}", e.1);
        let req = TemplateRequest {
            name: "ok".into(),
            components: json!([{"type": "FOOTER", "text": "x"}]),
            ..req
        };
        let e = Template::from_request(&req, TemplateId(1), WabaId(1), SimTime::ZERO).unwrap_err();
        assert!(e.1.contains("BODY"), "{}", e.1);
        let req = TemplateRequest {
            components: json!([{"type": "body", "text": "Order {{1}} shipped"}]),
            ..req
        };
        let t = Template::from_request(&req, TemplateId(1), WabaId(1), SimTime::ZERO).unwrap();
        assert_eq!(t.status, TemplateStatus::Pending);
        assert_eq!(t.body_params, ParamSpec::Positional(1));
    }
}
