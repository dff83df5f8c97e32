//! Platform error codes: one enum, one place that knows each code's number, title and default
//! HTTP status. The server renders these into the Graph error envelope; webhooks render them into
//! `statuses[].errors[]`.

use serde::Serialize;

/// Every error code the engine can produce. Outcomes that happen in normal flow (throttled,
/// refused by policy) are values of this enum, not Rust errors: they are cheap and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[repr(u32)]
pub enum ErrorCode {
    /// 0: unable to authenticate the app user.
    AuthException = 0,
    /// 1: invalid request or server error.
    ApiUnknown = 1,
    /// 2: temporary downtime or overload.
    ApiService = 2,
    /// 4: the app reached its API call rate limit.
    AppRateLimit = 4,
    /// 10: permission not granted or removed.
    PermissionDenied = 10,
    /// 100: invalid parameter; with subcode 33 also "object does not exist".
    InvalidParameter = 100,
    /// 190: access token invalid or expired.
    AccessTokenExpired = 190,
    /// 200: the token has no permission on this object.
    PermissionError = 200,
    /// 368: temporarily blocked for policy violations.
    PolicyBlocked = 368,
    /// 2500: unknown path components (Graph's answer to an unknown edge).
    UnknownPath = 2500,
    /// 80007: the WABA reached its rate limit.
    WabaRateLimit = 80007,
    /// 130429: Cloud API message throughput reached.
    ThroughputLimit = 130429,
    /// 131000: something went wrong.
    SomethingWentWrong = 131000,
    /// 131005: access denied.
    AccessDenied = 131005,
    /// 131008: a required parameter is missing.
    RequiredParameterMissing = 131008,
    /// 131009: a parameter value is not valid.
    ParameterValueInvalid = 131009,
    /// 131016: service temporarily unavailable.
    ServiceUnavailable = 131016,
    /// 131021: sender and recipient are the same number.
    RecipientIsSender = 131021,
    /// 131026: message undeliverable (recipient not on WhatsApp, old client, terms not accepted).
    Undeliverable = 131026,
    /// 131031: business account locked.
    AccountLocked = 131031,
    /// 131047: re-engagement: more than 24 h since the user last wrote.
    ReEngagement = 131047,
    /// 131048: spam rate limit hit.
    SpamRateLimit = 131048,
    /// 131049: per-user marketing limit ("healthy ecosystem engagement").
    EcosystemEngagement = 131049,
    /// 131050: the user stopped marketing messages from this business.
    MarketingOptOut = 131050,
    /// 131051: unsupported message type.
    UnsupportedMessageType = 131051,
    /// 131056: (business, consumer) pair rate limit hit.
    PairRateLimit = 131056,
    /// 131057: account in maintenance mode (e.g. during a throughput upgrade).
    MaintenanceMode = 131057,
    /// 131064: messaging limit imposed for template classification violations.
    ClassificationLimit = 131064,
    /// 132000: template parameter count mismatch.
    TemplateParamCount = 132000,
    /// 132001: template does not exist in that language (or is not approved).
    TemplateMissing = 132001,
    /// 132007: template content violates a policy.
    TemplatePolicy = 132007,
    /// 132012: template parameter format mismatch.
    TemplateParamFormat = 132012,
    /// 132015: template paused for low quality.
    TemplatePaused = 132015,
    /// 132016: template permanently disabled.
    TemplateDisabled = 132016,
    /// 133010: phone number not registered on the platform.
    NotRegistered = 133010,
    /// 137000: recipient identity key hash mismatch.
    IdentityKeyMismatch = 137000,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::AuthException,
        ErrorCode::ApiUnknown,
        ErrorCode::ApiService,
        ErrorCode::AppRateLimit,
        ErrorCode::PermissionDenied,
        ErrorCode::InvalidParameter,
        ErrorCode::AccessTokenExpired,
        ErrorCode::PermissionError,
        ErrorCode::PolicyBlocked,
        ErrorCode::UnknownPath,
        ErrorCode::WabaRateLimit,
        ErrorCode::ThroughputLimit,
        ErrorCode::SomethingWentWrong,
        ErrorCode::AccessDenied,
        ErrorCode::RequiredParameterMissing,
        ErrorCode::ParameterValueInvalid,
        ErrorCode::ServiceUnavailable,
        ErrorCode::RecipientIsSender,
        ErrorCode::Undeliverable,
        ErrorCode::AccountLocked,
        ErrorCode::ReEngagement,
        ErrorCode::SpamRateLimit,
        ErrorCode::EcosystemEngagement,
        ErrorCode::MarketingOptOut,
        ErrorCode::UnsupportedMessageType,
        ErrorCode::PairRateLimit,
        ErrorCode::MaintenanceMode,
        ErrorCode::ClassificationLimit,
        ErrorCode::TemplateParamCount,
        ErrorCode::TemplateMissing,
        ErrorCode::TemplatePolicy,
        ErrorCode::TemplateParamFormat,
        ErrorCode::TemplatePaused,
        ErrorCode::TemplateDisabled,
        ErrorCode::NotRegistered,
        ErrorCode::IdentityKeyMismatch,
    ];

    /// The numeric code as the Graph API sends it.
    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn from_code(code: u32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// The title Meta's error-code table gives (used as "(#code) title" in `message`).
    pub fn title(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AuthException => "AuthException",
            ApiUnknown => "An unknown error occurred",
            ApiService => "Service temporarily unavailable",
            AppRateLimit => "Application request limit reached",
            PermissionDenied => "Application does not have permission for this action",
            InvalidParameter => "Invalid parameter",
            AccessTokenExpired => "Invalid OAuth access token - Cannot parse access token",
            PermissionError => "Permissions error",
            PolicyBlocked => "Temporarily blocked for policies violations",
            UnknownPath => "Unknown path components",
            WabaRateLimit => "Rate limit issues",
            ThroughputLimit => "Rate limit hit",
            SomethingWentWrong => "Something went wrong",
            AccessDenied => "Access denied",
            RequiredParameterMissing => "Required parameter is missing",
            ParameterValueInvalid => "Parameter value is not valid",
            ServiceUnavailable => "Service unavailable",
            RecipientIsSender => "Recipient cannot be sender",
            Undeliverable => "Message Undeliverable.",
            AccountLocked => "Business Account locked",
            ReEngagement => "Re-engagement message",
            SpamRateLimit => "Spam rate limit hit",
            EcosystemEngagement => {
                "This message was not delivered to maintain healthy ecosystem engagement."
            }
            MarketingOptOut => "User has stopped marketing messages",
            UnsupportedMessageType => "Message type unknown",
            PairRateLimit => "(Business Account, Consumer Account) pair rate limit hit",
            MaintenanceMode => "Account in maintenance mode",
            ClassificationLimit => "Messaging limit reached due to template classification",
            TemplateParamCount => {
                "Number of parameters does not match the expected number of params"
            }
            TemplateMissing => "Template name does not exist in the translation",
            TemplatePolicy => "Template Format Character Policy Violated",
            TemplateParamFormat => "Parameter format does not match format in the created template",
            TemplatePaused => "Template is Paused",
            TemplateDisabled => "Template is Disabled",
            NotRegistered => "Account not registered",
            IdentityKeyMismatch => "Recipient identity key hash mismatch",
        }
    }

    /// The default `error_data.details` when a rule has nothing more specific to say.
    pub fn default_details(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ThroughputLimit => "Cloud API message throughput has been reached.",
            PairRateLimit => "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
            ReEngagement => "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            Undeliverable => "Message Undeliverable.",
            EcosystemEngagement => "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
            MarketingOptOut => "Unable to deliver message. The user has stopped marketing messages from this business.",
            TemplatePaused => "Template is paused due to low quality so it cannot be sent in a template message.",
            TemplateDisabled => "Template has been permanently disabled due to low quality.",
            MaintenanceMode => "Business Account is in maintenance mode. Try again shortly.",
            NotRegistered => "The phone number is not registered on the WhatsApp Business Platform (status is not CONNECTED).",
            IdentityKeyMismatch => "The recipient identity key hash does not match the current identity of the user.",
            AccessTokenExpired => "The access token could not be decrypted or is unknown.",
            _ => self.title(),
        }
    }

    /// Graph's `type` field. Meta uses `OAuthException` for nearly everything.
    pub fn graph_type(self) -> &'static str {
        "OAuthException"
    }

    /// Whether a client should retry the same request later unchanged (`is_transient`).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCode::ApiService
                | ErrorCode::AppRateLimit
                | ErrorCode::WabaRateLimit
                | ErrorCode::ThroughputLimit
                | ErrorCode::PairRateLimit
                | ErrorCode::ServiceUnavailable
                | ErrorCode::MaintenanceMode
        )
    }

    /// Default HTTP status for a synchronous error with this code.
    ///
    /// Meta's current table gives no HTTP status for Cloud API codes. This follows the table of
    /// Meta's older error page (kept by a Go client library) and the OAS examples: 401 for auth,
    /// 403 for permission and integrity, 429 for throttling, 5xx for server trouble, 400 for the
    /// rest. Operators can override any entry (`[server.http_status]` in a scenario).
    pub fn default_http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            AuthException | AccessTokenExpired => 401,
            PermissionDenied | PermissionError | PolicyBlocked | AccountLocked | AccessDenied => {
                403
            }
            AppRateLimit | WabaRateLimit | ThroughputLimit | SpamRateLimit | PairRateLimit => 429,
            SomethingWentWrong | ApiUnknown => 500,
            ApiService | ServiceUnavailable => 503,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate {}", c.code());
            assert_eq!(ErrorCode::from_code(c.code()), Some(*c));
        }
        assert_eq!(ErrorCode::from_code(42), None);
    }

    #[test]
    fn throttling_is_429_and_auth_is_401() {
        assert_eq!(ErrorCode::ThroughputLimit.default_http_status(), 429);
        assert_eq!(ErrorCode::PairRateLimit.default_http_status(), 429);
        assert_eq!(ErrorCode::AccessTokenExpired.default_http_status(), 401);
        assert_eq!(ErrorCode::ReEngagement.default_http_status(), 400);
        assert_eq!(ErrorCode::PermissionError.default_http_status(), 403);
    }
}
