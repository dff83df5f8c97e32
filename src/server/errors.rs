//! The one place where an engine [`Rejection`] becomes a Graph API error response, and the one
//! place its HTTP status is chosen ([`StatusTable::status_of`]).

use crate::engine::errors::ErrorCode;
use crate::engine::Rejection;
use serde::Serialize;
use std::collections::HashMap;

/// HTTP status per error code: the defaults of [`ErrorCode::default_http_status`] with the
/// operator's overrides on top (`[server.http_status]` in a scenario, e.g. `130429 = 400`).
#[derive(Clone, Debug, Default)]
pub struct StatusTable {
    overrides: HashMap<u32, u16>,
}

impl StatusTable {
    pub fn new(overrides: HashMap<u32, u16>) -> Self {
        StatusTable { overrides }
    }

    /// Adds (or replaces) overrides, e.g. command-line flags over the scenario's table.
    pub fn extend(&mut self, more: impl IntoIterator<Item = (u32, u16)>) {
        self.overrides.extend(more);
    }

    /// The HTTP status of an error answer. Every error response the server sends gets its status
    /// here, so an operator's override reaches every Graph refusal and nothing else.
    pub fn status_of(&self, rule: StatusRule, code: ErrorCode) -> u16 {
        match rule {
            StatusRule::Table => self.status(code),
            StatusRule::BadRequest => 400,
            StatusRule::Forbidden => 403,
            StatusRule::NotFound => 404,
            StatusRule::Conflict => 409,
            StatusRule::TooLarge => 413,
        }
    }

    /// The table's status for a code: its default or the operator's override.
    pub fn status(&self, code: ErrorCode) -> u16 {
        self.overrides
            .get(&code.code())
            .copied()
            .unwrap_or_else(|| code.default_http_status())
    }

    /// The whole table, for documentation (`wabasim serve --print-status-table`) and `/_sim/state`.
    pub fn entries(&self) -> Vec<(u32, u16, &'static str)> {
        ErrorCode::ALL
            .iter()
            .map(|c| (c.code(), self.status(*c), c.title()))
            .collect()
    }
}

/// How the HTTP status of an error answer is chosen. Graph refusals follow the status table; the
/// other rules answer what the platform has no code-specific status for (a body the server
/// cannot take, the `/_sim` control API) and ignore the table, so overrides meant for clients'
/// error handling do not change the simulator's own doors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusRule {
    /// The code's entry in the status table (its default or the operator's override).
    Table,
    /// 400: the body could not be read, or the control API cannot use its input.
    BadRequest,
    /// 403: a door closed to this caller (a remote client of the control API, a business in a
    /// prohibited vertical).
    Forbidden,
    /// 404: a control-API route or object that does not exist.
    NotFound,
    /// 409: the request conflicts with the simulation's state (a wall clock cannot be advanced,
    /// an identity acknowledgement the engine refuses).
    Conflict,
    /// 413: the body is larger than the server accepts.
    TooLarge,
}

/// A failed request: the error to render and the rule that chooses its HTTP status.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub rule: StatusRule,
    pub rejection: Rejection,
}

impl Failure {
    pub fn new(rule: StatusRule, rejection: Rejection) -> Failure {
        Failure { rule, rejection }
    }

    pub fn bad_request(rejection: Rejection) -> Failure {
        Failure::new(StatusRule::BadRequest, rejection)
    }

    pub fn forbidden(rejection: Rejection) -> Failure {
        Failure::new(StatusRule::Forbidden, rejection)
    }

    pub fn not_found(rejection: Rejection) -> Failure {
        Failure::new(StatusRule::NotFound, rejection)
    }

    pub fn conflict(rejection: Rejection) -> Failure {
        Failure::new(StatusRule::Conflict, rejection)
    }
}

/// A refusal answered as the platform would: its status comes from the table.
impl From<Rejection> for Failure {
    fn from(rejection: Rejection) -> Failure {
        Failure::new(StatusRule::Table, rejection)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: GraphError<'a>,
}

#[derive(Serialize)]
struct GraphError<'a> {
    message: String,
    #[serde(rename = "type")]
    kind: &'static str,
    code: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_subcode: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_transient: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_data: Option<ErrorData<'a>>,
    fbtrace_id: &'a str,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    messaging_product: &'static str,
    details: &'a str,
}

/// The request's method as Graph writes it in errors ("get", "post", …).
pub fn method_word(m: &hyper::Method) -> &'static str {
    match *m {
        hyper::Method::GET => "get",
        hyper::Method::POST => "post",
        hyper::Method::DELETE => "delete",
        hyper::Method::PUT => "put",
        hyper::Method::PATCH => "patch",
        hyper::Method::HEAD => "head",
        hyper::Method::OPTIONS => "options",
        _ => "unknown",
    }
}

/// Graph's core codes (100 invalid parameter, 190 token, 2500 unknown path) come from Graph
/// itself, not from the WhatsApp layer, and carry no `error_data`: their message says it all.
fn is_core(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidParameter | ErrorCode::AccessTokenExpired | ErrorCode::UnknownPath
    )
}

/// Renders the Graph error envelope:
/// `{"error":{"message":"(#code) title","type","code","error_subcode"?,"error_data":{"details"}?,"fbtrace_id"}}`.
/// Core codes ([`is_core`]) have no `error_data`: 100 puts the details in its message
/// ("(#100) Param file must be …"), 2500 is "Unknown path components: /foo/bar", 190 is its title.
pub fn render(rej: &Rejection, method: &str, fbtrace_id: &str) -> Vec<u8> {
    let (message, details) = match rej.subcode {
        // Graph's "object does not exist" puts the long explanation, naming the request's
        // method, in the message itself; the core gives the id.
        Some(33) => {
            let text = format!(
                "Unsupported {method} request. Object with ID '{}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                rej.details
            );
            (text.clone(), text)
        }
        _ => match rej.code {
            ErrorCode::UnknownPath => (rej.details.clone(), String::new()),
            ErrorCode::InvalidParameter => (format!("(#100) {}", rej.details), String::new()),
            ErrorCode::AccessTokenExpired => (rej.code.title().to_string(), String::new()),
            _ => (
                format!("(#{}) {}", rej.code.code(), rej.code.title()),
                rej.details.clone(),
            ),
        },
    };
    let env = Envelope {
        error: GraphError {
            message,
            kind: if rej.subcode == Some(33) {
                "GraphMethodException"
            } else {
                rej.code.graph_type()
            },
            code: rej.code.code(),
            error_subcode: rej.subcode,
            is_transient: rej.code.is_transient(),
            error_data: (!is_core(rej.code)).then_some(ErrorData {
                messaging_product: "whatsapp",
                details: &details,
            }),
            fbtrace_id,
        },
    };
    serde_json::to_vec(&env).expect("error envelope serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_graph_fields() {
        let rej = Rejection::new(ErrorCode::ThroughputLimit, "slow down");
        let v: serde_json::Value = serde_json::from_slice(&render(&rej, "post", "Abc")).unwrap();
        assert_eq!(v["error"]["code"], 130429);
        assert_eq!(v["error"]["message"], "(#130429) Rate limit hit");
        assert_eq!(v["error"]["type"], "OAuthException");
        assert_eq!(v["error"]["error_data"]["details"], "slow down");
        assert_eq!(v["error"]["fbtrace_id"], "Abc");
        assert_eq!(v["error"]["is_transient"], true);
        assert!(v["error"].get("error_subcode").is_none());
    }

    /// 100, 190 and 2500 are Graph's own codes: no `error_data`, the message carries the facts.
    #[test]
    fn core_codes_carry_no_error_data() {
        let parse = |rej: &Rejection| -> serde_json::Value {
            serde_json::from_slice(&render(rej, "get", "Abc")).unwrap()
        };
        let v = parse(&Rejection::new(
            ErrorCode::UnknownPath,
            "Unknown path components: /foo/bar",
        ));
        assert_eq!(v["error"]["message"], "Unknown path components: /foo/bar");
        assert_eq!(v["error"]["code"], 2500);
        assert!(v["error"].get("error_data").is_none());
        let v = parse(&Rejection::new(
            ErrorCode::InvalidParameter,
            "The parameter to is required.",
        ));
        assert_eq!(
            v["error"]["message"],
            "(#100) The parameter to is required."
        );
        assert!(v["error"].get("error_data").is_none());
        let v = parse(&Rejection::new(ErrorCode::AccessTokenExpired, "no token"));
        assert_eq!(
            v["error"]["message"],
            "Invalid OAuth access token - Cannot parse access token"
        );
        assert!(v["error"].get("error_data").is_none());
        let v = parse(&Rejection::unknown_object("42"));
        assert!(v["error"]["message"].as_str().unwrap().contains("'42'"));
        assert!(v["error"].get("error_data").is_none());
        assert_eq!(v["error"]["error_subcode"], 33);
    }

    #[test]
    fn overrides_win_over_defaults() {
        let t = StatusTable::new([(130429, 400)].into_iter().collect());
        assert_eq!(t.status(ErrorCode::ThroughputLimit), 400);
        assert_eq!(t.status(ErrorCode::PairRateLimit), 429);
    }

    #[test]
    fn overrides_reach_graph_refusals_only() {
        let t = StatusTable::new([(100, 422)].into_iter().collect());
        let code = ErrorCode::InvalidParameter;
        assert_eq!(t.status_of(StatusRule::Table, code), 422);
        assert_eq!(t.status_of(StatusRule::BadRequest, code), 400);
        assert_eq!(t.status_of(StatusRule::TooLarge, code), 413);
    }
}
