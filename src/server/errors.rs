//! The one place where an engine [`Rejection`] becomes a Graph API error response.

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
    error_data: ErrorData<'a>,
    fbtrace_id: &'a str,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    messaging_product: &'static str,
    details: &'a str,
}

/// Renders the Graph error envelope:
/// `{"error":{"message":"(#code) title","type","code","error_subcode"?,"error_data":{"details"},"fbtrace_id"}}`.
pub fn render(rej: &Rejection, fbtrace_id: &str) -> Vec<u8> {
    let message = match rej.subcode {
        // Graph's "object does not exist" puts the long explanation in the message itself.
        Some(33) => rej.details.clone(),
        _ => format!("(#{}) {}", rej.code.code(), rej.code.title()),
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
            error_data: ErrorData {
                messaging_product: "whatsapp",
                details: &rej.details,
            },
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
        let v: serde_json::Value = serde_json::from_slice(&render(&rej, "Abc")).unwrap();
        assert_eq!(v["error"]["code"], 130429);
        assert_eq!(v["error"]["message"], "(#130429) Rate limit hit");
        assert_eq!(v["error"]["type"], "OAuthException");
        assert_eq!(v["error"]["error_data"]["details"], "slow down");
        assert_eq!(v["error"]["fbtrace_id"], "Abc");
        assert_eq!(v["error"]["is_transient"], true);
        assert!(v["error"].get("error_subcode").is_none());
    }

    #[test]
    fn overrides_win_over_defaults() {
        let t = StatusTable::new([(130429, 400)].into_iter().collect());
        assert_eq!(t.status(ErrorCode::ThroughputLimit), 400);
        assert_eq!(t.status(ErrorCode::PairRateLimit), 429);
    }
}
