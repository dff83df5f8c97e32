//! Query-string parsing (percent-decoding, `+` as space): small enough to keep by hand.

/// Decoded query parameters, in order, and the absolute URL of the request without its query
/// (`paging.next` and `previous` are built on it, see `server::paging`).
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>, String);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let Some(q) = q else {
            return Query::default();
        };
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
            String::new(),
        )
    }

    /// The same query, for a request whose URL without the query is `base`.
    pub fn with_base(mut self, base: String) -> Query {
        self.1 = base;
        self
    }

    /// The request's absolute URL without the query (empty when unknown).
    pub fn base(&self) -> &str {
        &self.1
    }

    /// Every parameter, decoded, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        let q = Query::parse(Some("fields=a%2Cb&name=hello+world&x&bad=%zz&end=%4"));
        assert_eq!(q.get("fields"), Some("a,b"));
        assert_eq!(q.get("name"), Some("hello world"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("end"), Some("%4"));
        assert_eq!(q.get("none"), None);
    }
}
