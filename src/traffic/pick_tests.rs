use super::*;
use crate::engine::message::Content;
use crate::traffic::conversations::Contact;
use crate::traffic::plan::{PlanContext, Segment};
use crate::traffic::spec::LoadScenario;

/// A plan over two segments ("a" 3× the weight of "b"), numbers "111" and "222".
fn plan(phases: &str) -> Arc<LoadPlan> {
    let ctx = PlanContext {
        phone_numbers: vec!["111".into(), "222".into()],
        owners: vec!["1".into(), "2".into()],
        segments: vec![
            Segment {
                name: "a".into(),
                pool: RecipientPool::Sequence {
                    prefix: "49".into(),
                    start: 0,
                    count: 1000,
                    digits: 6,
                },
            },
            Segment {
                name: "b".into(),
                pool: RecipientPool::List {
                    wa_ids: vec!["+62 811 000 001".into(), "62811000002".into()],
                },
            },
        ],
        templates: None,
        service_window: None,
    };
    let s = LoadScenario::from_toml_str(phases, "t.toml").unwrap();
    Arc::new(LoadPlan::build(s.traffic.as_ref().unwrap(), None, ctx).unwrap())
}

const MIXED: &str = r#"
[[traffic.phases]]
name = "p"
messages = 100
open = { rate = 10 }
recipients = { segments = { a = 3, b = 1 }, returning = 0.3, hot = 2, hot_share = 0.1 }
[[traffic.phases.mix]]
weight = 6
template = { name = "t", params = ["{wa_id}", "A-{seq}"], identity_hash = "first_seen" }
[[traffic.phases.mix]]
weight = 2
inbound = { text = "hi {seq}" }
[[traffic.phases.mix]]
weight = 2
text = { body = "re {phase}" }
"#;

/// Picks (with their messages, as the door would see them) of `n` messages; inbound ones are
/// taken as accepted.
fn run(picker: &mut Picker, n: usize) -> Vec<(Pick, String)> {
    (0..n)
        .map(|_| {
            let pick = picker.pick(0, SimTime(pick_at(picker)));
            let text = match picker.message(&pick) {
                Message::Send(out) => format!("{out:?}"),
                Message::Inbound { from, text } => format!("inbound {from:?} {text}"),
                Message::Block { user } => format!("block {user:?}"),
            };
            if !picker.is_send(&pick) {
                picker.wrote_in(pick.number, pick.to, SimTime(pick.seq));
            }
            (pick, text)
        })
        .collect()
}

#[test]
fn same_seed_same_picks() {
    let plan = plan(MIXED);
    let a = run(&mut Picker::new(plan.clone(), 7), 500);
    let b = run(&mut Picker::new(plan.clone(), 7), 500);
    assert_eq!(a, b);
    let c = run(&mut Picker::new(plan, 8), 500);
    assert_ne!(a, c);
    // Numbers go round-robin (window replies go from the number written to), sequence
    // numbers count from 1.
    for (i, (p, _)) in a.iter().enumerate() {
        assert_eq!(p.seq, i as u64 + 1);
        if p.recipient != Recipient::Window {
            assert_eq!(p.number, i % 2);
        }
    }
}

/// The instant of the next pick in these tests: one second per message.
fn pick_at(picker: &Picker) -> u64 {
    (picker.seq + 1) * crate::clock::MICROS_PER_SEC
}

#[test]
fn window_replies_answer_who_wrote_to_that_number_once() {
    let plan = plan(MIXED);
    let mut picker = Picker::new(plan, 3);
    // Users waiting for an answer, per number.
    let mut waiting: [Vec<WaId>; 2] = Default::default();
    let (mut replies, mut dropped) = (0, 0);
    for _ in 0..2000 {
        let now = SimTime(pick_at(&picker));
        let pick = picker.pick(0, now);
        if pick.recipient == Recipient::Dropped {
            assert!(
                waiting.iter().all(|w| w.is_empty()),
                "dropped while someone waits"
            );
            dropped += 1;
            continue;
        }
        match picker.message(&pick) {
            Message::Inbound { from, text } => {
                assert_eq!(text, format!("hi {}", pick.seq));
                waiting[pick.number].push(from);
                picker.wrote_in(pick.number, from.into(), now);
            }
            Message::Send(out) => {
                if let Content::FreeForm { text, .. } = &out.content {
                    assert_eq!(text.as_deref(), Some("re p"));
                    assert_eq!(pick.recipient, Recipient::Window);
                    // From the number the user wrote to, the one waiting longest there.
                    let w = &mut waiting[pick.number];
                    let at = w
                        .iter()
                        .position(|u| Some(*u) == out.phone())
                        .expect("a waiting user");
                    w.remove(at);
                    replies += 1;
                }
            }
            Message::Block { .. } => unreachable!("no block entry in this mix"),
        }
    }
    assert!(replies > 300, "{replies}");
    assert!(dropped > 0, "some replies find nobody waiting");
    let c = picker.desk_counts();
    assert_eq!(c.answered, replies);
    assert_eq!(
        c.waiting,
        waiting.iter().map(|w| w.len() as u64).sum::<u64>()
    );
}

#[test]
fn nobody_wrote_in_yet_drops_the_reply_or_sends_it_as_asked() {
    let text = "[[traffic.phases]]\nname = \"p\"\nmessages = 1\nopen = { rate = 1 }\n\
         [[traffic.phases.mix]]\ntext = { body = \"x\" }\n";
    let mut picker = Picker::new(plan(text), 1);
    assert_eq!(picker.pick(0, SimTime(0)).recipient, Recipient::Dropped);
    let send = format!("[traffic.conversations]\nno_window = \"send\"\n{text}");
    let mut picker = Picker::new(plan(&send), 1);
    assert_eq!(picker.pick(0, SimTime(0)).recipient, Recipient::New);
    // `wrote_in` goes to a user who wrote to the sending number, window or not.
    let wrote = text.replace("body = \"x\"", "body = \"x\", to = \"wrote_in\"");
    let mut picker = Picker::new(plan(&wrote), 1);
    assert_eq!(
        picker.pick(0, SimTime(0)).recipient,
        Recipient::New,
        "nobody yet"
    );
    picker.wrote_in(1, WaId(491_234).into(), SimTime(0));
    let p = picker.pick(0, SimTime(1));
    assert_eq!((p.number, p.recipient), (1, Recipient::Window));
    assert_eq!(p.to, Contact::Phone(WaId(491_234)));
    // Number 0 (round robin) heard from nobody.
    let p = picker.pick(0, SimTime(2));
    assert_eq!((p.number, p.recipient), (0, Recipient::New));
    let p = picker.pick(0, SimTime(200 * crate::clock::MICROS_PER_HOUR));
    assert_eq!(p.number, 1);
    assert_eq!(
        p.to,
        Contact::Phone(WaId(491_234)),
        "long after the window closed, still that user"
    );
}

#[test]
fn weights_are_respected_roughly() {
    let plan = plan(MIXED);
    let mut picker = Picker::new(plan, 11);
    let n = 20_000;
    let (mut kinds, mut segs, mut hot, mut returning) = ([0u32; 3], [0u32; 2], 0, 0);
    for _ in 0..n {
        let pick = picker.pick(0, SimTime(0));
        kinds[pick.kind] += 1;
        match pick.recipient {
            Recipient::Hot => hot += 1,
            Recipient::Returning => returning += 1,
            Recipient::New | Recipient::Window | Recipient::Dropped => {}
        }
        if !matches!(pick.recipient, Recipient::Window | Recipient::Dropped) {
            // Segment "a" ids are 49xxxxxx; "b" ids are 62811…
            segs[usize::from(pick.to.phone().unwrap().0 >= 62_000_000_000)] += 1;
        }
    }
    let share = |x: u32, of: u32| f64::from(x) / f64::from(of);
    assert!((share(kinds[0], n) - 0.6).abs() < 0.02, "{kinds:?}");
    assert!((share(kinds[1], n) - 0.2).abs() < 0.02, "{kinds:?}");
    let placed = segs[0] + segs[1];
    assert!((share(segs[0], placed) - 0.75).abs() < 0.02, "{segs:?}");
    assert!((share(hot, placed) - 0.1).abs() < 0.02, "{hot}");
    // Segment "b" (2 users) is exhausted at once, so its sends are returning; "a" returns 30 %
    // of the rest.
    assert!(
        returning as f64 > 0.3 * 0.9 * f64::from(segs[0]) * 0.9,
        "{returning}"
    );
}

#[test]
fn template_content_and_identity_hash() {
    let plan = plan(MIXED);
    let mut picker = Picker::new(plan, 5);
    let pick = (0..100)
        .map(|_| picker.pick(0, SimTime(0)))
        .find(|p| p.kind == 0)
        .unwrap();
    let Message::Send(out) = picker.message(&pick) else {
        panic!("a template entry sends");
    };
    let Content::Template(t) = &out.content else {
        panic!("{out:?}");
    };
    assert_eq!(t.name, "t");
    let texts: Vec<_> = t.body.iter().map(|p| p.text.clone().unwrap()).collect();
    let to = pick.to.phone().unwrap();
    assert_eq!(texts, [to.0.to_string(), format!("A-{}", pick.seq)]);
    let h = crate::engine::identity::key_hash(5, to, 0);
    assert_eq!(
        out.recipient_identity_key_hash.as_deref(),
        Some(crate::engine::identity::key_hash_string(&h).as_str())
    );
}

/// The arithmetic ids equal what formatting and parsing the text gives, including the
/// edges (too few or too many digits, padding, wrap-around), and pools it cannot do are
/// left to the text path.
#[test]
fn numeric_pool_ids_equal_the_parsed_text() {
    let pools = [
        ("62812", 0, 1_000_000, 7),
        ("4915", 990, 20, 8),
        ("", 12_345, 10, 0),
        ("", 7, 3, 2),             // 2 digits: too short, WaId(0)
        ("1", 999_999_999, 5, 12), // 13 digits
        ("123456", 5, 10, 10),     // 16 digits: too long, WaId(0)
        ("9", 95, 10, 1),          // grows past `digits`
        ("62", 0, 0, 9),           // empty pool indexes as one
        ("0812", 3, 100, 6),       // leading zero: counted as a digit, not in the value
    ];
    for (prefix, start, count, digits) in pools {
        let pool = RecipientPool::Sequence {
            prefix: prefix.into(),
            start,
            count,
            digits,
        };
        let n = NumericPool::of(&pool).expect("a digit prefix is numeric");
        for i in [0, 1, 2, 9, 10, 11, 999, 1_000_001, u64::MAX / 3] {
            let mut text = String::new();
            pool.write(i, &mut text);
            let want = WaId::parse_lenient(&text).unwrap_or(WaId(0));
            assert_eq!(n.wa_id(i), want, "{prefix:?} {start} {count} {digits} {i}");
        }
    }
    for prefix in ["+62", "+0", "62-81", "abc"] {
        let pool = RecipientPool::Sequence {
            prefix: prefix.into(),
            start: 0,
            count: 10,
            digits: 8,
        };
        assert!(NumericPool::of(&pool).is_none(), "{prefix}");
    }
    let list = RecipientPool::List {
        wa_ids: vec!["628120000001".into()],
    };
    assert!(NumericPool::of(&list).is_none());
}

#[test]
fn shards_never_share_a_recipient_and_number_messages_as_the_whole_run() {
    use crate::traffic::shard::Shard;
    use std::collections::HashSet;
    let whole = plan(MIXED);
    let mut seen_to: Vec<HashSet<Contact>> = Vec::new();
    let mut seqs = HashSet::new();
    for i in 0..2 {
        let shard = Shard::new(i, 2).unwrap();
        let sharded = Arc::new((*whole).clone().sharded(shard).unwrap());
        let mut picker = Picker::new(sharded.clone(), 7);
        let mut to = HashSet::new();
        for _ in 0..300 {
            let p = picker.pick(0, SimTime(0));
            assert!(seqs.insert(p.seq), "seq {} twice", p.seq);
            assert!(shard.owns(p.seq - 1), "shard {shard} numbered {}", p.seq);
            // Numbers go round-robin over the run's sequence.
            assert_eq!(p.number, ((p.seq - 1) % 2) as usize);
            if matches!(
                p.recipient,
                Recipient::New | Recipient::Returning | Recipient::Hot
            ) {
                to.insert(p.to);
            }
        }
        assert!(to.len() > 50, "{}", to.len());
        seen_to.push(to);
    }
    assert!(
        seen_to[0].is_disjoint(&seen_to[1]),
        "shards wrote to the same users: {:?}",
        seen_to[0].intersection(&seen_to[1]).collect::<Vec<_>>()
    );
    // Refused when a shard would have no one: 2 hot recipients over 3 shards.
    let e = (*whole)
        .clone()
        .sharded(Shard::new(0, 3).unwrap())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("segment \"b\" has 2 recipients, fewer than the 3 shards"),
        "{e}"
    );
}

/// A user the webhook showed only by BSUID is written to by `recipient`, templates and blocks
/// alike, and `{wa_id}` is that BSUID; a template without `to` still draws from the segments.
#[test]
fn users_known_by_bsuid_are_addressed_by_recipient() {
    use crate::engine::message::Addressee;
    let text = "[[traffic.phases]]\nname = \"p\"\nmessages = 3\nopen = { rate = 1 }\n\
         [[traffic.phases.mix]]\ntemplate = { name = \"otp\", params = [\"{wa_id}\"], to = \"wrote_in\" }\n";
    let mut picker = Picker::new(plan(text), 1);
    // Nobody wrote in yet: a recipient of the segments, by phone.
    let first = picker.pick(0, SimTime(0));
    assert!(matches!(first.to, Contact::Phone(_)));
    let id =
        crate::engine::bsuid::user_id(1, crate::engine::ids::BusinessId(9), WaId(6281300000042), 0);
    picker.wrote_in(0, Contact::UserId(id), SimTime(0));
    picker.wrote_in(1, Contact::UserId(id), SimTime(0));
    let pick = picker.pick(0, SimTime(1));
    assert_eq!(pick.to, Contact::UserId(id));
    let Message::Send(out) = picker.message(&pick) else {
        panic!("a template is a send")
    };
    assert_eq!(out.to, Addressee::UserId(id.to_string().into()));
    let Content::Template(t) = &out.content else {
        panic!("a template")
    };
    assert_eq!(t.body[0].text.as_deref(), Some(id.to_string().as_str()));
    // A block entry goes to the same user.
    let blocks = text.replace(
        "template = { name = \"otp\", params = [\"{wa_id}\"], to = \"wrote_in\" }",
        "block = {}",
    );
    let mut picker = Picker::new(plan(&blocks), 1);
    picker.wrote_in(0, Contact::UserId(id), SimTime(0));
    let pick = picker.pick(0, SimTime(1));
    assert!(!picker.is_send(&pick));
    assert!(
        matches!(picker.message(&pick), Message::Block { user } if user == Contact::UserId(id))
    );
}
