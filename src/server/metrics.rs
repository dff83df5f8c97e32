//! Prometheus counters for the server, as plain atomics: the hot path does one relaxed
//! increment per counter, no locks, no allocation.

use crate::engine::errors::ErrorCode;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Metric labels of routes: what `/metrics` counts requests under and `/_sim/faults` targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    Messages,
    PhoneNumber,
    PhoneNumbers,
    Waba,
    Templates,
    Template,
    BusinessProfile,
    /// `/{phone-number-id}/settings`.
    Settings,
    /// `/v1/contacts` (On-Premises style contact checks).
    Contacts,
    /// The Media API: `/{phone-number-id}/media`, `/{media-id}`, media downloads.
    Media,
    /// Onboarding: `debug_token`, WABA lists, `subscribed_apps`, register, codes, PIN.
    Onboarding,
    /// The Block Users API: `/{phone-number-id}/block_users`.
    BlockUsers,
    /// The Marketing Messages API: `/{phone-number-id}/marketing_messages`.
    MarketingMessages,
    Control,
    Metrics,
    Unknown,
}

impl Label {
    pub const ALL: [Label; 16] = [
        Label::Messages,
        Label::PhoneNumber,
        Label::PhoneNumbers,
        Label::Waba,
        Label::Templates,
        Label::Template,
        Label::BusinessProfile,
        Label::Settings,
        Label::Contacts,
        Label::Media,
        Label::Onboarding,
        Label::BlockUsers,
        Label::MarketingMessages,
        Label::Control,
        Label::Metrics,
        Label::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Messages => "messages",
            Label::PhoneNumber => "phone_number",
            Label::PhoneNumbers => "phone_numbers",
            Label::Waba => "waba",
            Label::Templates => "message_templates",
            Label::Template => "template",
            Label::BusinessProfile => "whatsapp_business_profile",
            Label::Settings => "settings",
            Label::Contacts => "contacts",
            Label::Media => "media",
            Label::Onboarding => "onboarding",
            Label::BlockUsers => "block_users",
            Label::MarketingMessages => "marketing_messages",
            Label::Control => "control",
            Label::Metrics => "metrics",
            Label::Unknown => "unknown",
        }
    }

    /// Parses a route label as `/_sim/faults` takes it.
    pub fn parse(s: &str) -> Option<Label> {
        Label::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

const STATUSES: [u16; 11] = [200, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503];

pub struct Metrics {
    requests: [[AtomicU64; STATUSES.len() + 1]; Label::ALL.len()],
    accepted: AtomicU64,
    /// Indexed like [`ErrorCode::ALL`].
    rejected: Vec<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Default::default(),
            accepted: AtomicU64::new(0),
            rejected: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Metrics {
    pub fn request(&self, route: Label, status: u16) {
        let r = Label::ALL
            .iter()
            .position(|x| *x == route)
            .unwrap_or(Label::ALL.len() - 1);
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len());
        self.requests[r][s].fetch_add(1, Relaxed);
    }

    pub fn send_accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
    }

    pub fn send_rejected(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.rejected[i].fetch_add(1, Relaxed);
        }
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Relaxed)
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self, webhooks: &crate::webhooks::WebhookStats, timers: usize) -> String {
        let mut o = String::with_capacity(4096);
        o.push_str("# HELP wabasim_http_requests_total HTTP requests by route and status.\n");
        o.push_str("# TYPE wabasim_http_requests_total counter\n");
        for (ri, route) in Label::ALL.iter().enumerate() {
            for (si, n) in self.requests[ri].iter().enumerate() {
                let n = n.load(Relaxed);
                if n == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(si)
                    .map(|s| s.to_string())
                    .unwrap_or("other".into());
                let _ = writeln!(
                    o,
                    "wabasim_http_requests_total{{route=\"{}\",status=\"{}\"}} {}",
                    route.as_str(),
                    status,
                    n
                );
            }
        }
        o.push_str(
            "# HELP wabasim_sends_total Send requests by outcome (accepted, or the error code).\n",
        );
        o.push_str("# TYPE wabasim_sends_total counter\n");
        let _ = writeln!(
            o,
            "wabasim_sends_total{{outcome=\"accepted\"}} {}",
            self.accepted()
        );
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            let n = self.rejected[i].load(Relaxed);
            if n > 0 {
                let _ = writeln!(o, "wabasim_sends_total{{outcome=\"{}\"}} {}", c.code(), n);
            }
        }
        let wh = serde_json::to_value(webhooks).unwrap_or_default();
        o.push_str("# HELP wabasim_webhooks Webhook delivery counters and queue depth.\n");
        o.push_str("# TYPE wabasim_webhooks gauge\n");
        if let Some(map) = wh.as_object() {
            for (k, v) in map {
                if let Some(n) = v.as_u64() {
                    let _ = writeln!(o, "wabasim_webhooks{{kind=\"{k}\"}} {n}");
                }
            }
        }
        o.push_str("# HELP wabasim_engine_timers_pending Scheduled engine events not yet due.\n");
        o.push_str("# TYPE wabasim_engine_timers_pending gauge\n");
        let _ = writeln!(o, "wabasim_engine_timers_pending {timers}");
        o
    }
}
