//! Graph's cursor paging, one helper for every list the server returns (`phone_numbers`,
//! `message_templates`, `owned_`/`client_whatsapp_business_accounts`, `subscribed_apps`).
//!
//! Shape (Graph's "Paginated Results" page): `{"data": [...], "paging": {"cursors": {"before",
//! "after"}, "previous"?, "next"?}}`. `next` and `previous` are absolute URLs on the server's
//! own base URL (the request's `Host`, else the listen address) that echo the request's query
//! with the cursor replaced, `access_token` included, as Graph's do; a client library follows
//! them as they are. Cursors are opaque (base64 of a position). An empty `after=` or `before=`
//! is no cursor: client libraries send `after=` for the first page.
//!
//! `limit` defaults to 25 (Graph's documented default in its examples); above [`MAX_LIMIT`] it is
//! lowered silently, as Graph does for edges with a maximum ("some edges may have a maximum on
//! the limit value... the API returns the correct pagination links"). `summary=total_count`
//! adds `"summary": {"total_count": N}`.

use super::query::Query;
use crate::engine::errors::ErrorCode;
use crate::engine::Rejection;
use base64::Engine as _;
use serde_json::{json, Value};

/// Items per page when the request gives no `limit`.
pub const DEFAULT_LIMIT: usize = 25;
/// Largest page served; a larger `limit` is lowered to it (Meta publishes no maximum for these
/// edges: this keeps a response bounded).
pub const MAX_LIMIT: usize = 1_000;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn encode(i: usize) -> String {
    B64.encode(format!("idx:{i}"))
}

/// A cursor parameter: `None` when absent or empty, 100 when it is not one of ours.
fn cursor(q: &Query, name: &str) -> Result<Option<usize>, Rejection> {
    match q.get(name) {
        None | Some("") => Ok(None),
        Some(c) => B64
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("idx:").and_then(|n| n.parse().ok()))
            .map(Some)
            .ok_or_else(|| {
                Rejection::new(
                    ErrorCode::InvalidParameter,
                    format!("{name}: '{c}' is not a valid cursor"),
                )
            }),
    }
}

/// `limit`: a positive integer (empty means the default), at most [`MAX_LIMIT`].
pub fn limit(q: &Query) -> Result<usize, Rejection> {
    match q.get("limit") {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n.min(MAX_LIMIT))
            .ok_or_else(|| {
                Rejection::new(
                    ErrorCode::InvalidParameter,
                    format!("limit: '{l}' is not a positive integer"),
                )
            }),
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay as they are).
fn encode_component(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The request's URL with `limit` set and the cursors replaced by `name=value`.
fn link(q: &Query, limit: usize, name: &str, value: &str) -> String {
    let mut url = String::from(q.base());
    url.push('?');
    let mut first = true;
    let mut push = |k: &str, v: &str, url: &mut String| {
        if !first {
            url.push('&');
        }
        first = false;
        encode_component(k, url);
        url.push('=');
        encode_component(v, url);
    };
    for (k, v) in q.pairs() {
        if !matches!(k.as_str(), "after" | "before" | "limit") {
            push(k, v, &mut url);
        }
    }
    push("limit", &limit.to_string(), &mut url);
    push(name, value, &mut url);
    url
}

/// One page of `items` as Graph answers a list, from the request's `limit`, `after`, `before`
/// and `summary`.
pub fn page(items: Vec<Value>, q: &Query) -> Result<Value, Rejection> {
    let limit = limit(q)?;
    let total = items.len();
    let (start, end) = match (cursor(q, "after")?, cursor(q, "before")?) {
        (Some(a), _) => (a + 1, (a + 1).saturating_add(limit)),
        (None, Some(b)) => (b.saturating_sub(limit), b),
        (None, None) => (0, limit),
    };
    let start = start.min(total);
    let end = end.min(total).max(start);
    let data: Vec<Value> = items.into_iter().skip(start).take(end - start).collect();
    let mut paging = json!({});
    if !data.is_empty() {
        paging["cursors"] = json!({"before": encode(start), "after": encode(end - 1)});
    }
    if end < total {
        paging["next"] = json!(link(q, limit, "after", &encode(end - 1)));
    }
    if start > 0 && !data.is_empty() {
        paging["previous"] = json!(link(q, limit, "before", &encode(start)));
    }
    let mut out = json!({"data": data, "paging": paging});
    if q.get("summary")
        .is_some_and(|s| s.split(',').any(|f| f.trim() == "total_count"))
    {
        out["summary"] = json!({"total_count": total});
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(Some(s)).with_base("http://h:1/v23.0/1/phone_numbers".into())
    }

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!(i)).collect()
    }

    #[test]
    fn next_links_are_absolute_and_can_be_followed() {
        let p = page(items(5), &q("access_token=t&after=&limit=2")).unwrap();
        assert_eq!(p["data"], json!([0, 1]));
        let next = p["paging"]["next"].as_str().unwrap();
        assert!(
            next.starts_with("http://h:1/v23.0/1/phone_numbers?access_token=t&limit=2&after="),
            "{next}"
        );
        let query = next.split_once('?').unwrap().1;
        let p2 = page(items(5), &q(query)).unwrap();
        assert_eq!(p2["data"], json!([2, 3]));
        let prev = p2["paging"]["previous"].as_str().unwrap();
        let p1 = page(items(5), &q(prev.split_once('?').unwrap().1)).unwrap();
        assert_eq!(p1["data"], json!([0, 1]));
        let last = page(
            items(5),
            &q(p2["paging"]["next"]
                .as_str()
                .unwrap()
                .split_once('?')
                .unwrap()
                .1),
        )
        .unwrap();
        assert_eq!(last["data"], json!([4]));
        assert!(last["paging"].get("next").is_none());
    }

    #[test]
    fn limits_summaries_and_bad_cursors() {
        let p = page(items(30), &q("summary=total_count")).unwrap();
        assert_eq!(p["data"].as_array().unwrap().len(), DEFAULT_LIMIT);
        assert_eq!(p["summary"]["total_count"], 30);
        let p = page(items(2000), &q("limit=5000")).unwrap();
        assert_eq!(p["data"].as_array().unwrap().len(), MAX_LIMIT);
        assert!(page(items(1), &q("limit=0")).is_err());
        assert!(page(items(1), &q("after=nope!")).is_err());
        let empty = page(vec![], &q("")).unwrap();
        assert_eq!(empty, json!({"data": [], "paging": {}}));
    }
}
