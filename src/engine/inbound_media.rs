//! Media that simulated users send in: an image or a document attached to an inbound message.
//!
//! The engine only decides, from a hash of the seed, the number and the message, that a
//! message carries media, of which kind and size, and under which media id
//! ([`Audience::inbound_media`](super::audience::Audience::inbound_media)). The bytes are a pure
//! function of that decision ([`InboundMedia::bytes`]): the server door puts them in its media
//! store so the id downloads through the Media API, and the webhook's `sha256` is computed
//! from the same function, so both agree without the engine holding any content.
//!
//! Meta: media ids received in webhooks can be downloaded for 7 days; after that `GET` answers
//! 100/33 (cloud-api-2026.md §1.6 and §10 item 5). Webhooks carry `id`, `mime_type`,
//! `sha256` (base64), `caption`, and for documents `filename` (§1.8).

use super::ids::{BusinessId, PhoneNumberId};
use crate::clock::MICROS_PER_DAY;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Meta keeps media received in webhooks downloadable for 7 days [M:media].
pub const RETENTION_MICROS: u64 = 7 * MICROS_PER_DAY;

/// Inbound media ids: 16 digits from here, apart from the ids of uploads (which count up from
/// 1,037,000,000,000,001) and of the world's objects (15 digits in the shipped scenarios).
const FIRST_ID: u64 = 1_100_000_000_000_000;
const ID_SPAN: u64 = 100_000_000_000_000;

/// What a user attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InboundMediaKind {
    Image,
    Document,
}

impl InboundMediaKind {
    /// The webhook's `type` and the key of its media object.
    pub fn as_str(self) -> &'static str {
        match self {
            InboundMediaKind::Image => "image",
            InboundMediaKind::Document => "document",
        }
    }
}

/// The media of one inbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundMedia {
    pub id: u64,
    pub kind: InboundMediaKind,
    /// Bytes of the file (our default sizes: 16–96 KiB images, 32–256 KiB documents, well
    /// under Meta's 5 MB and 100 MB limits, so a day of inbound traffic fits the media store).
    pub size: u32,
    /// The business whose number received it: only its token may download it.
    pub owner: BusinessId,
    pub phone: PhoneNumberId,
}

impl InboundMedia {
    /// Decides the media of a message from the hash `h` (below the audience's threshold).
    pub(super) fn from_hash(h: u64, owner: BusinessId, phone: PhoneNumberId) -> InboundMedia {
        let h2 = super::audience::splitmix(h);
        let (kind, lo, span) = if h2 & 1 == 0 {
            (InboundMediaKind::Image, 16 << 10, 80 << 10)
        } else {
            (InboundMediaKind::Document, 32 << 10, 224 << 10)
        };
        InboundMedia {
            id: FIRST_ID + super::audience::splitmix(h2) % ID_SPAN,
            kind,
            size: lo + ((h2 >> 8) % (span + 1)) as u32,
            owner,
            phone,
        }
    }

    pub fn mime(&self) -> &'static str {
        match self.kind {
            InboundMediaKind::Image => "image/jpeg",
            InboundMediaKind::Document => "application/pdf",
        }
    }

    /// A document's `filename` in the webhook.
    pub fn filename(&self) -> String {
        format!("document-{}.pdf", self.id)
    }

    /// The file: the type's magic bytes, then a stream drawn from the id. Deterministic, so
    /// the server's copy and the webhook's `sha256` agree.
    pub fn bytes(&self) -> Vec<u8> {
        let magic: &[u8] = match self.kind {
            InboundMediaKind::Image => &[0xFF, 0xD8, 0xFF, 0xE0],
            InboundMediaKind::Document => b"%PDF-1.7\n",
        };
        let size = self.size as usize;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&magic[..magic.len().min(size)]);
        let mut x = self.id;
        while out.len() < size {
            x = super::audience::splitmix(x);
            let take = (size - out.len()).min(8);
            out.extend_from_slice(&x.to_le_bytes()[..take]);
        }
        out
    }

    /// The webhook's `sha256`: base64 of the SHA-256 of [`Self::bytes`], as Meta's examples.
    pub fn sha256_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(self.bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_are_a_function_of_the_decision() {
        let m = InboundMedia::from_hash(42, BusinessId(1), PhoneNumberId(2));
        assert_eq!(
            m,
            InboundMedia::from_hash(42, BusinessId(1), PhoneNumberId(2))
        );
        assert_eq!(m.bytes(), m.bytes());
        assert_eq!(m.bytes().len(), m.size as usize);
        assert!((FIRST_ID..FIRST_ID + ID_SPAN).contains(&m.id));
        let other = InboundMedia::from_hash(43, BusinessId(1), PhoneNumberId(2));
        assert_ne!(m.id, other.id);
        assert_ne!(m.sha256_base64(), other.sha256_base64());
        // Both kinds occur, each within its sizes.
        let kinds: Vec<_> = (0..64u64)
            .map(|h| InboundMedia::from_hash(h, BusinessId(1), PhoneNumberId(2)))
            .collect();
        for m in &kinds {
            match m.kind {
                InboundMediaKind::Image => assert!((16 << 10..=96 << 10).contains(&m.size)),
                InboundMediaKind::Document => {
                    assert!((32 << 10..=256 << 10).contains(&m.size));
                    assert!(m.bytes().starts_with(b"%PDF"));
                }
            }
        }
        assert!(kinds.iter().any(|m| m.kind == InboundMediaKind::Image));
        assert!(kinds.iter().any(|m| m.kind == InboundMediaKind::Document));
    }
}
