//! The Media API: upload (`POST /{phone-number-id}/media`), retrieve (`GET /{media-id}`),
//! download (`GET <url>`) and delete (`DELETE /{media-id}`), and the check that a message sent
//! by media `id` names media its business uploaded.
//!
//! The store is plain data ([`MediaStore`]) behind one lock in [`super::AppState`]; the handlers
//! here only parse, check and answer. Everything is bounded: one upload by
//! [`MediaLimits::max_upload_bytes`] (the request-body limit of the upload route), the store by
//! total bytes and by entries. Media expire after Meta's 30-day retention in simulated time,
//! lazily: an access to an expired id finds nothing, and each upload sweeps what has expired.
//! Facts and their sources: docs/policy-model.md § Media.

use super::{Ctx, Resp};
use crate::clock::{SimTime, MICROS_PER_DAY};
use crate::engine::errors::ErrorCode;
use crate::engine::ids::{BusinessId, PhoneNumberId};
use crate::engine::inbound_media::InboundMedia;
use crate::engine::Rejection;
use crate::server::errors::{Failure, StatusRule};
use crate::server::query::Query;
use bytes::Bytes;
use futures_util::FutureExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Meta keeps uploaded media 30 days unless deleted ([M:media]).
pub const RETENTION_MICROS: u64 = 30 * MICROS_PER_DAY;
/// A media URL from `GET /{media-id}` works for 5 minutes ([M:media]).
pub const URL_LIFETIME_SECS: u64 = 300;
/// Room for the multipart framing and the small text parts around the file.
pub const MULTIPART_OVERHEAD: usize = 64 << 10;
const MIB: usize = 1 << 20;
/// Upload bodies read at once; more wait their turn. With the body limit this bounds the memory
/// that uploads in flight can take (4 × 100 MiB by default).
pub const UPLOADS_AT_ONCE: usize = 4;
/// Media ids start here (Meta's are 15–16 digits); ids the engine already uses are skipped.
const FIRST_ID: u64 = 1_037_000_000_000_001;

/// How much media the server keeps. Never unbounded: a load test that uploads in a loop meets
/// a Graph-shaped refusal, not an out-of-memory kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaLimits {
    /// Largest single upload, and so the body limit of `POST /{id}/media` (plus framing).
    /// Default 100 MiB: the largest per-type maximum (documents).
    pub max_upload_bytes: usize,
    /// Bytes kept in all.
    pub max_store_bytes: usize,
    /// Media kept in all.
    pub max_entries: usize,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            max_upload_bytes: 100 * MIB,
            max_store_bytes: 256 * MIB,
            max_entries: 10_000,
        }
    }
}

impl MediaLimits {
    /// The request-body limit of the upload route.
    pub fn body_limit(&self) -> usize {
        self.max_upload_bytes.saturating_add(MULTIPART_OVERHEAD)
    }
}

/// The media kinds of Meta's supported-types table, with the largest file of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Document,
    Image,
    Sticker,
    Video,
}

impl MediaKind {
    /// Meta's per-type maximum. Meta writes "MB"; we read it as MiB, the lenient reading. A
    /// sticker may be 500 KB when animated, 100 KB when static: telling them apart needs the
    /// WebP decoded, so the larger limit applies to both.
    pub fn max_bytes(self) -> usize {
        match self {
            MediaKind::Audio | MediaKind::Video => 16 * MIB,
            MediaKind::Document => 100 * MIB,
            MediaKind::Image => 5 * MIB,
            MediaKind::Sticker => 500 << 10,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Image => "image",
            MediaKind::Sticker => "sticker",
            MediaKind::Video => "video",
        }
    }
}

/// The MIME types uploads accept, in the order Graph's error lists them.
const SUPPORTED: [(&str, MediaKind); 19] = [
    ("audio/aac", MediaKind::Audio),
    ("audio/mp4", MediaKind::Audio),
    ("audio/mpeg", MediaKind::Audio),
    ("audio/amr", MediaKind::Audio),
    ("audio/ogg", MediaKind::Audio),
    ("audio/opus", MediaKind::Audio),
    ("application/vnd.ms-powerpoint", MediaKind::Document),
    ("application/msword", MediaKind::Document),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        MediaKind::Document,
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        MediaKind::Document,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        MediaKind::Document,
    ),
    ("application/pdf", MediaKind::Document),
    ("text/plain", MediaKind::Document),
    ("application/vnd.ms-excel", MediaKind::Document),
    ("image/jpeg", MediaKind::Image),
    ("image/png", MediaKind::Image),
    ("image/webp", MediaKind::Sticker),
    ("video/mp4", MediaKind::Video),
    ("video/3gpp", MediaKind::Video),
];

/// The kind of a MIME type (parameters such as `; codecs=opus` and case ignored).
pub fn kind_of_mime(mime: &str) -> Option<MediaKind> {
    let essence = mime.split(';').next().unwrap_or("").trim();
    SUPPORTED
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(essence))
        .map(|(_, k)| *k)
}

fn unsupported_type() -> Rejection {
    let list: Vec<&str> = SUPPORTED.iter().map(|(m, _)| *m).collect();
    Rejection::new(
        ErrorCode::InvalidParameter,
        format!(
            "Param file must be a file with one of the following types: {}.",
            list.join(", ")
        ),
    )
}

fn missing(field: &str) -> Rejection {
    Rejection::new(
        ErrorCode::InvalidParameter,
        format!("The parameter {field} is required."),
    )
}

/// One stored upload.
#[derive(Clone, Debug)]
pub struct Media {
    pub owner: BusinessId,
    /// The number it was uploaded on (`?phone_number_id=` must match it when given).
    pub phone: PhoneNumberId,
    pub mime: String,
    pub sha256: [u8; 32],
    pub data: Bytes,
    pub expires: SimTime,
}

/// Why the store refused an upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreFull {
    Bytes,
    Entries,
}

/// Uploaded media by id. Plain data: no clock, no I/O; the caller passes `now`.
#[derive(Debug)]
pub struct MediaStore {
    limits: MediaLimits,
    entries: HashMap<u64, Media>,
    bytes: usize,
    next: u64,
}

impl MediaStore {
    pub fn new(limits: MediaLimits) -> MediaStore {
        MediaStore {
            limits,
            entries: HashMap::new(),
            bytes: 0,
            next: FIRST_ID,
        }
    }

    pub fn limits(&self) -> MediaLimits {
        self.limits
    }

    /// Bytes and entries kept now (expired ones included until swept).
    pub fn usage(&self) -> (usize, usize) {
        (self.bytes, self.entries.len())
    }

    /// Stores `m` after sweeping what has expired; `taken` says which ids name something else
    /// (engine objects), so a media id never shadows a number, WABA or template.
    pub fn insert(
        &mut self,
        now: SimTime,
        m: Media,
        taken: impl Fn(u64) -> bool,
    ) -> Result<u64, StoreFull> {
        self.sweep(now);
        if self.entries.len() >= self.limits.max_entries {
            return Err(StoreFull::Entries);
        }
        if self.bytes.saturating_add(m.data.len()) > self.limits.max_store_bytes {
            return Err(StoreFull::Bytes);
        }
        let mut id = self.next;
        while taken(id) || self.entries.contains_key(&id) {
            id += 1;
        }
        self.next = id + 1;
        self.bytes += m.data.len();
        self.entries.insert(id, m);
        Ok(id)
    }

    /// Stores media a user sent in under the id the engine chose ([`InboundMedia`]), kept for
    /// Meta's 7 days. Inside the same caps as uploads: when the store is full (or the id is
    /// taken) nothing is kept and the id answers 100/33, as an expired one does; returns
    /// whether it was kept.
    pub fn insert_inbound(&mut self, now: SimTime, m: &InboundMedia) -> bool {
        self.sweep(now);
        let size = m.size as usize;
        if self.entries.len() >= self.limits.max_entries
            || self.bytes.saturating_add(size) > self.limits.max_store_bytes
            || self.entries.contains_key(&m.id)
        {
            return false;
        }
        let data = Bytes::from(m.bytes());
        self.bytes += data.len();
        self.entries.insert(
            m.id,
            Media {
                owner: m.owner,
                phone: m.phone,
                mime: m.mime().to_string(),
                sha256: Sha256::digest(&data).into(),
                data,
                expires: now.plus(crate::engine::inbound_media::RETENTION_MICROS),
            },
        );
        true
    }

    /// The media `id` if `owner` uploaded it and it has not expired (an expired one is
    /// dropped here). Another business's media is "not found", as Graph answers.
    pub fn get(&mut self, now: SimTime, id: u64, owner: BusinessId) -> Option<&Media> {
        if self.entries.get(&id).is_some_and(|m| m.expires <= now) {
            self.remove(id);
        }
        self.entries.get(&id).filter(|m| m.owner == owner)
    }

    /// Whether `id` names live media of any business (for the `/metrics` label only).
    pub fn contains(&self, id: u64) -> bool {
        self.entries.contains_key(&id)
    }

    /// Deletes `owner`'s media `id`; false when there is none to delete.
    pub fn delete(&mut self, now: SimTime, id: u64, owner: BusinessId) -> bool {
        if self.get(now, id, owner).is_none() {
            return false;
        }
        self.remove(id);
        true
    }

    fn remove(&mut self, id: u64) {
        if let Some(m) = self.entries.remove(&id) {
            self.bytes -= m.data.len();
        }
    }

    /// Drops every expired entry (bounded by the entries cap).
    fn sweep(&mut self, now: SimTime) {
        let before = self.entries.len();
        let mut freed = 0;
        self.entries.retain(|_, m| {
            let keep = m.expires > now;
            if !keep {
                freed += m.data.len();
            }
            keep
        });
        if self.entries.len() != before {
            self.bytes -= freed;
        }
    }
}

/// What an upload form carried.
#[derive(Debug, Default)]
struct UploadForm {
    messaging_product: Option<String>,
    /// The `type` part.
    kind: Option<String>,
    file: Option<(Option<String>, Bytes)>,
}

/// Reads a multipart/form-data body. The body is already in memory (bounded by the route's
/// body limit), so the parser's future is ready at once and is polled without an executor.
fn parse_form(content_type: Option<&str>, body: Bytes) -> Result<UploadForm, Rejection> {
    let not_multipart = || {
        Rejection::new(
            ErrorCode::InvalidParameter,
            "Upload media as multipart/form-data with the parts messaging_product, file and type.",
        )
    };
    let boundary = content_type
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(not_multipart)?;
    let stream = futures_util::stream::once(std::future::ready(Ok::<Bytes, std::io::Error>(body)));
    let mut multipart = multer::Multipart::new(stream, boundary);
    let parse = async move {
        let mut form = UploadForm::default();
        while let Some(field) = multipart.next_field().await? {
            let name = field.name().unwrap_or("").to_string();
            match name.as_str() {
                "file" => {
                    let ct = field.content_type().map(|m| m.to_string());
                    let data = field.bytes().await?;
                    form.file = Some((ct, data));
                }
                "messaging_product" => form.messaging_product = Some(field.text().await?),
                "type" => form.kind = Some(field.text().await?),
                // Graph ignores parts it does not know; drain them.
                _ => drop(field.bytes().await?),
            }
        }
        Ok::<_, multer::Error>(form)
    };
    match parse.now_or_never() {
        Some(Ok(form)) => Ok(form),
        Some(Err(e)) => Err(Rejection::new(
            ErrorCode::InvalidParameter,
            format!("The multipart/form-data body could not be read: {e}"),
        )),
        None => Err(not_multipart()),
    }
}

/// `{"id": "<media-id>"}`.
#[derive(Serialize)]
struct Uploaded {
    id: String,
}

/// `POST /{phone-number-id}/media`.
pub(super) fn upload(
    ctx: &Ctx<'_>,
    biz: BusinessId,
    phone_id: &str,
    body: Bytes,
) -> Result<Resp, Failure> {
    let e = &*ctx.state.engine;
    let phone = PhoneNumberId(
        crate::engine::ids::parse_id(phone_id)
            .ok_or_else(|| Rejection::unknown_object(phone_id))?,
    );
    e.check_number(biz, phone)?;
    let ct = ctx
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let form = parse_form(ct, body)?;
    match form.messaging_product.as_deref().map(str::trim) {
        Some("whatsapp") => {}
        Some(other) => {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                format!("Param messaging_product: '{other}' is not supported; use \"whatsapp\"."),
            )
            .into())
        }
        None => return Err(missing("messaging_product").into()),
    }
    let (file_type, data) = form.file.ok_or_else(|| missing("file"))?;
    // `type` is listed as required but Meta's own sample leaves it out: the file part's type
    // stands in for it.
    let mime = form
        .kind
        .filter(|t| !t.trim().is_empty())
        .or(file_type)
        .ok_or_else(unsupported_type)?;
    let mime = mime.trim().to_string();
    let kind = kind_of_mime(&mime).ok_or_else(unsupported_type)?;
    let max = kind.max_bytes().min(ctx.state.cfg.media.max_upload_bytes);
    if data.len() > max {
        return Err(Rejection::new(
            ErrorCode::InvalidParameter,
            format!(
                "Param file is {} bytes; {} files ({mime}) may be at most {max} bytes.",
                data.len(),
                kind.as_str()
            ),
        )
        .into());
    }
    let sha256: [u8; 32] = Sha256::digest(&data).into();
    let now = ctx.now;
    let media = Media {
        owner: biz,
        phone,
        mime,
        sha256,
        data,
        expires: now.plus(RETENTION_MICROS),
    };
    let id = ctx
        .state
        .media
        .lock()
        .insert(now, media, |id| e.kind_of(id).is_some())
        .map_err(|full| {
            let what = match full {
                StoreFull::Bytes => "bytes (--media-store-bytes)",
                StoreFull::Entries => "entries (--media-store-entries)",
            };
            Rejection::new(
                ErrorCode::ApiService,
                format!("wabasim's media store is at its limit of {what}; delete media (DELETE /{{media-id}}) and retry."),
            )
        })?;
    Ok(ctx.ok(&Uploaded { id: id.to_string() }))
}

/// `GET /{media-id}`'s answer, in Meta's field order; `file_size` is a string, as Meta sends it.
#[derive(Serialize)]
struct MediaInfo {
    messaging_product: &'static str,
    url: String,
    mime_type: String,
    sha256: String,
    file_size: String,
    id: String,
}

/// The media `id` names for `biz`, honouring `?phone_number_id=` ("processed only if the media
/// was uploaded on that number"); anything else is Graph's "object does not exist".
fn lookup(ctx: &Ctx<'_>, biz: BusinessId, id: &str, q: &Query) -> Result<Media, Rejection> {
    let raw = crate::engine::ids::parse_id(id).ok_or_else(|| Rejection::unknown_object(id))?;
    let now = ctx.now;
    let mut store = ctx.state.media.lock();
    let m = store
        .get(now, raw, biz)
        .ok_or_else(|| Rejection::unknown_object(id))?;
    if let Some(p) = q.get("phone_number_id") {
        if crate::engine::ids::parse_id(p) != Some(m.phone.0) {
            return Err(Rejection::unknown_object(id));
        }
    }
    Ok(m.clone())
}

/// `GET /{media-id}`: Graph's "object does not exist" (100/33) when this business has no live
/// media by that id (the caller has already ruled out numbers, WABAs and templates).
pub(super) fn get(ctx: &Ctx<'_>, biz: BusinessId, id: &str, q: &Query) -> Result<Resp, Failure> {
    let m = lookup(ctx, biz, id, q)?;
    let now = ctx.now;
    let ext = now.unix_secs() + URL_LIFETIME_SECS;
    let host = ctx
        .headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let url = format!(
        "http://{host}/whatsapp_business/attachments/?mid={id}&ext={ext}&hash={}",
        url_hash(id, ext, &m.sha256)
    );
    Ok(ctx.ok(&MediaInfo {
        messaging_product: "whatsapp",
        url,
        mime_type: m.mime,
        sha256: hex::encode(m.sha256),
        file_size: m.data.len().to_string(),
        id: id.to_string(),
    }))
}

/// `DELETE /{media-id}` → `{"success": true}`.
pub(super) fn delete(ctx: &Ctx<'_>, biz: BusinessId, id: &str, q: &Query) -> Result<Resp, Failure> {
    lookup(ctx, biz, id, q)?;
    let raw = crate::engine::ids::parse_id(id).ok_or_else(|| Rejection::unknown_object(id))?;
    ctx.state.media.lock().delete(ctx.now, raw, biz);
    Ok(ctx.ok(&serde_json::json!({"success": true})))
}

/// Ties a URL to its media and expiry so an edited URL does not download. Not a secret: the
/// bearer token is what guards the bytes.
fn url_hash(id: &str, ext: u64, sha: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update(ext.to_le_bytes());
    h.update(sha);
    let d = h.finalize();
    let mut s = String::from("AT");
    s.push_str(&hex::encode(&d[..12]));
    s
}

/// `GET /whatsapp_business/attachments/?mid=…&ext=…&hash=…` with the bearer token: the bytes
/// with their MIME type. An expired or edited URL, or media the token's business did not
/// upload, is a 404, as Meta answers a failed download.
pub(super) fn download(ctx: &Ctx<'_>, biz: BusinessId, q: &Query) -> Result<Resp, Failure> {
    let mid = q.get("mid").unwrap_or("");
    let gone = || Failure::not_found(Rejection::unknown_object(mid));
    let ext: u64 = q.get("ext").and_then(|e| e.parse().ok()).ok_or_else(gone)?;
    let m = lookup(ctx, biz, mid, &Query::parse(None)).map_err(|_| gone())?;
    let now = ctx.now;
    if ext < now.unix_secs() || ext > now.unix_secs() + URL_LIFETIME_SECS {
        return Err(gone());
    }
    if q.get("hash") != Some(url_hash(mid, ext, &m.sha256).as_str()) {
        return Err(gone());
    }
    ctx.state.metrics.request(ctx.label, 200);
    let mut r = hyper::Response::new(http_body_util::Full::new(m.data));
    let h = r.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&m.mime) {
        h.insert(hyper::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = hyper::header::HeaderValue::from_str(&ctx.trace) {
        h.insert("x-fb-trace-id", v);
    }
    Ok(r)
}

/// How a send by an unusable media id fails (`--media-id-errors`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MediaIdErrors {
    /// Accepted (200), then a `failed` status with 131053 "Media upload error": how Meta
    /// reports media failures in sends.
    #[default]
    Async,
    /// Refused at once: 400, code 100, subcode 33 ("object does not exist") naming the id.
    Sync,
}

/// A message sent by media `id` must name media this business uploaded and still keeps.
/// `Ok(true)`: it does; `Ok(false)`: it does not, and the engine fails the message
/// asynchronously with 131053; `Err`: refused at once ([`MediaIdErrors::Sync`]).
pub(super) fn check_send(ctx: &Ctx<'_>, biz: BusinessId, media_id: &str) -> Result<bool, Failure> {
    let found = crate::engine::ids::parse_id(media_id)
        .is_some_and(|raw| ctx.state.media.lock().get(ctx.now, raw, biz).is_some());
    match (found, ctx.state.cfg.media_id_errors) {
        (true, _) => Ok(true),
        (false, MediaIdErrors::Async) => Ok(false),
        (false, MediaIdErrors::Sync) => Err(Failure::new(
            StatusRule::Table,
            Rejection::unknown_object(media_id),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(owner: u64, len: usize, at: SimTime) -> Media {
        Media {
            owner: BusinessId(owner),
            phone: PhoneNumberId(1),
            mime: "image/png".into(),
            sha256: [0; 32],
            data: Bytes::from(vec![7u8; len]),
            expires: at.plus(RETENTION_MICROS),
        }
    }

    #[test]
    fn kinds_and_limits_follow_metas_table() {
        assert_eq!(
            kind_of_mime("audio/ogg; codecs=opus"),
            Some(MediaKind::Audio)
        );
        assert_eq!(kind_of_mime("IMAGE/JPEG"), Some(MediaKind::Image));
        assert_eq!(kind_of_mime("image/webp"), Some(MediaKind::Sticker));
        assert_eq!(kind_of_mime("image/gif"), None);
        assert_eq!(MediaKind::Image.max_bytes(), 5 << 20);
        assert_eq!(MediaKind::Document.max_bytes(), 100 << 20);
        assert_eq!(MediaKind::Sticker.max_bytes(), 500 << 10);
        assert!(unsupported_type().details.contains("video/3gpp"));
    }

    #[test]
    fn store_scopes_ids_to_the_owner_and_expires_them() {
        let t0 = SimTime::from_secs(1_000);
        let mut s = MediaStore::new(MediaLimits::default());
        let id = s.insert(t0, media(1, 10, t0), |_| false).unwrap();
        assert!(s.get(t0, id, BusinessId(1)).is_some());
        assert!(s.get(t0, id, BusinessId(2)).is_none(), "other business");
        assert!(!s.delete(t0, id, BusinessId(2)));
        let late = t0.plus(RETENTION_MICROS);
        assert!(s.get(late, id, BusinessId(1)).is_none(), "expired");
        assert_eq!(s.usage(), (0, 0));
    }

    #[test]
    fn store_is_bounded_and_skips_taken_ids() {
        let t0 = SimTime::from_secs(0);
        let limits = MediaLimits {
            max_upload_bytes: 100,
            max_store_bytes: 100,
            max_entries: 2,
        };
        let mut s = MediaStore::new(limits);
        let a = s.insert(t0, media(1, 60, t0), |id| id == FIRST_ID).unwrap();
        assert_eq!(a, FIRST_ID + 1);
        assert_eq!(
            s.insert(t0, media(1, 60, t0), |_| false),
            Err(StoreFull::Bytes)
        );
        s.insert(t0, media(1, 10, t0), |_| false).unwrap();
        assert_eq!(
            s.insert(t0, media(1, 1, t0), |_| false),
            Err(StoreFull::Entries)
        );
        assert!(s.delete(t0, a, BusinessId(1)));
        assert_eq!(s.usage(), (10, 1));
        // An upload sweeps what has expired.
        let later = t0.plus(RETENTION_MICROS + 1);
        s.insert(later, media(1, 100, later), |_| false).unwrap();
        assert_eq!(s.usage(), (100, 1));
    }

    #[test]
    fn forms_are_parsed_and_bad_ones_refused() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n--XyZ--\r\n";
        let f = parse_form(Some("multipart/form-data; boundary=XyZ"), Bytes::from(body)).unwrap();
        assert_eq!(f.messaging_product.as_deref(), Some("whatsapp"));
        let (ct, data) = f.file.unwrap();
        assert_eq!(ct.as_deref(), Some("image/png"));
        assert_eq!(&data[..], b"PNGDATA");
        assert!(parse_form(Some("application/json"), Bytes::from("{}")).is_err());
        let truncated = &body[..body.len() - 12];
        let e = parse_form(
            Some("multipart/form-data; boundary=XyZ"),
            Bytes::from(truncated.to_string()),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameter);
    }
}
