//! The HTTP side: the URL rules, one POST, and the verification handshake.
//!
//! Plain HTTP/1.1 only (hyper-util's pooled client, keep-alive): the simulator talks to a
//! receiver on loopback or a LAN; TLS would add a dependency and measure the TLS stack rather than
//! the receiver. Put a TLS-terminating proxy in front if the receiver only speaks https.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The `User-Agent` Meta's webhook deliveries carry.
pub const USER_AGENT_VALUE: &str = "facebookexternalua";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Parses and checks a webhook URL: `http://host[:port][/path][?query]`.
pub fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("webhook URL '{url}' is not a valid URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "webhook URL '{url}': https:// is not supported (the simulator has no TLS client); \
                 use http:// (e.g. a loopback receiver, or a TLS-terminating proxy in front of it)"
            ))
        }
        _ => {
            return Err(format!(
                "webhook URL '{url}' must start with http:// (e.g. http://127.0.0.1:8080/webhook)"
            ))
        }
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(format!("webhook URL '{url}' has no host"));
    }
    Ok(uri)
}

pub(crate) fn build_client(timeout_ms: u64) -> HttpClient {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(Duration::from_millis(timeout_ms.max(1))));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(conn)
}

/// POSTs one signed body. `Ok` on any 2xx; `Err` says why not (status, connection error or
/// timeout), for `last_error` and the logs. The response body is read (and discarded) so the
/// connection can be reused.
pub(crate) async fn post(
    client: &HttpClient,
    uri: &Uri,
    body: Bytes,
    signature: &HeaderValue,
    timeout: Duration,
) -> Result<(), String> {
    let req = Request::builder()
        .method(Method::POST)
        .uri(uri.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature.clone())
        .header(USER_AGENT, USER_AGENT_VALUE)
        .body(Full::new(body))
        .map_err(|e| format!("building request: {e}"))?;
    let attempt = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("connection error: {}", error_chain(&e)))?;
        let status = resp.status();
        // Drain the body: a receiver may answer slowly, and an unread body blocks reuse.
        let _ = resp.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("timeout after {} ms", timeout.as_millis())),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters pass as they are).
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The verification handshake (see [`super::verify_endpoint`]).
pub(crate) async fn handshake(
    url: &str,
    verify_token: &str,
    timeout_ms: u64,
) -> Result<(), String> {
    let base = parse_url(url)?;
    let challenge = rand::random::<u32>().to_string();
    let sep = if base.query().is_some() { '&' } else { '?' };
    let full = format!(
        "{url}{sep}hub.mode=subscribe&hub.challenge={challenge}&hub.verify_token={}",
        query_escape(verify_token)
    );
    let uri: Uri = full
        .parse()
        .map_err(|e| format!("webhook verification URL '{full}' is invalid: {e}"))?;
    let client = build_client(timeout_ms);
    let req = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(USER_AGENT, USER_AGENT_VALUE)
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("building request: {e}"))?;
    let timeout = Duration::from_millis(timeout_ms.max(1));
    let fut = async {
        let resp = client.request(req).await.map_err(|e| {
            format!(
                "webhook verification failed: GET {url} → {}",
                error_chain(&e)
            )
        })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("webhook verification failed: reading the answer of {url}: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, body))
    };
    let (status, body) = tokio::time::timeout(timeout, fut).await.map_err(|_| {
        format!("webhook verification failed: GET {url} got no answer within {timeout_ms} ms")
    })??;
    if status.as_u16() == 200 && body.as_ref() == challenge.as_bytes() {
        return Ok(());
    }
    let hint = match status.as_u16() {
        200 => "the receiver must answer with the hub.challenge value verbatim (no quotes, no JSON, no newline)",
        401 | 403 => "the receiver refused the verify token: check that it matches the configured verify_token",
        _ => "the receiver must answer GET requests with hub.mode=subscribe and a matching hub.verify_token",
    };
    Err(format!(
        "webhook verification failed: GET {url}{sep}hub.mode=subscribe&hub.challenge={challenge}&hub.verify_token=<verify_token> \
         answered HTTP {} with body {}; expected HTTP 200 with exactly the hub.challenge value \"{challenge}\" \
         as the body ({hint})",
        status.as_u16(),
        excerpt(&body)
    ))
}

/// The first 200 bytes of a body, quoted, for error messages.
fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(200)];
    let s = String::from_utf8_lossy(cut);
    let more = if body.len() > cut.len() { "…" } else { "" };
    format!("{:?}{more}", s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(parse_url("http://127.0.0.1:9/hook").is_ok());
        assert!(parse_url("http://localhost/hook?x=1").is_ok());
        let e = parse_url("https://example.com/hook").unwrap_err();
        assert!(e.contains("https:// is not supported"), "{e}");
        assert!(parse_url("ftp://x/").unwrap_err().contains("http://"));
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("a b&c=d~é"), "a%20b%26c%3Dd~%C3%A9");
    }
}
