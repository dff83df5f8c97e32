//! Shared helpers of the integration tests: an in-process wabasim server on `127.0.0.1:0`
//! (manual clock unless told otherwise) and a small HTTP client with timeouts.
//!
//! Every test starts its own server, so tests are independent and can run in parallel.
#![allow(dead_code)]

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use wabasim::cmd::serve::{start, ServePlan};
use wabasim::cmd::{Cli, Command};
use wabasim::server::AppState;

/// The default world (scenarios/default.toml).
pub const TOKEN: &str = "wabasim-dev-token";
pub const PHONE: &str = "106540352242922";
pub const WABA: &str = "102290129340398";
/// Members of the default audience (6281300000000 … +9999).
pub const USER: &str = "6281300000001";

/// Upper bound for any single HTTP exchange: a hang fails the test instead of blocking CI.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running in-process server. Dropping it shuts the server down.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub state: Arc<AppState>,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON (panics with the raw body if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}); status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a 200 and returns the JSON body.
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got: {}", self.text());
        self.json()
    }
}

/// Simulates `sc` as `wabasim simulate` does: its traffic built with its thresholds, for `days`
/// (`None`: all of it) with `seed` (`None`: the scenario's own).
pub fn simulate_scenario(
    sc: &wabasim::scenario::Scenario,
    days: Option<f64>,
    seed: Option<u64>,
) -> Result<wabasim::simulate::SimReport, String> {
    let traffic = sc.traffic.as_ref().ok_or("the scenario has no traffic")?;
    let plan =
        wabasim::traffic::LoadPlan::build(traffic, sc.thresholds.as_ref(), sc.plan_context())
            .map_err(|e| e.to_string())?;
    let cfg = wabasim::simulate::SimConfig {
        days,
        seed: seed.unwrap_or(sc.seed),
    };
    wabasim::simulate::simulate(sc, &plan, &cfg, &mut |_, _| {})
}

/// Records every webhook body; answers the verification handshake.
pub async fn receiver() -> (Arc<parking_lot::Mutex<Vec<Value>>>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let got = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let state = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let st = state.clone();
                    async move {
                        let q = req.uri().query().unwrap_or("").to_string();
                        let body = if req.method() == Method::GET {
                            // hub.challenge=<value> echoed back.
                            q.split('&')
                                .find_map(|kv| kv.strip_prefix("hub.challenge="))
                                .unwrap_or("")
                                .to_string()
                        } else {
                            let b = req.into_body().collect().await.unwrap().to_bytes();
                            st.lock().push(serde_json::from_slice(&b).unwrap());
                            String::new()
                        };
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(body),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (got, url)
}

/// Two businesses, one WABA, number and `hello_world` template each, tokens `token-satu` and
/// `token-dua`; their ids hash to different partitions of two (`wabasim::scenario::partition_of`,
/// checked in partitions.rs). The `[[businesses]]` part of a scenario: put the top-level keys
/// and `[audience]` before it.
pub const TWO_PORTFOLIOS: &str = r#"
[[businesses]]
id = "200000000000001"
name = "Satu"
tokens = ["token-satu"]
[[businesses.wabas]]
id = "201000000000001"
[[businesses.wabas.phone_numbers]]
id = "202000000000001"
display_phone_number = "+62 812-0000-0011"
verified_name = "Satu"
[[businesses.wabas.templates]]
name = "hello_world"
language = "en_US"
category = "UTILITY"
body = "Halo dari Satu"

[[businesses]]
id = "200000000000002"
name = "Dua"
tokens = ["token-dua"]
[[businesses.wabas]]
id = "201000000000002"
[[businesses.wabas.phone_numbers]]
id = "202000000000002"
display_phone_number = "+62 812-0000-0012"
verified_name = "Dua"
[[businesses.wabas.templates]]
name = "hello_world"
language = "en_US"
category = "UTILITY"
body = "Halo dari Dua"
"#;

/// The verify token and app secret [`start_with_webhooks`] gives the server.
pub const WEBHOOK_VERIFY_TOKEN: &str = "v";
pub const WEBHOOK_APP_SECRET: &str = "x";

/// A server for `scenario` (the default world when `None`) delivering its webhooks to a fresh
/// [`receiver`], and what the receiver records.
pub async fn start_with_webhooks(
    scenario: Option<&str>,
) -> (TestServer, Arc<parking_lot::Mutex<Vec<Value>>>) {
    let (got, url) = receiver().await;
    let s = start_server(
        scenario,
        &[
            "--webhook-url",
            &url,
            "--verify-token",
            WEBHOOK_VERIFY_TOKEN,
            "--app-secret",
            WEBHOOK_APP_SECRET,
        ],
    )
    .await;
    (s, got)
}

static SCENARIO_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes scenario text to a fresh file under the cargo-provided temp dir.
pub fn scenario_file(text: &str) -> std::path::PathBuf {
    let n = SCENARIO_SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).expect("temp dir");
    let path = dir.join(format!("scenario-{}-{n}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write scenario");
    path
}

/// The default world, manual clock.
pub async fn start_default() -> TestServer {
    start_server(None, &[]).await
}

/// A scenario given as TOML text, manual clock.
pub async fn start_scenario(text: &str) -> TestServer {
    start_server(Some(text), &[]).await
}

/// Starts a server from `wabasim serve` flags (parsed by the real CLI): `--clock manual` and
/// `--listen 127.0.0.1:0` unless `extra` says otherwise, plus `--scenario` when given.
pub async fn start_server(scenario: Option<&str>, extra: &[&str]) -> TestServer {
    let mut argv: Vec<String> = vec!["wabasim".into(), "serve".into()];
    if !extra.contains(&"--clock") {
        argv.extend(["--clock".into(), "manual".into()]);
    }
    if let Some(text) = scenario {
        argv.push("--scenario".into());
        argv.push(scenario_file(text).display().to_string());
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    let cli = Cli::parse_from(&argv);
    let Command::Serve(args) = cli.command else {
        panic!("not a serve command")
    };
    let plan = ServePlan::from_args(&args).unwrap_or_else(|e| panic!("serve plan: {e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let (tx, rx) = oneshot::channel::<()>();
    let running = start(plan, listener, async move {
        let _ = rx.await;
    })
    .await
    .unwrap_or_else(|e| panic!("start: {e}"));
    let client = Client::builder(TokioExecutor::new()).build_http();
    TestServer {
        addr: running.addr,
        base: format!("http://{}", running.addr),
        state: running.state,
        client,
        shutdown: Some(tx),
    }
}

/// Any request to `base` (another server than a [`TestServer`]: a router, a process).
pub async fn request_to(
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Resp {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut b = Request::builder()
        .method(method.clone())
        .uri(format!("{base}{path}"));
    if let Some(t) = token {
        b = b.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let req = b
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("request");
    let fut = async {
        let resp = client.request(req).await.expect("HTTP exchange");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("read body").to_bytes();
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    };
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("{method} {base}{path}: no answer within {TIMEOUT:?}"))
}

impl TestServer {
    /// Any request. `path` starts with `/`; `token` becomes `Authorization: Bearer`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(method.clone())
            .uri(format!("{}{}", self.base, path));
        if let Some(t) = token {
            b = b.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            b = b.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        let fut = async {
            let resp = self.client.request(req).await.expect("HTTP exchange");
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.expect("read body").to_bytes();
            Resp {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        };
        tokio::time::timeout(TIMEOUT, fut)
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {TIMEOUT:?}"))
    }

    /// A request with a body of any `Content-Type` (multipart uploads, form-encoded sends).
    pub async fn request_typed(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(method.clone())
            .uri(format!("{}{}", self.base, path))
            .header(CONTENT_TYPE, content_type);
        if let Some(t) = token {
            b = b.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = b.body(Full::new(Bytes::from(body))).expect("request");
        let fut = async {
            let resp = self.client.request(req).await.expect("HTTP exchange");
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.expect("read body").to_bytes();
            Resp {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        };
        tokio::time::timeout(TIMEOUT, fut)
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {TIMEOUT:?}"))
    }

    /// `POST /v23.0/{phone}/media` as multipart/form-data: `messaging_product=whatsapp`, the
    /// file with `file_type` as its part's type, and the `type` part when given.
    pub async fn upload(
        &self,
        token: &str,
        phone: &str,
        file_type: &str,
        type_part: Option<&str>,
        data: &[u8],
    ) -> Resp {
        let mut parts = vec![("messaging_product", None, b"whatsapp".to_vec())];
        parts.push(("file", Some(file_type), data.to_vec()));
        if let Some(t) = type_part {
            parts.push(("type", None, t.as_bytes().to_vec()));
        }
        let (ct, body) = multipart(&parts);
        self.request_typed(
            Method::POST,
            &format!("/v23.0/{phone}/media"),
            Some(token),
            &ct,
            body,
        )
        .await
    }

    /// GET with the default token.
    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, Some(TOKEN), None).await
    }

    /// POST a JSON value with the default token.
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.request(
            Method::POST,
            path,
            Some(TOKEN),
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, Some(TOKEN), None).await
    }

    /// `POST /v23.0/{PHONE}/messages` with the default token.
    pub async fn send(&self, body: &Value) -> Resp {
        self.post(&format!("/v23.0/{PHONE}/messages"), body).await
    }

    /// Control API without a token.
    pub async fn sim_get(&self, path: &str) -> Resp {
        self.request(Method::GET, &format!("/_sim/{path}"), None, None)
            .await
    }

    pub async fn sim_post(&self, path: &str, body: &Value) -> Resp {
        self.request(
            Method::POST,
            &format!("/_sim/{path}"),
            None,
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    /// Advances the manual clock (asserting success).
    pub async fn advance(&self, seconds: f64) -> Value {
        self.sim_post("clock/advance", &json!({ "seconds": seconds }))
            .await
            .ok()
    }

    /// A user writes to `PHONE`: opens the customer service window.
    pub async fn inbound(&self, from: &str, text: &str) -> Value {
        self.sim_post(
            "inbound",
            &json!({"from": from, "phone_number_id": PHONE, "text": text}),
        )
        .await
        .ok()
    }

    /// Every entry of the decision log (follows `next` across pages).
    pub async fn all_events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut since = 0u64;
        loop {
            let page = self
                .sim_get(&format!("events?since={since}&limit=1000"))
                .await
                .ok();
            out.extend(page["events"].as_array().unwrap().iter().cloned());
            if !page["more"].as_bool().unwrap() {
                return out;
            }
            since = page["next"].as_u64().unwrap();
        }
    }

    /// Sends raw bytes on a fresh connection and reads until the server closes it or a whole
    /// response (headers + Content-Length body) has arrived. For requests a well-behaved
    /// client cannot make (lying Content-Length, oversized chunked bodies).
    pub async fn raw(&self, head: &[u8], body_chunks: Vec<Vec<u8>>) -> (u16, Value) {
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        stream.write_all(head).await.expect("write head");
        let (mut rd, mut wr) = stream.into_split();
        // Write the body concurrently: the server may answer (and stop reading) early.
        let writer = tokio::spawn(async move {
            for c in body_chunks {
                if wr.write_all(&c).await.is_err() {
                    break;
                }
            }
            let _ = wr.flush().await;
            wr
        });
        let read = async {
            let mut buf = Vec::new();
            let mut tmp = [0u8; 8192];
            loop {
                let n = rd.read(&mut tmp).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&tmp[..n]);
                if let Some(resp) = parse_http_response(&buf) {
                    return resp;
                }
            }
            parse_http_response(&buf).unwrap_or_else(|| {
                panic!("incomplete response: {:?}", String::from_utf8_lossy(&buf))
            })
        };
        let out = tokio::time::timeout(TIMEOUT, read)
            .await
            .expect("raw exchange timed out");
        writer.abort();
        out
    }
}

fn parse_http_response(buf: &[u8]) -> Option<(u16, Value)> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    if body.len() < len {
        return None;
    }
    Some((status, serde_json::from_str(&body[..len]).ok()?))
}

/// A multipart/form-data body of `(name, file type, bytes)` parts (a part with a type is sent
/// as a file); returns the `Content-Type` and the body.
pub fn multipart(parts: &[(&str, Option<&str>, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "wabasimBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, ty, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match ty {
            Some(t) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"f.bin\"\r\nContent-Type: {t}\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Asserts the Graph error envelope
/// `{"error":{message,type,code,error_data{details},fbtrace_id}}` with this HTTP status and code;
/// returns `error` for further checks.
pub fn assert_graph_error(r: &Resp, status: u16, code: u64) -> Value {
    assert_eq!(
        r.status,
        status,
        "expected HTTP {status} (code {code}), got: {}",
        r.text()
    );
    let v = r.json();
    check_envelope(&v, code)
}

/// The shape check of [`assert_graph_error`] on an already-parsed body.
pub fn check_envelope(v: &Value, code: u64) -> Value {
    let e = &v["error"];
    assert!(e.is_object(), "no error object: {v}");
    assert_eq!(e["code"].as_u64(), Some(code), "wrong code: {v}");
    let msg = e["message"].as_str().expect("error.message");
    assert!(!msg.is_empty(), "empty message: {v}");
    assert!(
        e["type"].as_str().is_some_and(|t| !t.is_empty()),
        "error.type: {v}"
    );
    // Graph's core codes (100, 190, 2500) carry no `error_data`; the WhatsApp codes do.
    if matches!(code, 100 | 190 | 2500) {
        assert!(
            e.get("error_data").is_none(),
            "core code with error_data: {v}"
        );
    } else {
        assert!(
            e["error_data"]["details"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "error.error_data.details: {v}"
        );
    }
    assert!(
        e["fbtrace_id"].as_str().is_some_and(|t| !t.is_empty()),
        "error.fbtrace_id: {v}"
    );
    if let Some(sub) = e.get("error_subcode") {
        assert!(sub.is_u64(), "error_subcode not an integer: {v}");
    }
    e.clone()
}

/// The `details` string of an error envelope; for Graph's core codes, which carry no
/// `error_data`, the message (which then holds the details).
pub fn details(e: &Value) -> String {
    if let Some(d) = e["error_data"]["details"].as_str() {
        return d.to_string();
    }
    let m = e["message"].as_str().unwrap_or("");
    match m.strip_prefix("(#") {
        Some(rest) => rest.split_once(") ").map_or(m, |(_, d)| d).to_string(),
        None => m.to_string(),
    }
}

// ----- Message bodies ------------------------------------------------------------------------

pub fn text_msg(to: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
           "type": "text", "text": {"preview_url": false, "body": body}})
}

pub fn template_msg(to: &str, name: &str, lang: &str, components: Value) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
           "template": {"name": name, "language": {"code": lang}, "components": components}})
}

pub fn hello_world(to: &str) -> Value {
    template_msg(to, "hello_world", "en_US", json!([]))
}

/// A body component with positional text parameters.
pub fn body_params(values: &[&str]) -> Value {
    json!([{"type": "body", "parameters":
        values.iter().map(|v| json!({"type": "text", "text": v})).collect::<Vec<_>>()}])
}
