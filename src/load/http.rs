//! A minimal HTTP/1.1 client connection for the generator's hot path.
//!
//! Why not hyper's client: with hyper each request crosses a channel to a separate connection
//! task and its body goes through another channel; on loopback that user-space overhead made
//! the generator use ~1.4× the CPU of the server it measures, and reach only ~0.75× the request
//! rate of wrk. Here a request is one `write` of a pre-built buffer and the response is parsed
//! in place with `httparse` (the parser hyper itself uses), like wrk does. Scope is exactly what
//! a load generator needs: one request at a time per connection (no pipelining), responses
//! framed by `Content-Length`, `Transfer-Encoding: chunked`, or connection close; `1xx`
//! responses skipped; `Connection: close` honoured.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted. Graph responses are a few hundred bytes (a long template
/// list a few tens of KiB); with hundreds of connections a larger bound would let a broken
/// target grow the generator by hundreds of MB.
const MAX_BODY: usize = 1024 * 1024;
/// A connection's read buffer is given back to the allocator past this size once a response
/// is parsed, so one large answer does not stay resident for the rest of the run.
const KEEP_BUF: usize = 64 * 1024;
/// Response headers parsed at most.
const MAX_HEADERS: usize = 64;

/// Why a request failed at the HTTP level.
#[derive(Debug)]
pub enum HttpError {
    Io(io::Error),
    /// The peer closed the connection before a complete response.
    Closed,
    /// Not a valid HTTP/1.x response, or over the size limits.
    Protocol(String),
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// A parsed response.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// False when the server asked to close (or framed the body by closing): the connection
    /// must not be reused.
    pub keep_alive: bool,
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read but not consumed yet.
    buf: Vec<u8>,
    /// Reused request buffer.
    wbuf: Vec<u8>,
}

/// How the body of a response is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

impl Conn {
    pub async fn connect(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
            wbuf: Vec::with_capacity(1024),
        })
    }

    /// Sends `head` (request line and headers up to, not including, `Content-Length`) with
    /// `body`, and reads the whole response.
    pub async fn request(&mut self, head: &[u8], body: &[u8]) -> Result<Response, HttpError> {
        self.wbuf.clear();
        self.wbuf.extend_from_slice(head);
        self.wbuf.extend_from_slice(b"Content-Length: ");
        let mut itoa = [0u8; 20];
        self.wbuf
            .extend_from_slice(fmt_usize(body.len(), &mut itoa));
        self.wbuf.extend_from_slice(b"\r\n\r\n");
        self.wbuf.extend_from_slice(body);
        self.stream.write_all(&self.wbuf).await?;
        self.read_response().await
    }

    async fn fill(&mut self) -> Result<usize, HttpError> {
        if self.buf.capacity() - self.buf.len() < 2048 {
            self.buf.reserve(4096);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        Ok(n)
    }

    async fn read_response(&mut self) -> Result<Response, HttpError> {
        loop {
            // Parse the head, reading until it is complete.
            let (head_len, status, framing, keep_alive) = loop {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&self.buf) {
                    Ok(httparse::Status::Complete(n)) => {
                        let status = resp.code.unwrap_or(0);
                        let http10 = resp.version == Some(0);
                        let (framing, keep_alive) = framing_of(status, http10, resp.headers)?;
                        break (n, status, framing, keep_alive);
                    }
                    Ok(httparse::Status::Partial) => {
                        if self.buf.len() > MAX_HEAD {
                            return Err(HttpError::Protocol("response head over 64 KiB".into()));
                        }
                        if self.fill().await? == 0 {
                            return Err(HttpError::Closed);
                        }
                    }
                    Err(e) => return Err(HttpError::Protocol(format!("bad response head: {e}"))),
                }
            };
            if (100..200).contains(&status) {
                // Interim response (100 Continue, 103 Early Hints): the real one follows.
                self.buf.drain(..head_len);
                continue;
            }
            let (body, consumed, keep_alive) = match framing {
                Framing::Length(len) => {
                    if len > MAX_BODY {
                        return Err(HttpError::Protocol(format!("body of {len} bytes")));
                    }
                    while self.buf.len() < head_len + len {
                        if self.fill().await? == 0 {
                            return Err(HttpError::Closed);
                        }
                    }
                    (
                        self.buf[head_len..head_len + len].to_vec(),
                        head_len + len,
                        keep_alive,
                    )
                }
                Framing::Chunked => {
                    let (body, end) = self.read_chunked(head_len).await?;
                    (body, end, keep_alive)
                }
                Framing::UntilClose => {
                    while self.fill().await? > 0 {
                        if self.buf.len() - head_len > MAX_BODY {
                            return Err(HttpError::Protocol(format!(
                                "body over {} KiB",
                                MAX_BODY / 1024
                            )));
                        }
                    }
                    (self.buf[head_len..].to_vec(), self.buf.len(), false)
                }
            };
            self.buf.drain(..consumed);
            if self.buf.capacity() > KEEP_BUF {
                self.buf.shrink_to(KEEP_BUF.max(self.buf.len()));
            }
            return Ok(Response {
                status,
                body,
                keep_alive,
            });
        }
    }

    /// Decodes a chunked body starting at `pos`; returns the body and the end offset.
    async fn read_chunked(&mut self, mut pos: usize) -> Result<(Vec<u8>, usize), HttpError> {
        let mut body = Vec::new();
        loop {
            // Chunk size line.
            let line_end = loop {
                if let Some(i) = find_crlf(&self.buf[pos..]) {
                    break pos + i;
                }
                if self.buf.len() - pos > 1024 {
                    return Err(HttpError::Protocol("chunk size line too long".into()));
                }
                if self.fill().await? == 0 {
                    return Err(HttpError::Closed);
                }
            };
            let line = &self.buf[pos..line_end];
            let hex = line.split(|&b| b == b';').next().unwrap_or(b"");
            let size = std::str::from_utf8(hex)
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                .ok_or_else(|| HttpError::Protocol("bad chunk size".into()))?;
            pos = line_end + 2;
            if size == 0 {
                // Trailers, then an empty line.
                loop {
                    match find_crlf(&self.buf[pos..]) {
                        Some(0) => return Ok((body, pos + 2)),
                        Some(i) => pos += i + 2,
                        None => {
                            if self.buf.len() - pos > MAX_HEAD {
                                return Err(HttpError::Protocol("trailers too long".into()));
                            }
                            if self.fill().await? == 0 {
                                return Err(HttpError::Closed);
                            }
                        }
                    }
                }
            }
            if body.len() + size > MAX_BODY {
                return Err(HttpError::Protocol(format!(
                    "body over {} KiB",
                    MAX_BODY / 1024
                )));
            }
            while self.buf.len() < pos + size + 2 {
                if self.fill().await? == 0 {
                    return Err(HttpError::Closed);
                }
            }
            body.extend_from_slice(&self.buf[pos..pos + size]);
            if &self.buf[pos + size..pos + size + 2] != b"\r\n" {
                return Err(HttpError::Protocol("chunk not followed by CRLF".into()));
            }
            pos += size + 2;
        }
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

fn framing_of(
    status: u16,
    http10: bool,
    headers: &[httparse::Header],
) -> Result<(Framing, bool), HttpError> {
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = !http10;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| HttpError::Protocol("bad Content-Length".into()))?;
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .split(|&b| b == b',')
                .next_back()
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let t = token.trim_ascii();
                if t.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    // No body for 1xx, 204 and 304, whatever the headers say.
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok((Framing::Length(0), keep_alive));
    }
    Ok(if chunked {
        (Framing::Chunked, keep_alive)
    } else if let Some(n) = length {
        (Framing::Length(n), keep_alive)
    } else {
        (Framing::UntilClose, false)
    })
}

fn fmt_usize(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Builds the fixed part of a request head: request line, `Host`, `Authorization`,
/// `Content-Type`. Rejects values that would break the framing (CR, LF).
pub fn request_head(method: &str, path: &str, host: &str, auth: &str) -> Result<Vec<u8>, String> {
    for (what, v) in [("path", path), ("host", host), ("authorization", auth)] {
        if v.bytes()
            .any(|b| b == b'\r' || b == b'\n' || (what == "path" && b == b' '))
        {
            return Err(format!(
                "{what} contains characters not allowed in an HTTP request"
            ));
        }
    }
    Ok(format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\n"
    )
    .into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request (read until a blank line and the declared body) with
    /// the next canned response, then closes after the last.
    async fn canned<R: AsRef<[u8]> + Send + 'static>(
        responses: Vec<R>,
    ) -> (String, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = Vec::new();
            for r in responses {
                // Read one request.
                loop {
                    let mut headers = [httparse::EMPTY_HEADER; 16];
                    let mut req = httparse::Request::new(&mut headers);
                    if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                        let len: usize = req
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                            .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                            .unwrap_or(0);
                        if buf.len() >= n + len {
                            seen.push(buf[..n + len].to_vec());
                            buf.drain(..n + len);
                            break;
                        }
                    }
                    let mut chunk = [0u8; 4096];
                    let k = s.read(&mut chunk).await.unwrap();
                    if k == 0 {
                        return seen;
                    }
                    buf.extend_from_slice(&chunk[..k]);
                }
                // Write the response in two pieces to exercise partial reads.
                let r = r.as_ref();
                let mid = r.len() / 2;
                s.write_all(&r[..mid]).await.unwrap();
                s.flush().await.unwrap();
                tokio::task::yield_now().await;
                s.write_all(&r[mid..]).await.unwrap();
            }
            seen
        });
        (addr, h)
    }

    #[tokio::test]
    async fn bodies_over_the_bound_are_refused_and_large_buffers_given_back() {
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let fits = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
            MAX_BODY,
            "x".repeat(MAX_BODY)
        );
        let (addr, _server) = canned(vec![fits.into_bytes(), big.into_bytes()]).await;
        let mut c = Conn::connect(&addr).await.unwrap();
        let head = request_head("POST", "/v23.0/1/messages", &addr, "Bearer t").unwrap();
        let r = c.request(&head, b"{}").await.unwrap();
        assert_eq!(r.body.len(), MAX_BODY, "a body at the bound is read");
        assert!(
            c.buf.capacity() <= KEEP_BUF,
            "the large read buffer is given back"
        );
        match c.request(&head, b"{}").await {
            Err(HttpError::Protocol(m)) => assert!(m.contains("bytes"), "{m}"),
            other => panic!("over the bound must be refused: {other:?}"),
        }
    }

    #[tokio::test]
    async fn content_length_chunked_interim_and_close() {
        let (addr, server) = canned::<&'static [u8]>(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\ngone",
        ])
        .await;
        let mut c = Conn::connect(&addr).await.unwrap();
        let head = request_head("POST", "/v23.0/1/messages", &addr, "Bearer t").unwrap();
        let r = c.request(&head, b"{\"a\":1}").await.unwrap();
        assert_eq!(
            r,
            Response {
                status: 200,
                body: b"hello".to_vec(),
                keep_alive: true
            }
        );
        let r = c.request(&head, b"{}").await.unwrap();
        assert_eq!(
            r,
            Response {
                status: 429,
                body: b"wikipedia".to_vec(),
                keep_alive: true
            }
        );
        let r = c.request(&head, b"").await.unwrap();
        assert_eq!(r.status, 204);
        assert!(r.body.is_empty());
        let r = c.request(&head, b"x").await.unwrap();
        assert_eq!(
            r,
            Response {
                status: 503,
                body: b"gone".to_vec(),
                keep_alive: false
            }
        );
        let seen = server.await.unwrap();
        assert_eq!(seen.len(), 4);
        let first = String::from_utf8(seen[0].clone()).unwrap();
        assert!(
            first.starts_with("POST /v23.0/1/messages HTTP/1.1\r\nHost: "),
            "{first}"
        );
        assert!(first.contains("\r\nAuthorization: Bearer t\r\n"));
        assert!(
            first.ends_with("Content-Length: 7\r\n\r\n{\"a\":1}"),
            "{first}"
        );
    }

    #[tokio::test]
    async fn early_close_and_garbage_are_errors() {
        let (addr, _s) = canned(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
        let mut c = Conn::connect(&addr).await.unwrap();
        let head = request_head("POST", "/", &addr, "Bearer t").unwrap();
        assert!(matches!(
            c.request(&head, b"").await,
            Err(HttpError::Closed)
        ));
        let (addr, _s) = canned(vec![b"SMTP ready\r\n\r\n"]).await;
        let mut c = Conn::connect(&addr).await.unwrap();
        assert!(matches!(
            c.request(&head, b"").await,
            Err(HttpError::Protocol(_))
        ));
        assert!(request_head("POST", "/", "h", "Bearer a\r\nX: y").is_err());
    }

    #[test]
    fn itoa() {
        let mut b = [0u8; 20];
        assert_eq!(fmt_usize(0, &mut b), b"0");
        assert_eq!(fmt_usize(1234567, &mut b), b"1234567");
    }
}
