//! The embedded webhook receiver: a small hyper server on loopback that plays the BSP's webhook
//! endpoint during a run.
//!
//! - `GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C` → 200 with body `C` when `T`
//!   matches, 403 otherwise (Meta's verification handshake).
//! - `POST` → the `X-Hub-Signature-256: sha256=<hex>` header must be the HMAC-SHA256 of the raw
//!   body keyed with the app secret (checked in constant time); otherwise 401 and counted.
//!   Signed bodies are parsed for `entry[].changes[].value.statuses[]` (counted by kind, failed
//!   codes counted) and `value.messages[]` (inbound user messages, counted).
//! - Send→delivered delay: the runner records each accepted message id with the instant its 200
//!   arrived; a `delivered` status for that id records the delay. The id map is bounded (two
//!   generations, the older dropped when the newer is full) and evictions are counted, so memory
//!   is flat however long the run. The delay is measured on arrival at the receiver, not from
//!   the webhook's `timestamp` (whole seconds only).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde::Deserialize;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::bsuid::UserId;
use crate::engine::ids::WaId;
use crate::load::metrics::{new_hist, record};
use crate::load::report::{Hist, WebhookReport};
use crate::traffic::conversations::Contact;
use crate::traffic::spec::WebhookSpec;

/// Largest webhook body accepted (Meta batches up to 1000 updates per POST).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Distinct failed-status codes kept; the rest are counted under "other".
const MAX_FAILED_CODES: usize = 64;

/// Remembers when each accepted message id was sent, in bounded memory.
#[derive(Debug)]
struct Tracker {
    cur: HashMap<Box<str>, Instant>,
    old: HashMap<Box<str>, Instant>,
    /// Each generation holds at most this many ids (total ≤ 2×).
    gen_cap: usize,
    evicted: u64,
}

impl Tracker {
    fn new(capacity: usize) -> Tracker {
        Tracker {
            cur: HashMap::new(),
            old: HashMap::new(),
            gen_cap: (capacity / 2).max(1),
            evicted: 0,
        }
    }
    fn insert(&mut self, id: &str, at: Instant) {
        if self.cur.len() >= self.gen_cap {
            self.evicted += self.old.len() as u64;
            self.old = std::mem::take(&mut self.cur);
        }
        self.cur.insert(id.into(), at);
    }
    fn take(&mut self, id: &str) -> Option<Instant> {
        self.cur.remove(id).or_else(|| self.old.remove(id))
    }
}

#[derive(Debug)]
struct Stats {
    posts: u64,
    bad_signature: u64,
    malformed: u64,
    verify_ok: u64,
    verify_refused: u64,
    statuses: BTreeMap<&'static str, u64>,
    failed_codes: BTreeMap<String, u64>,
    inbound_messages: u64,
    matched: u64,
    unmatched: u64,
    delivered_delay: Histogram<u64>,
}

struct State {
    secret: Vec<u8>,
    verify_token: String,
    tracker: Mutex<Tracker>,
    stats: Mutex<Stats>,
    /// Users who wrote in, as the webhooks tell (business number id, user), for the load
    /// generator's support desk; the oldest are dropped past [`INBOX`].
    inbox: Mutex<VecDeque<(String, Contact)>>,
}

/// User messages kept for the load generator between two of its picks.
const INBOX: usize = 65_536;

/// A running receiver. Cheap to clone the handle through [`Receiver::tracker`].
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The part of the receiver the runner needs: record sent ids. Clone freely.
#[derive(Clone)]
pub struct SendTracker {
    state: Arc<State>,
}

impl SendTracker {
    /// Records that message `id` was accepted at `at`.
    pub fn sent(&self, id: &str, at: Instant) {
        self.state.tracker.lock().insert(id, at);
    }
}

impl Receiver {
    /// Binds and starts serving.
    pub async fn start(spec: &WebhookSpec) -> std::io::Result<Receiver> {
        let addr: SocketAddr = spec.listen.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "traffic.webhooks.listen: {:?} is not a socket address",
                    spec.listen
                ),
            )
        })?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            secret: spec.app_secret.as_bytes().to_vec(),
            verify_token: spec.verify_token.clone(),
            tracker: Mutex::new(Tracker::new(spec.track)),
            inbox: Mutex::new(VecDeque::new()),
            stats: Mutex::new(Stats {
                posts: 0,
                bad_signature: 0,
                malformed: 0,
                verify_ok: 0,
                verify_refused: 0,
                statuses: BTreeMap::new(),
                failed_codes: BTreeMap::new(),
                inbound_messages: 0,
                matched: 0,
                unmatched: 0,
                delivered_delay: new_hist(),
            }),
        });
        let (stop, mut stop_rx) = watch::channel(false);
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => break,
                    acc = listener.accept() => {
                        let Ok((sock, _)) = acc else {
                            // Out of descriptors or similar: back off instead of spinning.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        let _ = sock.set_nodelay(true);
                        let st = st.clone();
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                            // A sender that stalls mid-request or leaves a connection idle
                            // is dropped after a minute, as `serve` does.
                            let _ = hyper::server::conn::http1::Builder::new()
                                .timer(hyper_util::rt::TokioTimer::new())
                                .header_read_timeout(Duration::from_secs(60))
                                .serve_connection(TokioIo::new(sock), svc)
                                .await;
                        });
                    }
                }
            }
        });
        Ok(Receiver {
            addr,
            state,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The callback URL to configure on the server under test.
    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    pub fn tracker(&self) -> SendTracker {
        SendTracker {
            state: self.state.clone(),
        }
    }

    /// Hands over the user messages received since the last call: (business number id, user),
    /// oldest first.
    pub fn take_inbound(&self, mut f: impl FnMut(&str, Contact)) {
        let mut inbox = self.state.inbox.lock();
        for (number, from) in inbox.drain(..) {
            f(&number, from);
        }
    }

    /// What has been received so far.
    pub fn snapshot(&self) -> WebhookReport {
        let s = self.state.stats.lock();
        let evicted = self.state.tracker.lock().evicted;
        WebhookReport {
            posts: s.posts,
            bad_signature: s.bad_signature,
            malformed: s.malformed,
            verify_ok: s.verify_ok,
            verify_refused: s.verify_refused,
            statuses: s
                .statuses
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            failed_codes: s.failed_codes.clone(),
            inbound_messages: s.inbound_messages,
            matched: s.matched,
            unmatched: s.unmatched,
            evicted,
            delivered_delay: Hist::from_hdr(&s.delivered_delay),
        }
    }

    /// Stops accepting connections.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Resp, std::convert::Infallible> {
    Ok(match *req.method() {
        Method::GET => verify(&state, req.uri().query().unwrap_or("")),
        Method::POST => {
            let sig = req
                .headers()
                .get("x-hub-signature-256")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    state.stats.lock().malformed += 1;
                    return Ok(respond(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
                }
            };
            ingest(&state, sig.as_deref(), &body, Instant::now())
        }
        _ => respond(StatusCode::METHOD_NOT_ALLOWED, ""),
    })
}

fn verify(state: &State, query: &str) -> Resp {
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match percent_decode(k).as_str() {
            "hub.mode" => mode = Some(v),
            "hub.verify_token" => token = Some(v),
            "hub.challenge" => challenge = Some(v),
            _ => {}
        }
    }
    let mut s = state.stats.lock();
    match (mode.as_deref(), token, challenge) {
        (Some("subscribe"), Some(t), Some(c)) if t == state.verify_token => {
            s.verify_ok += 1;
            respond(StatusCode::OK, c)
        }
        _ => {
            s.verify_refused += 1;
            respond(StatusCode::FORBIDDEN, "verification failed")
        }
    }
}

/// Decodes `%XX` and `+` in a query component; invalid escapes are kept literally.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Checks `sha256=<hex>` against the HMAC of `body`, in constant time.
pub fn signature_valid(secret: &[u8], header: Option<&str>, body: &[u8]) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The signature header value for `body`: what a sender puts in `X-Hub-Signature-256`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    entry: Vec<Entry>,
}
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}
#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    value: Option<Value>,
}
#[derive(Deserialize)]
struct Value {
    #[serde(default)]
    statuses: Vec<Status>,
    #[serde(default)]
    messages: Vec<InboundMessage>,
    #[serde(default)]
    metadata: Option<Metadata>,
}
#[derive(Deserialize)]
struct InboundMessage {
    /// Absent when the user hides their phone number behind a username.
    #[serde(default)]
    from: String,
    #[serde(default)]
    from_user_id: String,
}
#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: String,
}
#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    errors: Vec<StatusError>,
}
#[derive(Deserialize)]
struct StatusError {
    #[serde(default)]
    code: Option<i64>,
}

fn ingest(state: &State, sig: Option<&str>, body: &[u8], now: Instant) -> Resp {
    if !signature_valid(&state.secret, sig, body) {
        let mut s = state.stats.lock();
        s.posts += 1;
        s.bad_signature += 1;
        return respond(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let parsed: Result<Envelope, _> = serde_json::from_slice(body);
    let mut s = state.stats.lock();
    s.posts += 1;
    let Ok(env) = parsed else {
        s.malformed += 1;
        return respond(StatusCode::BAD_REQUEST, "not a webhook envelope");
    };
    for change in env.entry.iter().flat_map(|e| e.changes.iter()) {
        let Some(v) = &change.value else { continue };
        s.inbound_messages += v.messages.len() as u64;
        if let (Some(meta), false) = (&v.metadata, v.messages.is_empty()) {
            let mut inbox = state.inbox.lock();
            for m in &v.messages {
                // The user as the webhook shows them: by number, else by BSUID.
                let from = WaId::parse_lenient(&m.from)
                    .map(Contact::Phone)
                    .or_else(|| UserId::parse(&m.from_user_id).map(Contact::UserId));
                if let Some(from) = from {
                    if inbox.len() == INBOX {
                        inbox.pop_front();
                    }
                    inbox.push_back((meta.phone_number_id.clone(), from));
                }
            }
        }
        for st in &v.statuses {
            let kind: &'static str = match st.status.as_str() {
                "sent" => "sent",
                "delivered" => "delivered",
                "read" => "read",
                "failed" => "failed",
                "played" => "played",
                _ => "other",
            };
            *s.statuses.entry(kind).or_default() += 1;
            if kind == "failed" {
                for e in &st.errors {
                    let key = e
                        .code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "none".into());
                    if s.failed_codes.len() < MAX_FAILED_CODES || s.failed_codes.contains_key(&key)
                    {
                        *s.failed_codes.entry(key).or_default() += 1;
                    } else {
                        *s.failed_codes.entry("other".into()).or_default() += 1;
                    }
                }
            }
            if matches!(kind, "delivered" | "failed" | "read") {
                match state.tracker.lock().take(&st.id) {
                    Some(at) => {
                        s.matched += 1;
                        if kind == "delivered" {
                            record(
                                &mut s.delivered_delay,
                                now.saturating_duration_since(at).as_micros() as u64,
                            );
                        }
                    }
                    // A read after its delivered was already matched is expected; not unmatched.
                    None if kind != "read" => s.unmatched += 1,
                    None => {}
                }
            }
        }
    }
    respond(StatusCode::OK, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            secret: b"s3cret".to_vec(),
            verify_token: "tok".into(),
            tracker: Mutex::new(Tracker::new(4)),
            inbox: Mutex::new(VecDeque::new()),
            stats: Mutex::new(Stats {
                posts: 0,
                bad_signature: 0,
                malformed: 0,
                verify_ok: 0,
                verify_refused: 0,
                statuses: BTreeMap::new(),
                failed_codes: BTreeMap::new(),
                inbound_messages: 0,
                matched: 0,
                unmatched: 0,
                delivered_delay: new_hist(),
            }),
        }
    }

    #[test]
    fn handshake() {
        let st = state();
        let ok = verify(
            &st,
            "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=12%2034",
        );
        assert_eq!(ok.status(), StatusCode::OK);
        let bad = verify(
            &st,
            "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
        );
        assert_eq!(bad.status(), StatusCode::FORBIDDEN);
        assert_eq!(percent_decode("12%2034+x%zz%4"), "12 34 x%zz%4");
    }

    #[test]
    fn signatures() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let h = sign(b"s3cret", body);
        assert!(signature_valid(b"s3cret", Some(&h), body));
        assert!(!signature_valid(b"other", Some(&h), body));
        assert!(!signature_valid(b"s3cret", Some(&h), b"{}"));
        assert!(!signature_valid(b"s3cret", None, body));
        assert!(!signature_valid(b"s3cret", Some("sha256=zz"), body));
    }

    #[test]
    fn statuses_counted_and_matched() {
        let st = state();
        let t0 = Instant::now();
        st.tracker.lock().insert("wamid.A", t0);
        st.tracker.lock().insert("wamid.B", t0);
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
            "statuses":[{"id":"wamid.A","status":"sent"},{"id":"wamid.A","status":"delivered"},
                        {"id":"wamid.B","status":"failed","errors":[{"code":131049}]},
                        {"id":"wamid.Z","status":"delivered"},{"id":"wamid.A","status":"read"}],
            "messages":[{"from":"1","id":"x","type":"text","text":{"body":"hi"}}]}}]}]}"#;
        let r = ingest(
            &st,
            Some(&sign(b"s3cret", body)),
            body,
            t0 + Duration::from_millis(30),
        );
        assert_eq!(r.status(), StatusCode::OK);
        let bad = ingest(&st, Some("sha256=00"), body, t0);
        assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
        let junk = b"not json";
        let m = ingest(&st, Some(&sign(b"s3cret", junk)), junk, t0);
        assert_eq!(m.status(), StatusCode::BAD_REQUEST);
        let s = st.stats.lock();
        assert_eq!(s.posts, 3);
        assert_eq!(s.bad_signature, 1);
        assert_eq!(s.malformed, 1);
        assert_eq!(s.statuses.get("delivered"), Some(&2));
        assert_eq!(s.statuses.get("failed"), Some(&1));
        assert_eq!(s.failed_codes.get("131049"), Some(&1));
        assert_eq!(s.inbound_messages, 1);
        assert_eq!(s.matched, 2);
        assert_eq!(s.unmatched, 1);
        assert_eq!(s.delivered_delay.len(), 1);
        assert!((s.delivered_delay.max() as i64 - 30_000).abs() < 100);
    }

    #[test]
    fn tracker_is_bounded() {
        let mut t = Tracker::new(10);
        let now = Instant::now();
        for i in 0..1000 {
            t.insert(&format!("id{i}"), now);
        }
        assert!(t.cur.len() + t.old.len() <= 10);
        assert_eq!(t.evicted + (t.cur.len() + t.old.len()) as u64, 1000);
        assert!(t.take("id999").is_some());
        assert!(t.take("id0").is_none());
    }
}
