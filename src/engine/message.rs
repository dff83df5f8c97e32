//! Outbound messages in domain terms. The server turns the wire JSON into these (validating each
//! message type and naming the offending field); the engine only sees what its rules need.

use super::ids::WaId;
use super::templates::TemplateSend;
use std::sync::Arc;

/// The kinds of free-form (non-template) message. All of them need an open customer service
/// window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeFormKind {
    Text,
    Image,
    Audio,
    Video,
    Document,
    Sticker,
    Interactive,
    Reaction,
    Contacts,
    Location,
}

impl FreeFormKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FreeFormKind::Text => "text",
            FreeFormKind::Image => "image",
            FreeFormKind::Audio => "audio",
            FreeFormKind::Video => "video",
            FreeFormKind::Document => "document",
            FreeFormKind::Sticker => "sticker",
            FreeFormKind::Interactive => "interactive",
            FreeFormKind::Reaction => "reaction",
            FreeFormKind::Contacts => "contacts",
            FreeFormKind::Location => "location",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    Template(TemplateSend),
    FreeForm {
        kind: FreeFormKind,
        /// Text the user will read (body, caption, …), for the content rules.
        text: Option<String>,
    },
}

/// Whom a send names: a phone number (`to`), or a business-scoped user id (`recipient`,
/// kept as given; the portfolio resolves it, since BSUIDs are per portfolio). Either way the
/// core works on the one user behind it.
#[derive(Clone, Debug, PartialEq)]
pub enum Addressee {
    Phone(WaId),
    UserId(Box<str>),
}

/// Which API a send came through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Channel {
    /// `POST /{phone-number-id}/messages`.
    #[default]
    CloudApi,
    /// `POST /{phone-number-id}/marketing_messages` (Marketing Messages API). `strict`:
    /// `product_policy: STRICT`, refused instead of falling back to the Cloud API when the
    /// WABA has not accepted the terms.
    MarketingMessages { strict: bool },
}

/// One message a business asks the platform to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Outbound {
    pub to: Addressee,
    pub content: Content,
    /// Echoed in the status webhooks.
    pub biz_opaque_callback_data: Option<Arc<str>>,
    /// With the identity check enabled, a stale hash makes the message fail with 137000.
    pub recipient_identity_key_hash: Option<Box<str>>,
    /// The message names media the platform cannot use (an unknown, deleted or expired media
    /// id; the door that keeps the media judges it, the engine does no I/O): accepted, then
    /// failed with 131053, as Meta reports media failures in sends.
    pub media_unavailable: bool,
    pub channel: Channel,
}

impl Outbound {
    /// The phone number the send names, if it names one.
    pub fn phone(&self) -> Option<WaId> {
        match self.to {
            Addressee::Phone(w) => Some(w),
            Addressee::UserId(_) => None,
        }
    }

    pub fn text(to: WaId, body: &str) -> Outbound {
        Outbound {
            to: Addressee::Phone(to),
            content: Content::FreeForm {
                kind: FreeFormKind::Text,
                text: Some(body.to_string()),
            },
            biz_opaque_callback_data: None,
            recipient_identity_key_hash: None,
            media_unavailable: false,
            channel: Channel::CloudApi,
        }
    }

    pub fn template(to: WaId, send: TemplateSend) -> Outbound {
        Outbound {
            to: Addressee::Phone(to),
            content: Content::Template(send),
            biz_opaque_callback_data: None,
            recipient_identity_key_hash: None,
            media_unavailable: false,
            channel: Channel::CloudApi,
        }
    }
}
