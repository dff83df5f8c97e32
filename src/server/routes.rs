//! The server's one routing table: `(method, path)` → the endpoint that answers and the label
//! `/metrics` counts the request under.
//!
//! Every path the server knows is an arm of [`Route::of`], so a new endpoint is one line here
//! and one arm in its door's dispatcher (`graph_route` in `server/mod.rs`, `control::route`).
//! Arms are tried in order; where patterns overlap, the earlier one wins, and the wrong-method
//! arms that follow each node or edge give Graph's answers for them (see [`Graph::Unsupported`]
//! and [`Graph::UnknownPath`]).

use super::metrics::Label;
use super::AppState;
use crate::engine::ids::parse_id;
use crate::engine::ObjectKind;
use hyper::Method;

/// What answers a request. Path segments are carried as text: the handlers parse ids so that a
/// malformed id gets the same error as an unknown one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route<'a> {
    /// `/metrics`: Prometheus text (loopback only, like the control API).
    Metrics,
    /// `/_sim/…`: the control API (loopback only, no token).
    Control(Control<'a>),
    /// Everything else is the Graph API (bearer token first), counted under its label.
    Graph(Label, Graph<'a>),
}

/// Graph API endpoints (`server/mod.rs`, `server/graph.rs`, `server/policy.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Graph<'a> {
    /// `POST /{phone-number-id}/messages`: send, or mark as read.
    SendMessage(&'a str),
    /// `POST /{phone-number-id}/marketing_messages`: the Marketing Messages API.
    SendMarketingMessage(&'a str),
    /// `POST /{business-id}/onboard_partners_to_mm_lite`: accept the Marketing Messages API
    /// terms.
    OnboardMarketingMessages(&'a str),
    /// `GET /{id}`: a phone number, WABA or template, by the id's kind.
    GetObject(&'a str),
    /// `GET /{waba-id}/phone_numbers`.
    ListPhoneNumbers(&'a str),
    /// `GET /{waba-id}/message_templates`.
    ListTemplates(&'a str),
    /// `POST /{waba-id}/message_templates`.
    CreateTemplate(&'a str),
    /// `DELETE /{waba-id}/message_templates`.
    DeleteTemplates(&'a str),
    /// `GET /{phone-number-id}/whatsapp_business_profile`.
    GetProfile(&'a str),
    /// `POST /{phone-number-id}/whatsapp_business_profile`.
    UpdateProfile(&'a str),
    /// `GET /{phone-number-id}/settings`.
    GetSettings(&'a str),
    /// `POST /{phone-number-id}/settings`.
    UpdateSettings(&'a str),
    /// `POST /contacts` (On-Premises style contact checks).
    CheckContacts,
    /// `PUT|POST /contacts/{wa_id}/identity`.
    AcknowledgeIdentity(&'a str),
    /// `POST /{phone-number-id}/media`: upload media (`server/media.rs`).
    UploadMedia(&'a str),
    /// `POST /{phone-number-id}/block_users`: block users (`server/block.rs`).
    BlockUsers(&'a str),
    /// `DELETE /{phone-number-id}/block_users`: unblock users.
    UnblockUsers(&'a str),
    /// `GET /{phone-number-id}/block_users`: the block list.
    ListBlockedUsers(&'a str),
    /// `DELETE /{phone-number-id}/contact_book`: a user out of the contact book.
    DeleteContact(&'a str),
    /// `DELETE /{id}`: media (the only deletable node wabasim keeps).
    DeleteObject(&'a str),
    /// `GET /whatsapp_business/attachments/?mid=…`: download media by the URL `GET /{media-id}`
    /// gave (the mock's stand-in for Meta's lookaside host).
    DownloadMedia,
    /// Onboarding: `debug_token`, WABA lists, `subscribed_apps`, registration (`onboarding.rs`).
    Onboarding(super::onboarding::Onboarding<'a>),
    /// A node or edge Graph knows, with a method it does not take there: Graph answers as for
    /// an object that does not exist ("Unsupported {method} request", 100/33).
    Unsupported(&'a str),
    /// Anything else: Graph's 2500 "Unknown path components".
    UnknownPath,
}

/// How a call is counted ([`Route::usage_scope`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum UsageScope {
    /// A WABA management call, against the WABA in the path (80007 past the budget).
    WabaManagement,
    /// A business-level WABA edge, against the business in the path (80008 past the budget).
    BusinessManagement,
    /// A messaging call (`whatsapp`), against the WABA of the number or template in the path.
    Messaging,
}

/// `/_sim` control API endpoints (`server/control.rs`, `server/policy.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Control<'a> {
    Health,
    State,
    AdvanceClock,
    Inbound,
    /// `POST /_sim/recipients/{wa_id}/actions`.
    RecipientAction(&'a str),
    Events,
    Ledger,
    Faults,
    AddFault,
    ClearFaults,
    Webhooks,
    StatusTable,
    Verticals,
    Businesses,
    Onboard,
    /// `POST /_sim/businesses/{id}/reinstate`.
    Reinstate(&'a str),
    /// `POST /_sim/templates/{id}/recategorise`.
    Recategorise(&'a str),
    /// `POST /_sim/recipients/{wa_id}/reregister`.
    Reregister(&'a str),
    /// `GET /_sim/recipients/{wa_id}/identity`.
    Identity(&'a str),
    /// `GET /_sim/ui`: the dashboard page (`server/ui.rs`).
    Ui,
    /// `GET /_sim/ui/events` when the stream could not be opened (`server::respond` serves it).
    UiEvents,
    /// `GET /_sim/inspect`: one conversation.
    Inspect,
    /// Any other `/_sim` path or method: 404.
    Unknown,
}

impl<'a> Route<'a> {
    /// The routing table. `segs` is the path without the API version; `object_label` labels a
    /// `/{id}` request (the engine knows what the id names, see [`object_label`]).
    pub(super) fn of(
        method: &Method,
        segs: &[&'a str],
        object_label: impl FnOnce(&str) -> Label,
    ) -> Route<'a> {
        use super::onboarding::Onboarding as O;
        use Control as C;
        use Graph as G;
        use Label as L;
        let graph = Route::Graph;
        let control = Route::Control;
        match (method, segs) {
            (_, ["metrics"]) => Route::Metrics,

            (&Method::GET, ["_sim", "health"]) => control(C::Health),
            (&Method::GET, ["_sim", "state"]) => control(C::State),
            (&Method::POST, ["_sim", "clock", "advance"]) => control(C::AdvanceClock),
            (&Method::POST, ["_sim", "inbound"]) => control(C::Inbound),
            (&Method::POST, ["_sim", "recipients", wa_id, "actions"]) => {
                control(C::RecipientAction(wa_id))
            }
            (&Method::POST, ["_sim", "recipients", wa_id, "reregister"]) => {
                control(C::Reregister(wa_id))
            }
            (&Method::GET, ["_sim", "recipients", wa_id, "identity"]) => {
                control(C::Identity(wa_id))
            }
            (&Method::GET, ["_sim", "events"]) => control(C::Events),
            (&Method::GET, ["_sim", "ui"]) => control(C::Ui),
            (&Method::GET, ["_sim", "ui", "events"]) => control(C::UiEvents),
            (&Method::GET, ["_sim", "inspect"]) => control(C::Inspect),
            (&Method::GET, ["_sim", "ledger"]) => control(C::Ledger),
            (&Method::GET, ["_sim", "faults"]) => control(C::Faults),
            (&Method::POST, ["_sim", "faults"]) => control(C::AddFault),
            (&Method::DELETE, ["_sim", "faults"]) => control(C::ClearFaults),
            (&Method::GET, ["_sim", "webhooks"]) => control(C::Webhooks),
            (&Method::GET, ["_sim", "status_table"]) => control(C::StatusTable),
            (&Method::GET, ["_sim", "verticals"]) => control(C::Verticals),
            (&Method::GET, ["_sim", "businesses"]) => control(C::Businesses),
            (&Method::POST, ["_sim", "businesses"]) => control(C::Onboard),
            (&Method::POST, ["_sim", "businesses", id, "reinstate"]) => control(C::Reinstate(id)),
            (&Method::POST, ["_sim", "templates", id, "recategorise"]) => {
                control(C::Recategorise(id))
            }
            (_, ["_sim", ..]) => control(C::Unknown),

            (&Method::POST, [id, "messages"]) => graph(L::Messages, G::SendMessage(id)),
            (_, [id, "messages"]) => graph(L::Messages, G::Unsupported(id)),
            (&Method::POST, [id, "marketing_messages"]) => {
                graph(L::MarketingMessages, G::SendMarketingMessage(id))
            }
            (_, [id, "marketing_messages"]) => graph(L::MarketingMessages, G::Unsupported(id)),
            (&Method::POST, [id, "onboard_partners_to_mm_lite"]) => {
                graph(L::Onboarding, G::OnboardMarketingMessages(id))
            }
            (_, [id, "onboard_partners_to_mm_lite"]) => graph(L::Onboarding, G::Unsupported(id)),
            (&Method::GET, [id, "phone_numbers"]) => {
                graph(L::PhoneNumbers, G::ListPhoneNumbers(id))
            }
            (_, [id, "phone_numbers"]) => graph(L::PhoneNumbers, G::Unsupported(id)),
            (&Method::GET, [id, "message_templates"]) => graph(L::Templates, G::ListTemplates(id)),
            (&Method::POST, [id, "message_templates"]) => {
                graph(L::Templates, G::CreateTemplate(id))
            }
            (&Method::DELETE, [id, "message_templates"]) => {
                graph(L::Templates, G::DeleteTemplates(id))
            }
            (_, [id, "message_templates"]) => graph(L::Templates, G::Unsupported(id)),
            (&Method::GET, [id, "whatsapp_business_profile"]) => {
                graph(L::BusinessProfile, G::GetProfile(id))
            }
            (&Method::POST, [id, "whatsapp_business_profile"]) => {
                graph(L::BusinessProfile, G::UpdateProfile(id))
            }
            (_, [id, "whatsapp_business_profile"]) => graph(L::BusinessProfile, G::Unsupported(id)),
            (&Method::GET, [id, "settings"]) => graph(L::Settings, G::GetSettings(id)),
            (&Method::POST, [id, "settings"]) => graph(L::Settings, G::UpdateSettings(id)),
            (_, [_, "settings"]) => graph(L::Settings, G::UnknownPath),
            (&Method::POST, ["contacts"]) => graph(L::Contacts, G::CheckContacts),
            (&Method::PUT | &Method::POST, ["contacts", wa_id, "identity"]) => {
                graph(L::Contacts, G::AcknowledgeIdentity(wa_id))
            }
            (_, [id @ "contacts"]) => graph(L::Contacts, G::Unsupported(id)),
            (_, ["contacts", ..]) => graph(L::Contacts, G::UnknownPath),
            (&Method::POST, [id, "block_users"]) => graph(L::BlockUsers, G::BlockUsers(id)),
            (&Method::DELETE, [id, "block_users"]) => graph(L::BlockUsers, G::UnblockUsers(id)),
            (&Method::GET, [id, "block_users"]) => graph(L::BlockUsers, G::ListBlockedUsers(id)),
            (_, [id, "block_users"]) => graph(L::BlockUsers, G::Unsupported(id)),
            (&Method::DELETE, [id, "contact_book"]) => graph(L::Contacts, G::DeleteContact(id)),
            (_, [id, "contact_book"]) => graph(L::Contacts, G::Unsupported(id)),
            (&Method::POST, [id, "media"]) => graph(L::Media, G::UploadMedia(id)),
            (_, [id, "media"]) => graph(L::Media, G::Unsupported(id)),
            (&Method::GET, ["whatsapp_business", "attachments"]) => {
                graph(L::Media, G::DownloadMedia)
            }
            (&Method::GET, ["debug_token"]) => graph(L::Onboarding, G::Onboarding(O::DebugToken)),
            (&Method::GET, [id, "owned_whatsapp_business_accounts"]) => {
                graph(L::Onboarding, G::Onboarding(O::OwnedWabas(id)))
            }
            (&Method::GET, [id, "client_whatsapp_business_accounts"]) => {
                graph(L::Onboarding, G::Onboarding(O::ClientWabas(id)))
            }
            (&Method::GET, [id, "parent-bsuid-accounts"]) => {
                graph(L::Onboarding, G::Onboarding(O::ParentBsuidAccounts(id)))
            }
            (&Method::GET, [id, "subscribed_apps"]) => {
                graph(L::Onboarding, G::Onboarding(O::SubscribedApps(id)))
            }
            (&Method::POST, [id, "subscribed_apps"]) => {
                graph(L::Onboarding, G::Onboarding(O::Subscribe(id)))
            }
            (&Method::DELETE, [id, "subscribed_apps"]) => {
                graph(L::Onboarding, G::Onboarding(O::Unsubscribe(id)))
            }
            (&Method::POST, [id, "register"]) => {
                graph(L::Onboarding, G::Onboarding(O::Register(id)))
            }
            (&Method::POST, [id, "deregister"]) => {
                graph(L::Onboarding, G::Onboarding(O::Deregister(id)))
            }
            (&Method::POST, [id, "request_code"]) => {
                graph(L::Onboarding, G::Onboarding(O::RequestCode(id)))
            }
            (&Method::POST, [id, "verify_code"]) => {
                graph(L::Onboarding, G::Onboarding(O::VerifyCode(id)))
            }
            (
                _,
                [id, "owned_whatsapp_business_accounts"
                | "client_whatsapp_business_accounts"
                | "subscribed_apps"
                | "parent-bsuid-accounts"
                | "register"
                | "deregister"
                | "request_code"
                | "verify_code"],
            ) => graph(L::Onboarding, G::Unsupported(id)),
            (&Method::POST, [id]) => graph(object_label(id), G::Onboarding(O::UpdateObject(id))),
            (&Method::GET, [id]) => graph(object_label(id), G::GetObject(id)),
            (&Method::DELETE, [id]) => graph(object_label(id), G::DeleteObject(id)),
            (_, [id]) => graph(object_label(id), G::Unsupported(id)),
            _ => graph(L::Unknown, G::UnknownPath),
        }
    }

    /// The simulator's own doors (`/metrics`, `/_sim`) take no token, so by default only
    /// loopback clients may use them.
    pub(super) fn has_no_auth(&self) -> bool {
        !matches!(self, Route::Graph(..))
    }

    /// The WABA a WABA-management call counts against (Meta's hourly limit, [`super::usage`]):
    /// `GET /{waba-id}` and its `phone_numbers`, `message_templates` and `subscribed_apps` edges.
    pub(super) fn management_waba(&self) -> Option<&'a str> {
        match *self {
            Route::Graph(Label::Waba, Graph::GetObject(id))
            | Route::Graph(
                _,
                Graph::ListPhoneNumbers(id)
                | Graph::ListTemplates(id)
                | Graph::CreateTemplate(id)
                | Graph::DeleteTemplates(id)
                | Graph::Onboarding(
                    super::onboarding::Onboarding::SubscribedApps(id)
                    | super::onboarding::Onboarding::Subscribe(id)
                    | super::onboarding::Onboarding::Unsubscribe(id),
                ),
            ) => Some(id),
            _ => None,
        }
    }

    /// What this call counts against in `X-Business-Use-Case-Usage` ([`super::usage`]): the id
    /// in its path and how that id is counted.
    pub(super) fn usage_scope(&self) -> Option<(&'a str, UsageScope)> {
        use super::onboarding::Onboarding as O;
        if let Some(id) = self.management_waba() {
            return Some((id, UsageScope::WabaManagement));
        }
        match *self {
            Route::Graph(_, Graph::Onboarding(O::OwnedWabas(id) | O::ClientWabas(id))) => {
                Some((id, UsageScope::BusinessManagement))
            }
            Route::Graph(
                _,
                Graph::SendMessage(id)
                | Graph::BlockUsers(id)
                | Graph::UnblockUsers(id)
                | Graph::ListBlockedUsers(id),
            )
            | Route::Graph(
                Label::Template,
                Graph::GetObject(id) | Graph::Onboarding(O::UpdateObject(id)),
            ) => Some((id, UsageScope::Messaging)),
            _ => None,
        }
    }

    /// `GET /_sim/health`: never shed, a busy server is alive.
    pub(super) fn is_health(&self) -> bool {
        matches!(self, Route::Control(Control::Health))
    }

    /// The label `/metrics` counts this request under (and `/_sim/faults` matches).
    pub(super) fn label(&self) -> Label {
        match self {
            Route::Metrics => Label::Metrics,
            Route::Control(_) => Label::Control,
            Route::Graph(label, _) => *label,
        }
    }
}

/// `/{id}` is counted under the kind of object the id names, `unknown` when it names none.
pub(super) fn object_label(state: &AppState, id: &str) -> Label {
    match parse_id(id).and_then(|i| state.engine.kind_of(i)) {
        Some(ObjectKind::PhoneNumber) => Label::PhoneNumber,
        Some(ObjectKind::Waba) => Label::Waba,
        Some(ObjectKind::Template) => Label::Template,
        None if parse_id(id).is_some_and(|i| state.media.lock().contains(i)) => Label::Media,
        None => Label::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route<'a>(method: Method, segs: &[&'a str]) -> Route<'a> {
        Route::of(&method, segs, |_| Label::Waba)
    }

    #[test]
    fn the_simulators_doors_come_first() {
        assert_eq!(route(Method::DELETE, &["metrics"]), Route::Metrics);
        assert_eq!(
            route(Method::POST, &["_sim", "messages"]),
            Route::Control(Control::Unknown)
        );
        let health = route(Method::GET, &["_sim", "health"]);
        assert_eq!(health, Route::Control(Control::Health));
        assert_eq!(health.label(), Label::Control);
        assert!(route(Method::GET, &["_sim"]).has_no_auth());
    }

    /// Wrong methods on known edges are "unsupported" (100/33); on `settings` and unknown edges
    /// they are 2500, as Graph answers.
    #[test]
    fn wrong_methods_get_graphs_answers() {
        assert_eq!(
            route(Method::PATCH, &["1", "messages"]),
            Route::Graph(Label::Messages, Graph::Unsupported("1"))
        );
        assert_eq!(
            route(Method::GET, &["1", "marketing_messages"]),
            Route::Graph(Label::MarketingMessages, Graph::Unsupported("1"))
        );
        assert_eq!(
            route(Method::POST, &["1", "marketing_messages"]),
            Route::Graph(Label::MarketingMessages, Graph::SendMarketingMessage("1"))
        );
        assert_eq!(
            route(Method::POST, &["9", "onboard_partners_to_mm_lite"]),
            Route::Graph(Label::Onboarding, Graph::OnboardMarketingMessages("9"))
        );
        assert_eq!(
            route(Method::DELETE, &["1", "settings"]),
            Route::Graph(Label::Settings, Graph::UnknownPath)
        );
        assert_eq!(
            route(Method::PUT, &["1"]),
            Route::Graph(Label::Waba, Graph::Unsupported("1"))
        );
        assert_eq!(
            route(Method::GET, &["1", "nope"]),
            Route::Graph(Label::Unknown, Graph::UnknownPath)
        );
    }

    /// Overlapping patterns: an edge wins over the `contacts` node, `contacts` over `/{id}`.
    #[test]
    fn overlaps_resolve_in_table_order() {
        assert_eq!(
            route(Method::GET, &["contacts", "settings"]),
            Route::Graph(Label::Settings, Graph::GetSettings("contacts"))
        );
        assert_eq!(
            route(Method::GET, &["contacts"]),
            Route::Graph(Label::Contacts, Graph::Unsupported("contacts"))
        );
        assert_eq!(
            route(Method::GET, &["contacts", "1", "identity"]),
            Route::Graph(Label::Contacts, Graph::UnknownPath)
        );
    }

    /// Onboarding arms: `debug_token` wins over `/{id}`, `POST /{id}` reaches the PIN handler,
    /// and wrong methods on the onboarding edges are "unsupported" (100/33).
    #[test]
    fn onboarding_routes() {
        use super::super::onboarding::Onboarding as O;
        assert_eq!(
            route(Method::GET, &["debug_token"]),
            Route::Graph(Label::Onboarding, Graph::Onboarding(O::DebugToken))
        );
        assert_eq!(
            route(Method::POST, &["1"]),
            Route::Graph(Label::Waba, Graph::Onboarding(O::UpdateObject("1")))
        );
        assert_eq!(
            route(Method::DELETE, &["1", "subscribed_apps"]),
            Route::Graph(Label::Onboarding, Graph::Onboarding(O::Unsubscribe("1")))
        );
        assert_eq!(
            route(Method::GET, &["1", "register"]),
            Route::Graph(Label::Onboarding, Graph::Unsupported("1"))
        );
    }
}
