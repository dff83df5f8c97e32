//! Durable state of `serve --state-dir DIR`: a command journal and a settle log.
//!
//! The core is a deterministic state machine: the same calls with the same `now`s give the
//! same effects, byte for byte (see [`crate::engine::Portfolio`]). So the server does not
//! save the world, it saves what happened to it: every state-changing request (with the `now`
//! it was served at) and every timer firing is appended to `journal.jsonl` before it runs,
//! under one lock, so the journal's order is the order the core saw. A restart builds the
//! same world from the same scenario, replays the journal through the same handlers, and so
//! regenerates the same state and the same webhook events. Each event has a number in push
//! order (the journal's order again); `settled.log` lists the numbers delivered, expired or
//! dropped, and a replay queues only the others.
//!
//! Files (one line per record, JSON; a line is written with one `write` call before the
//! request runs, so a `kill -9` loses at most the line being written):
//!
//! - `journal.jsonl`: a [`Header`] line, then [`Record`] lines.
//! - `settled.log`: lines `FIRST LAST` (inclusive ranges of settled event numbers).
//!
//! A torn last line (the process died while writing it) is dropped and reported; any other
//! unreadable line is refused with its line number, as is a directory written for another
//! world, clock mode or format version.

use super::{control, graph_route, routes, AppState, Ctx};
use crate::clock::{ClockMode, SimTime};
use crate::webhooks::SettleLog;
use base64::Engine as _;
use bytes::Bytes;
use hyper::Method;
use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The journal's format name and version: a restart refuses any other.
pub const FORMAT: &str = "wabasim-state";
pub const VERSION: u32 = 1;
const JOURNAL: &str = "journal.jsonl";
const SETTLED: &str = "settled.log";

/// The first line of the journal: what the state belongs to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// SHA-256 of the world and the settings that change what the core decides
    /// ([`fingerprint`]).
    pub world: String,
    /// `wall` or `manual`.
    pub clock: String,
    /// The simulated instant the world was built at (stamps the scenario's templates), µs.
    pub built_at: u64,
    /// The clock's start, µs: a manual clock starts here again and replays its advances.
    pub clock_start: u64,
}

impl Header {
    pub fn new(world: String, clock: ClockMode, start: SimTime) -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            world,
            clock: clock_name(clock).into(),
            built_at: start.0,
            clock_start: start.0,
        }
    }
}

fn clock_name(c: ClockMode) -> &'static str {
    match c {
        ClockMode::Wall => "wall",
        ClockMode::Manual => "manual",
    }
}

/// SHA-256 (hex) of `parts` as canonical JSON (object keys sorted), for [`Header::world`].
pub fn fingerprint(parts: &Value) -> String {
    fn canonical(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<_> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), canonical(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
            x => x.clone(),
        }
    }
    hex::encode(Sha256::digest(canonical(parts).to_string().as_bytes()))
}

/// One input the server passed to the core.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    /// A state-changing Graph request by business `biz` (non-GET).
    Graph {
        now: u64,
        biz: u64,
        method: String,
        /// The path without the API version.
        path: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        query: String,
        #[serde(flatten)]
        body: Body,
        /// Only uploads need it (the multipart boundary).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
    },
    /// A state-changing `/_sim` request (clock, users, onboarding, …; not faults).
    Control {
        now: u64,
        method: String,
        /// The path after `/_sim`.
        path: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        query: String,
        #[serde(flatten)]
        body: Body,
    },
    /// The timer task fired what was due at `now`.
    Timers { now: u64 },
}

impl Record {
    pub fn now(&self) -> u64 {
        match self {
            Record::Graph { now, .. } | Record::Control { now, .. } | Record::Timers { now } => {
                *now
            }
        }
    }
}

/// A request body: text as it came, anything else in base64.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Body {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_b64: Option<String>,
}

impl Body {
    pub fn of(bytes: &[u8]) -> Body {
        match std::str::from_utf8(bytes) {
            Ok("") => Body::default(),
            Ok(s) => Body {
                body: Some(s.to_string()),
                body_b64: None,
            },
            Err(_) => Body {
                body: None,
                body_b64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            },
        }
    }

    fn bytes(&self) -> Result<Bytes, String> {
        match (&self.body, &self.body_b64) {
            (Some(s), _) => Ok(Bytes::from(s.clone())),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map(Bytes::from)
                .map_err(|e| format!("body_b64: {e}")),
            (None, None) => Ok(Bytes::new()),
        }
    }
}

/// What a state directory held when the server started.
#[derive(Debug)]
pub struct Restored {
    pub header: Header,
    /// The journal's records, in order.
    pub records: Vec<Record>,
    pub settled: Ranges,
    /// Whether the directory was new (nothing to replay).
    pub fresh: bool,
    /// Things worth telling the operator (a torn last line dropped).
    pub notes: Vec<String>,
}

impl Restored {
    /// The latest `now` the journal saw (the clock must not go back behind it).
    pub fn last_now(&self) -> Option<SimTime> {
        self.records.iter().map(|r| SimTime(r.now())).max()
    }
}

/// An open state directory: the journal and the settle log, appended to.
pub struct StateDir {
    dir: PathBuf,
    journal: Mutex<File>,
    settled_file: Mutex<File>,
    /// Settled before this process started (a replay does not queue these again).
    settled_before: Ranges,
}

/// Opens (or creates) the append-only file `file` of `dir` and reads what it holds.
fn open_log(dir: &Path, file: &str) -> Result<(File, Vec<u8>), String> {
    let fail = |e: std::io::Error| format!("--state-dir {}: {file}: {e}", dir.display());
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(dir.join(file))
        .map_err(fail)?;
    let mut text = Vec::new();
    f.read_to_end(&mut text).map_err(fail)?;
    Ok((f, text))
}

/// Cuts `f` (file `file` of `dir`) back to its first `len` bytes, dropping a torn tail.
fn cut(f: &mut File, len: usize, dir: &Path, file: &str) -> Result<(), String> {
    f.set_len(len as u64)
        .and_then(|()| f.seek(SeekFrom::End(0)).map(|_| ()))
        .map_err(|e| format!("--state-dir {}: {file}: {e}", dir.display()))
}

impl StateDir {
    /// Opens (or creates) `dir`. A new directory gets `header`; an existing one must carry the
    /// same format, version, world and clock mode. Returns the directory, ready to append
    /// to, and what it held.
    pub fn open(dir: &Path, header: Header) -> Result<(StateDir, Restored), String> {
        let name = dir.display();
        std::fs::create_dir_all(dir).map_err(|e| format!("--state-dir {name}: {e}"))?;
        let (mut journal, text) = open_log(dir, JOURNAL)?;
        let mut notes = Vec::new();
        let (restored_header, records, fresh) = if text.is_empty() {
            let mut line = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
            line.push(b'\n');
            journal
                .write_all(&line)
                .map_err(|e| format!("--state-dir {name}: {JOURNAL}: {e}"))?;
            (header, Vec::new(), true)
        } else {
            let parsed = parse_journal(&text).map_err(|e| format!("--state-dir {name}: {e}"))?;
            check_header(&parsed.header, &header).map_err(|e| {
                format!("--state-dir {name} cannot be continued: {e}; start with the settings it was written with, or use another directory")
            })?;
            if parsed.good_len < text.len() {
                notes.push(format!(
                    "{JOURNAL}: dropped a torn last record ({} bytes; the process stopped while writing it)",
                    text.len() - parsed.good_len
                ));
                cut(&mut journal, parsed.good_len, dir, JOURNAL)?;
            }
            (parsed.header, parsed.records, false)
        };
        let (mut settled_file, text) = open_log(dir, SETTLED)?;
        let (settled, good) =
            parse_settled(&text).map_err(|e| format!("--state-dir {name}: {SETTLED}: {e}"))?;
        if good < text.len() {
            notes.push(format!(
                "{SETTLED}: dropped a torn last line ({} bytes)",
                text.len() - good
            ));
            cut(&mut settled_file, good, dir, SETTLED)?;
        }
        let restored = Restored {
            header: restored_header,
            records,
            settled: settled.clone(),
            fresh,
            notes,
        };
        let state = StateDir {
            dir: dir.to_path_buf(),
            journal: Mutex::new(journal),
            settled_file: Mutex::new(settled_file),
            settled_before: settled,
        };
        Ok((state, restored))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the journal lock: held while a request reads its `now`, is appended and runs.
    pub fn lock(&self) -> JournalGuard<'_> {
        JournalGuard {
            file: self.journal.lock(),
        }
    }

    /// Flushes both files to the disk (at a graceful stop).
    pub fn sync(&self) -> std::io::Result<()> {
        self.journal.lock().sync_all()?;
        self.settled_file.lock().sync_all()
    }
}

/// The journal, locked.
pub struct JournalGuard<'a> {
    file: MutexGuard<'a, File>,
}

impl JournalGuard<'_> {
    /// Appends one record as one line, with one `write` call.
    pub fn append(&mut self, r: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }
}

impl SettleLog for StateDir {
    fn was_settled(&self, n: u64) -> bool {
        self.settled_before.contains(n)
    }

    fn settle(&self, ns: &[u64]) {
        if ns.is_empty() {
            return;
        }
        let mut text = String::new();
        for (a, b) in runs(ns) {
            text.push_str(&format!("{a} {b}\n"));
        }
        if let Err(e) = self.settled_file.lock().write_all(text.as_bytes()) {
            // The events were delivered: failing to note it means a restart sends them again
            // (a duplicate, within the at-least-once promise), never a loss.
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not write {SETTLED}");
        }
    }
}

/// `ns` as inclusive runs of consecutive numbers, in order.
fn runs(ns: &[u64]) -> Vec<(u64, u64)> {
    let mut sorted = ns.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for n in sorted {
        match out.last_mut() {
            Some((_, b)) if n <= *b + 1 => *b = (*b).max(n),
            _ => out.push((n, n)),
        }
    }
    out
}

/// A set of event numbers as sorted, disjoint inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    fn from_unsorted(mut v: Vec<(u64, u64)>) -> Ranges {
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (a, b) in v {
            match out.last_mut() {
                Some((_, hi)) if a <= hi.saturating_add(1) => *hi = (*hi).max(b),
                _ => out.push((a, b)),
            }
        }
        Ranges(out)
    }

    pub fn contains(&self, n: u64) -> bool {
        let i = self.0.partition_point(|&(a, _)| a <= n);
        i > 0 && n <= self.0[i - 1].1
    }

    /// How many numbers the set holds.
    pub fn len(&self) -> u64 {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct Parsed {
    header: Header,
    records: Vec<Record>,
    /// Bytes up to the end of the last good line.
    good_len: usize,
}

/// Reads a journal. The last line may be torn (no newline, or not a record): it is left out
/// of `good_len`. Any earlier bad line is an error naming its line number.
fn parse_journal(text: &[u8]) -> Result<Parsed, String> {
    let mut lines = Lines::new(text);
    let (first, complete) = lines.next().ok_or_else(|| format!("{JOURNAL}: empty"))?;
    let header: Header = match serde_json::from_slice(first) {
        Ok(h) if complete => h,
        _ => {
            return Err(format!(
                "{JOURNAL}: line 1 is not a wabasim state header (format \"{FORMAT}\"); is this a state directory?"
            ))
        }
    };
    let mut records = Vec::new();
    let mut good_len = lines.pos;
    let mut n = 1;
    while let Some((line, complete)) = lines.next() {
        n += 1;
        let parsed = serde_json::from_slice::<Record>(line);
        match parsed {
            Ok(r) if complete => {
                records.push(r);
                good_len = lines.pos;
            }
            Err(e) if complete && !lines.at_end() => {
                return Err(format!("{JOURNAL}: line {n}: not a record ({e})"));
            }
            // The last line: without its newline, or unreadable: the process died in the
            // middle of writing it.
            _ => break,
        }
    }
    Ok(Parsed {
        header,
        records,
        good_len,
    })
}

/// Reads the settle log; a torn last line is left out of the length returned.
fn parse_settled(text: &[u8]) -> Result<(Ranges, usize), String> {
    let mut lines = Lines::new(text);
    let mut v = Vec::new();
    let mut good = 0;
    let mut n = 0;
    while let Some((line, complete)) = lines.next() {
        n += 1;
        let pair = std::str::from_utf8(line).ok().and_then(|l| {
            let (a, b) = l.split_once(' ')?;
            let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
            (a <= b).then_some((a, b))
        });
        match pair {
            Some(p) if complete => {
                v.push(p);
                good = lines.pos;
            }
            None if complete && !lines.at_end() => {
                return Err(format!("line {n}: not 'FIRST LAST'"));
            }
            _ => break,
        }
    }
    Ok((Ranges::from_unsorted(v), good))
}

/// Lines of a byte buffer, each with whether it ended in a newline.
struct Lines<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8]) -> Self {
        Lines { text, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn next(&mut self) -> Option<(&'a [u8], bool)> {
        if self.at_end() {
            return None;
        }
        let rest = &self.text[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Some((&rest[..i], true))
            }
            None => {
                self.pos = self.text.len();
                Some((rest, false))
            }
        }
    }
}

fn check_header(found: &Header, want: &Header) -> Result<(), String> {
    if found.format != want.format || found.version != want.version {
        return Err(format!(
            "its format is {} version {}, this wabasim reads {} version {}",
            found.format, found.version, want.format, want.version
        ));
    }
    if found.world != want.world {
        return Err(format!(
            "it was written for a different world (fingerprint {}…, this one is {}…: the scenario, --partition, --partition-file, --seed, --token or --media-id-errors differ)",
            &found.world[..found.world.len().min(12)],
            &want.world[..want.world.len().min(12)]
        ));
    }
    if found.clock != want.clock {
        return Err(format!(
            "it was written with --clock {}, this server has --clock {}",
            found.clock, want.clock
        ));
    }
    Ok(())
}

impl AppState {
    /// Replays a state directory's journal, then journals into it everything that follows.
    /// Call before serving (the timer task included): the replay is the world's past.
    pub fn restore(&self, dir: std::sync::Arc<StateDir>, records: &[Record]) -> Result<(), String> {
        for (i, r) in records.iter().enumerate() {
            // Line numbers: the header is line 1.
            replay(self, r).map_err(|e| {
                format!(
                    "--state-dir {}: {JOURNAL}: line {}: {e}",
                    dir.dir().display(),
                    i + 2
                )
            })?;
        }
        let _ = self.state_dir.set(dir);
        Ok(())
    }
}

/// Whether a control route changes the world (and so is journaled). Faults are left out:
/// they shape answers, not state. Every route is named, so a new one needs a decision here.
pub(super) fn changes_state(c: &routes::Control<'_>) -> bool {
    use routes::Control as C;
    match c {
        C::AdvanceClock
        | C::Inbound
        | C::RecipientAction(_)
        | C::Onboard
        | C::Reinstate(_)
        | C::Reregister(_)
        | C::Recategorise(_) => true,
        C::Ui
        | C::UiEvents
        | C::Inspect
        | C::Health
        | C::State
        | C::Events
        | C::Ledger
        | C::Faults
        | C::AddFault
        | C::ClearFaults
        | C::Webhooks
        | C::StatusTable
        | C::Verticals
        | C::Businesses
        | C::Identity(_)
        | C::Unknown => false,
    }
}

/// Replays one record through the same handlers a live request goes through. Replays are
/// not journaled again (the journal is attached after them).
pub(super) fn replay(state: &AppState, r: &Record) -> Result<(), String> {
    match r {
        Record::Timers { now } => {
            state.fire_due(SimTime(*now));
            Ok(())
        }
        Record::Graph {
            now,
            biz,
            method,
            path,
            query,
            body,
            content_type,
        } => {
            let method = parse_method(method)?;
            let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let route = routes::Route::of(&method, &segs, |id| routes::object_label(state, id));
            let routes::Route::Graph(_, endpoint) = route else {
                return Err(format!("{path}: not a Graph route"));
            };
            let mut headers = hyper::HeaderMap::new();
            if let Some(ct) = content_type.as_deref().and_then(|c| c.parse().ok()) {
                headers.insert(hyper::header::CONTENT_TYPE, ct);
            }
            let ctx = replay_ctx(state, &method, route.label(), &headers, *now);
            let q = super::query::Query::parse(Some(query));
            let body = body.bytes()?;
            let _ = graph_route(
                &ctx,
                crate::engine::ids::BusinessId(*biz),
                endpoint,
                &segs,
                &q,
                &body,
            );
            Ok(())
        }
        Record::Control {
            now,
            method,
            path,
            query,
            body,
        } => {
            let method = parse_method(method)?;
            let mut segs: Vec<&str> = vec!["_sim"];
            segs.extend(path.split('/').filter(|s| !s.is_empty()));
            let route = routes::Route::of(&method, &segs, |id| routes::object_label(state, id));
            let routes::Route::Control(endpoint) = route else {
                return Err(format!("/_sim/{path}: not a control route"));
            };
            let headers = hyper::HeaderMap::new();
            let ctx = replay_ctx(state, &method, route.label(), &headers, *now);
            let q = super::query::Query::parse(Some(query));
            let body = body.bytes()?;
            let _ = control::handle(&ctx, endpoint, &method, &segs[1..], &q, &body);
            Ok(())
        }
    }
}

fn replay_ctx<'a>(
    state: &'a AppState,
    method: &Method,
    label: super::metrics::Label,
    headers: &'a hyper::HeaderMap,
    now: u64,
) -> Ctx<'a> {
    Ctx {
        state,
        version: state.cfg.default_api_version.clone(),
        trace: String::new(),
        label,
        method: super::errors::method_word(method),
        local: true,
        headers,
        now: SimTime(now),
    }
}

fn parse_method(m: &str) -> Result<Method, String> {
    m.parse::<Method>()
        .map_err(|_| format!("'{m}' is not an HTTP method"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wabasim-durable-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn header(world: &str) -> Header {
        Header::new(world.into(), ClockMode::Manual, SimTime::from_secs(1_000))
    }

    fn send(now: u64) -> Record {
        Record::Graph {
            now,
            biz: 7,
            method: "POST".into(),
            path: "/123/messages".into(),
            query: String::new(),
            body: Body::of(br#"{"to":"1"}"#),
            content_type: None,
        }
    }

    #[test]
    fn records_round_trip_and_a_new_directory_is_fresh() {
        let d = tmp("roundtrip");
        let (s, r) = StateDir::open(&d, header("w1")).unwrap();
        assert!(r.fresh && r.records.is_empty() && r.settled.is_empty());
        let recs = vec![
            send(5),
            Record::Timers { now: 9 },
            Record::Control {
                now: 10,
                method: "POST".into(),
                path: "clock/advance".into(),
                query: String::new(),
                body: Body::of(br#"{"seconds":1}"#),
            },
            Record::Graph {
                now: 11,
                biz: 7,
                method: "POST".into(),
                path: "/123/media".into(),
                query: "a=b".into(),
                body: Body::of(&[0xff, 0, 1]),
                content_type: Some("multipart/form-data; boundary=x".into()),
            },
        ];
        for r in &recs {
            s.lock().append(r).unwrap();
        }
        s.settle(&[3, 1, 2, 7]);
        drop(s);
        let (s, r) = StateDir::open(&d, header("w1")).unwrap();
        assert!(!r.fresh && r.notes.is_empty(), "{:?}", r.notes);
        assert_eq!(r.records, recs);
        assert_eq!(r.last_now(), Some(SimTime(11)));
        assert_eq!(r.settled, Ranges(vec![(1, 3), (7, 7)]));
        assert!(s.was_settled(2) && s.was_settled(7));
        assert!(!s.was_settled(0) && !s.was_settled(4) && !s.was_settled(8));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_reported_and_the_file_cut_back() {
        let d = tmp("torn");
        let (s, _) = StateDir::open(&d, header("w1")).unwrap();
        s.lock().append(&send(5)).unwrap();
        s.settle(&[0]);
        drop(s);
        let j = d.join(JOURNAL);
        let good = std::fs::metadata(&j).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&j).unwrap();
        f.write_all(br#"{"op":"graph","now":12,"bi"#).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(d.join(SETTLED))
            .unwrap();
        f.write_all(b"4 ").unwrap();
        let (s, r) = StateDir::open(&d, header("w1")).unwrap();
        assert_eq!(r.records, vec![send(5)]);
        assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
        assert!(r.notes[0].contains("torn"), "{:?}", r.notes);
        assert_eq!(std::fs::metadata(&j).unwrap().len(), good);
        // Appends continue after the good part.
        s.lock().append(&Record::Timers { now: 20 }).unwrap();
        drop(s);
        let (_, r) = StateDir::open(&d, header("w1")).unwrap();
        assert_eq!(r.records, vec![send(5), Record::Timers { now: 20 }]);
        assert!(r.notes.is_empty());
        assert_eq!(r.settled, Ranges(vec![(0, 0)]));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_bad_line_before_the_end_is_refused_with_its_number() {
        let d = tmp("bad");
        let (s, _) = StateDir::open(&d, header("w1")).unwrap();
        s.lock().append(&send(5)).unwrap();
        drop(s);
        let j = d.join(JOURNAL);
        let mut f = OpenOptions::new().append(true).open(&j).unwrap();
        f.write_all(b"garbage\n").unwrap();
        f.write_all(b"{\"op\":\"timers\",\"now\":3}\n").unwrap();
        let e = StateDir::open(&d, header("w1")).err().unwrap();
        assert!(
            e.contains("line 3") && e.contains(&d.display().to_string()),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn another_world_clock_or_version_is_refused() {
        let d = tmp("mismatch");
        drop(StateDir::open(&d, header("w1")).unwrap());
        let e = StateDir::open(&d, header("w2")).err().unwrap();
        assert!(
            e.contains("different world") && e.contains(&d.display().to_string()),
            "{e}"
        );
        let wall = Header::new("w1".into(), ClockMode::Wall, SimTime(1));
        let e = StateDir::open(&d, wall).err().unwrap();
        assert!(e.contains("--clock manual"), "{e}");
        let newer = Header {
            version: VERSION + 1,
            ..header("w1")
        };
        let e = StateDir::open(&d, newer).err().unwrap();
        assert!(e.contains("version"), "{e}");
        // The same settings continue.
        assert!(StateDir::open(&d, header("w1")).is_ok());
        std::fs::write(d.join(JOURNAL), "not json\n").unwrap();
        let e = StateDir::open(&d, header("w1")).err().unwrap();
        assert!(e.contains("not a wabasim state header"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn ranges_merge_and_answer_membership() {
        let r = Ranges::from_unsorted(vec![(5, 6), (0, 1), (2, 2), (9, 12), (10, 11)]);
        assert_eq!(r, Ranges(vec![(0, 2), (5, 6), (9, 12)]));
        assert_eq!(r.len(), 9);
        let inside: Vec<u64> = (0..14).filter(|&n| r.contains(n)).collect();
        assert_eq!(inside, [0, 1, 2, 5, 6, 9, 10, 11, 12]);
        assert_eq!(runs(&[4, 1, 2, 9, 3]), [(1, 4), (9, 9)]);
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_values() {
        let a = serde_json::json!({"a": 1, "b": {"x": [1, 2], "y": "z"}});
        let b = serde_json::json!({"b": {"y": "z", "x": [1, 2]}, "a": 1});
        let c = serde_json::json!({"a": 2, "b": {"x": [1, 2], "y": "z"}});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }
}
