//! Platform error codes: one enum, one place that knows each code's number, title and default
//! HTTP status. The server renders these into the Graph error envelope; webhooks render them into
//! `statuses[].errors[]`.

use serde::Serialize;

/// Generates [`ErrorCode`] and everything known per code from one table, in the manner of
/// quinn-proto's `errors!`: a code's number, title, default details, default HTTP status and
/// retry class sit on one line, so they cannot drift apart across hand-written `match`es.
///
/// Entry syntax: `Variant(code, http_status, transient|permanent) "title" [details "text"];`
/// where the details default to the title.
macro_rules! errors {
    {$(
        $(#[$doc:meta])*
        $name:ident($code:literal, $status:literal, $retry:ident) $title:literal
            $(details $details:literal)?;
    )*} => {
        /// Every error code the engine can produce. Outcomes that happen in normal flow
        /// (throttled, refused by policy) are values of this enum, not Rust errors: they are
        /// cheap and counted.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[repr(u32)]
        pub enum ErrorCode {
            $($(#[$doc])* $name = $code,)*
        }

        impl ErrorCode {
            /// Every code, in the table's order (metrics index their counters by it).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The code for a number, e.g. from a scenario or `POST /_sim/faults`.
            pub fn from_code(code: u32) -> Option<ErrorCode> {
                match code {
                    $($code => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }

            /// The title Meta's error-code table gives (used as "(#code) title" in `message`).
            pub fn title(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $title,)*
                }
            }

            /// The default `error_data.details` when a rule has nothing more specific to say.
            pub fn default_details(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => errors!(@details $title $(, $details)?),)*
                }
            }

            /// Whether a client should retry the same request later unchanged (`is_transient`).
            pub fn is_transient(self) -> bool {
                match self {
                    $(ErrorCode::$name => errors!(@retry $retry),)*
                }
            }

            /// Default HTTP status for a synchronous error with this code.
            ///
            /// Meta's current table gives no HTTP status for Cloud API codes. The table follows
            /// Meta's older error page (kept by a Go client library) and the OAS examples: 401
            /// for auth, 403 for permission and integrity, 429 for throttling, 5xx for server
            /// trouble, 400 for the rest. Operators can override any entry
            /// (`[server.http_status]` in a scenario).
            pub fn default_http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$name => $status,)*
                }
            }
        }
    };
    (@details $title:literal) => { $title };
    (@details $title:literal, $details:literal) => { $details };
    (@retry transient) => { true };
    (@retry permanent) => { false };
}

errors! {
    /// 0: unable to authenticate the app user.
    AuthException(0, 401, permanent) "AuthException";
    /// 1: invalid request or server error.
    ApiUnknown(1, 500, permanent) "An unknown error occurred";
    /// 2: temporary downtime or overload.
    ApiService(2, 503, transient) "Service temporarily unavailable";
    /// 4: the app reached its API call rate limit.
    AppRateLimit(4, 429, transient) "Application request limit reached";
    /// 10: permission not granted or removed.
    PermissionDenied(10, 403, permanent) "Application does not have permission for this action";
    /// 100: invalid parameter; with subcode 33 also "object does not exist".
    InvalidParameter(100, 400, permanent) "Invalid parameter";
    /// 190: access token invalid or expired.
    AccessTokenExpired(190, 401, permanent) "Invalid OAuth access token - Cannot parse access token"
        details "The access token could not be decrypted or is unknown.";
    /// 200: the token has no permission on this object.
    PermissionError(200, 403, permanent) "Permissions error";
    /// 368: temporarily blocked for policy violations.
    PolicyBlocked(368, 403, permanent) "Temporarily blocked for policies violations";
    /// 803: `DELETE /{waba-id}/subscribed_apps` on a WABA the app is not subscribed to (OAS).
    NotSubscribed(803, 404, permanent) "Some of the aliases you requested do not exist"
        details "WhatsApp Business Account not found or not subscribed";
    /// 2500: unknown path components (Graph's answer to an unknown edge).
    UnknownPath(2500, 400, permanent) "Unknown path components";
    /// 80007: the WABA reached its rate limit.
    WabaRateLimit(80007, 429, transient) "Rate limit issues";
    /// 80008: too many calls to the WABAs of a business (its business-level WABA edges).
    WabaTooManyCalls(80008, 429, transient) "Too many calls to this WhatsApp Business account";
    /// 130403: the business blocked this user (Block Users API); do not retry.
    BusinessBlockedUser(130403, 400, permanent) "Business has blocked this user"
        details "The business has blocked this user: unblock them before messaging them.";
    /// 130429: Cloud API message throughput reached.
    ThroughputLimit(130429, 429, transient) "Rate limit hit"
        details "Cloud API message throughput has been reached.";
    /// 131000: something went wrong.
    SomethingWentWrong(131000, 500, permanent) "Something went wrong";
    /// 131005: access denied.
    AccessDenied(131005, 403, permanent) "Access denied";
    /// 131008: a required parameter is missing.
    RequiredParameterMissing(131008, 400, permanent) "Required parameter is missing";
    /// 131009: a parameter value is not valid.
    ParameterValueInvalid(131009, 400, permanent) "Parameter value is not valid";
    /// 131016: service temporarily unavailable.
    ServiceUnavailable(131016, 503, transient) "Service unavailable";
    /// 131021: sender and recipient are the same number.
    RecipientIsSender(131021, 400, permanent) "Recipient cannot be sender";
    /// 131026: message undeliverable (recipient not on WhatsApp, old client, terms not accepted).
    Undeliverable(131026, 400, permanent) "Message Undeliverable.";
    /// 131031: business account locked.
    AccountLocked(131031, 403, permanent) "Business Account locked";
    /// 131047: re-engagement: more than 24 h since the user last wrote.
    ReEngagement(131047, 400, permanent) "Re-engagement message"
        details "Message failed to send because more than 24 hours have passed since the customer last replied to this number.";
    /// 131048: spam rate limit hit.
    SpamRateLimit(131048, 429, permanent) "Spam rate limit hit";
    /// 131049: per-user marketing limit ("healthy ecosystem engagement").
    EcosystemEngagement(131049, 400, permanent) "This message was not delivered to maintain healthy ecosystem engagement."
        details "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.";
    /// 131050: the user stopped marketing messages from this business.
    MarketingOptOut(131050, 400, permanent) "User has stopped marketing messages"
        details "Unable to deliver message. The user has stopped marketing messages from this business.";
    /// 131051: unsupported message type.
    UnsupportedMessageType(131051, 400, permanent) "Message type unknown";
    /// 131053: media in a message could not be processed (unknown, deleted or expired id).
    MediaUpload(131053, 400, permanent) "Media upload error";
    /// 131055: `/marketing_messages` with a non-marketing template, or (STRICT) from a WABA
    /// that has not accepted the Marketing Messages API terms (360dialog's observed responses).
    MarketingMessagesOnly(131055, 400, permanent) "Method not allowed"
        details "Only marketing template messages are supported";
    /// 131056: (business, consumer) pair rate limit hit.
    PairRateLimit(131056, 429, transient) "(Business Account, Consumer Account) pair rate limit hit"
        details "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.";
    /// 131057: account in maintenance mode (e.g. during a throughput upgrade).
    MaintenanceMode(131057, 400, transient) "Account in maintenance mode"
        details "Business Account is in maintenance mode. Try again shortly.";
    /// 131062: the message cannot go to a business-scoped user id (one-tap, zero-tap and
    /// copy-code authentication templates need the phone number) [M:bsuid].
    BsuidUnsupported(131062, 400, permanent) "Business-scoped User ID (BSUID) recipients are not supported for this message.";
    /// 131063: the WABA set `disable_marketing_messages_on_cloud_api`: marketing templates go
    /// through `/marketing_messages` only [M:errors26].
    MarketingDisabledOnCloudApi(131063, 400, permanent) "Marketing messages disabled on Cloud API"
        details "Marketing template messages are disabled on the Cloud API for this WhatsApp Business Account; send them with the Marketing Messages API.";
    /// 131064: messaging limit imposed for template classification violations.
    ClassificationLimit(131064, 400, permanent) "Messaging limit reached due to template classification";
    /// 132000: template parameter count mismatch.
    TemplateParamCount(132000, 400, permanent) "Number of parameters does not match the expected number of params";
    /// 132001: template does not exist in that language (or is not approved).
    TemplateMissing(132001, 400, permanent) "Template name does not exist in the translation";
    /// 132007: template content violates a policy.
    TemplatePolicy(132007, 400, permanent) "Template Format Character Policy Violated";
    /// 132012: template parameter format mismatch.
    TemplateParamFormat(132012, 400, permanent) "Parameter format does not match format in the created template";
    /// 132015: template paused for low quality.
    TemplatePaused(132015, 400, permanent) "Template is Paused"
        details "Template is paused due to low quality so it cannot be sent in a template message.";
    /// 132016: template permanently disabled.
    TemplateDisabled(132016, 400, permanent) "Template is Disabled"
        details "Template has been permanently disabled due to low quality.";
    /// 133005: the two-step verification PIN given to register does not match.
    PinMismatch(133005, 400, permanent) "Two step verification PIN Mismatch";
    /// 133006: the number must be verified (request_code, verify_code) before registering.
    ReverificationNeeded(133006, 400, permanent) "Phone number re-verification needed";
    /// 133010: phone number not registered on the platform.
    NotRegistered(133010, 400, permanent) "Account not registered"
        details "The phone number is not registered on the WhatsApp Business Platform (status is not CONNECTED).";
    /// 133016: more than 10 register/deregister calls for a number in 72 h.
    RegisterRateLimit(133016, 400, permanent) "Account register deregister rate limit exceeded";
    /// 134101: a new (or 7-day idle) template is still syncing to the ad account (about 10 min)
    /// before the Marketing Messages API can send it [M:mm-send; M:errors26].
    TemplateSyncing(134101, 400, transient) "Your template is still syncing"
        details "Your template is still syncing to your ad account; retry in a few minutes.";
    /// 137000: recipient identity key hash mismatch.
    IdentityKeyMismatch(137000, 400, permanent) "Recipient identity key hash mismatch"
        details "The recipient identity key hash does not match the current identity of the user.";
    /// 139100: some or all users of a Block Users request could not be blocked or unblocked.
    BlockUsersFailed(139100, 400, permanent) "Failed to block/unblock users"
        details "Failed to block some users, see the block_users response list for details";
    /// 139101: the number's block list is full (64,000 users).
    BlockListFull(139101, 400, permanent) "Blocklist limit reached"
        details "The block list already holds the maximum of 64,000 users.";
    /// 1752041: `onboard_partners_to_mm_lite` for a business that already accepted the terms.
    DuplicateOnboarding(1752041, 400, permanent) "Duplicate onboarding request"
        details "The business has already accepted the Marketing Messages API terms.";
}

impl ErrorCode {
    /// The numeric code as the Graph API sends it.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// Graph's `type` field. Meta uses `OAuthException` for every code wabasim knows, so it is
    /// not a column of the table.
    pub fn graph_type(self) -> &'static str {
        "OAuthException"
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

    /// `/metrics` lists send outcomes in `ALL`'s order: keeping the table sorted keeps that
    /// output stable when a code is added in its place.
    #[test]
    fn table_is_in_code_order() {
        assert!(ErrorCode::ALL.windows(2).all(|w| w[0].code() < w[1].code()));
    }

    #[test]
    fn details_default_to_the_title() {
        assert_eq!(
            ErrorCode::UnknownPath.default_details(),
            "Unknown path components"
        );
        assert_eq!(
            ErrorCode::ThroughputLimit.default_details(),
            "Cloud API message throughput has been reached."
        );
        assert!(ErrorCode::MaintenanceMode.is_transient());
        assert!(!ErrorCode::SpamRateLimit.is_transient());
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
