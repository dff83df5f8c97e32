//! Template pacing with a manual clock: each rule firing and not firing.

use super::feedback::UserAction;
use super::harness::*;
use super::pacing::{MessageStatus, PacingConfig};
use super::reactions::{BlockReason, Profiles};
use super::*;
use crate::clock::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_SEC};
use templates::TemplateSend;
use world::*;

const BIZ: BusinessId = BusinessId(1);
const PHONE: PhoneNumberId = PhoneNumberId(100);
const WABA: WabaId = WabaId(10);
const T0: SimTime = SimTime(1_760_000_000 * MICROS_PER_SEC);
const MIN: u64 = 60 * MICROS_PER_SEC;
const H: u64 = MICROS_PER_HOUR;
const U: u64 = 6281300000000;

fn tpl(name: &str, cat: TemplateCategory) -> TemplateSpec {
    TemplateSpec::new(name, "id", cat, "Halo")
}

/// One number; `promo` (marketing), `notice` and `receipt` (utility); users who never react
/// on their own and read `read_ratio` of what they get within 10 s.
fn world(read_ratio: f64) -> WorldSpec {
    WorldSpec {
        businesses: vec![BusinessSpec {
            verified: true,
            tokens: vec!["tok".into()],
            messaging_limit: MessagingLimitTier::Unlimited,
            wabas: vec![WabaSpec {
                name: "w".into(),
                phone_numbers: vec![PhoneNumberSpec {
                    throughput_mps: Some(10_000),
                    ..PhoneNumberSpec::new(PHONE, "+62 812-0000-0100", "Toko")
                }],
                templates: vec![
                    tpl("promo", TemplateCategory::Marketing),
                    tpl("notice", TemplateCategory::Utility),
                    tpl("receipt", TemplateCategory::Utility),
                ],
                ..WabaSpec::new(WABA)
            }],
            ..BusinessSpec::new(BIZ, "Toko")
        }],
        audience: audience::AudienceSpec {
            not_on_whatsapp_ratio: 0.0,
            read_ratio,
            read_delay_s: [1, 10],
            delivered_delay_ms: [100, 100],
            profiles: Profiles::silent(),
            ..Default::default()
        },
    }
}

/// Pacing on: 10 sends go out, then holds; decides 30 min after the first send from at
/// least 5 deliveries; guardrail at 60 min.
fn pacing() -> PacingConfig {
    PacingConfig {
        enabled: true,
        threshold: 10,
        min_delivered: 5,
        ..PacingConfig::default()
    }
}

fn engine(read_ratio: f64, pacing: PacingConfig) -> Portfolios {
    let rules = RulesConfig {
        pacing,
        ..RulesConfig::default()
    };
    let policy = PolicyConfig {
        per_user_marketing: [0, 0],
        restrict_after_red_hours: 0,
        ..PolicyConfig::default()
    };
    build_world_with_policy(&world(read_ratio), rules, policy, 7, T0).unwrap()
}

fn send(e: &Portfolios, at: SimTime, name: &str, to: u64, out: &mut Effects) -> SendReceipt {
    let msg = Outbound::template(
        WaId(to),
        TemplateSend {
            name: name.into(),
            language: "id".into(),
            header: vec![],
            body: vec![],
        },
    );
    e.send(at, BIZ, PHONE, &msg, out).unwrap()
}

/// Sends `n` messages of `name` to users `U + base ..`, one per second from `at`; returns
/// each send's message status.
fn campaign(
    e: &Portfolios,
    at: SimTime,
    name: &str,
    base: u64,
    n: u64,
    out: &mut Effects,
) -> Vec<(Wamid, MessageStatus)> {
    (0..n)
        .map(|i| {
            let r = send(e, at.plus(i * MICROS_PER_SEC), name, U + base + i, out);
            (r.wamid, r.message_status.expect("a template send"))
        })
        .collect()
}

fn held(statuses: &[(Wamid, MessageStatus)]) -> Vec<Wamid> {
    statuses
        .iter()
        .filter(|(_, s)| *s == MessageStatus::HeldForQualityAssessment)
        .map(|(w, _)| *w)
        .collect()
}

/// The statuses reported for message `w`, in order, with their error code.
fn statuses_of(events: &[Event], w: Wamid) -> Vec<(DeliveryStatus, Option<u32>)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Status {
                info,
                status,
                error,
            } if info.wamid == w => Some((*status, error.as_ref().map(|(c, _)| c.code()))),
            _ => None,
        })
        .collect()
}

fn template_id(e: &Portfolios, name: &str) -> TemplateId {
    e.templates(BIZ, WABA)
        .unwrap()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
        .id
}

fn template_status(e: &Portfolios, name: &str) -> TemplateStatus {
    e.templates(BIZ, WABA)
        .unwrap()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
        .status
}

fn quality_updates(events: &[Event]) -> Vec<(Option<QualityRating>, Option<QualityRating>)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::TemplateQuality { previous, new, .. } => Some((*previous, *new)),
            _ => None,
        })
        .collect()
}

fn pauses(events: &[Event]) -> Vec<(&'static str, TemplateStatus)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::TemplatePause { title, status, .. } => Some((*title, *status)),
            _ => None,
        })
        .collect()
}

fn counters(e: &Portfolios) -> NumberCounters {
    e.phone_number(BIZ, PHONE).unwrap().counters
}

#[test]
fn sends_past_the_threshold_are_held_and_a_good_assessment_releases_them() {
    let e = engine(1.0, pacing());
    let mut out = Effects::default();
    let sent = campaign(&e, T0, "promo", 0, 15, &mut out);
    // The first 10 go out; the next 5 are held: 200 with held_for_quality_assessment, and no
    // status until the assessment.
    assert!(sent[..10]
        .iter()
        .all(|(_, s)| *s == MessageStatus::Accepted));
    let held = held(&sent);
    assert_eq!(held.len(), 5);
    assert_eq!(held, sent[10..].iter().map(|(w, _)| *w).collect::<Vec<_>>());
    e.handle_timeouts(T0.plus(30 * MIN - 1), &mut out);
    for w in &held {
        assert!(statuses_of(&out.events, *w).is_empty(), "still held");
    }
    assert_eq!(counters(&e).held, 5);
    // 30 min: 10 delivered, all read, nobody blocked: good. The template is rated GREEN and
    // the held messages walk the ordinary ladder.
    out.clear();
    e.handle_timeouts(T0.plus(30 * MIN), &mut out);
    e.handle_timeouts(T0.plus(31 * MIN), &mut out);
    assert_eq!(
        quality_updates(&out.events),
        vec![(None, Some(QualityRating::Green))]
    );
    assert!(pauses(&out.events).is_empty());
    for w in &held {
        let got: Vec<_> = statuses_of(&out.events, *w)
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(
            got,
            vec![
                DeliveryStatus::Sent,
                DeliveryStatus::Delivered,
                DeliveryStatus::Read
            ]
        );
    }
    let c = counters(&e);
    assert_eq!((c.held, c.released, c.dropped), (5, 5, 0));
    assert_eq!(
        e.template_quality(WABA, template_id(&e, "promo")).0,
        Some(QualityRating::Green)
    );
    // GREEN now: a second campaign is not paced at all.
    let again = campaign(&e, T0.plus(2 * H), "promo", 100, 15, &mut out);
    assert!(again.iter().all(|(_, s)| *s == MessageStatus::Accepted));
    assert_eq!(counters(&e).held, 5);
}

#[test]
fn pacing_off_or_below_the_threshold_holds_nothing() {
    let mut out = Effects::default();
    let off = engine(
        1.0,
        PacingConfig {
            enabled: false,
            ..pacing()
        },
    );
    let sent = campaign(&off, T0, "promo", 0, 15, &mut out);
    assert!(held(&sent).is_empty(), "pacing switched off");
    // On by default, with a threshold of 1,000.
    let on = engine(1.0, PacingConfig::default());
    let sent = campaign(&on, T0, "promo", 0, 1_001, &mut out);
    assert_eq!(held(&sent), vec![sent[1_000].0]);
    let on = engine(1.0, pacing());
    let sent = campaign(&on, T0, "promo", 0, 10, &mut out);
    assert!(held(&sent).is_empty(), "10 sends are within the threshold");
    // Service messages carry no message_status.
    on.inbound(T0, PHONE, WaId(U), "hi", &mut out).unwrap();
    let text = Outbound::text(WaId(U), "Halo");
    let r = on.send(T0.plus(MIN), BIZ, PHONE, &text, &mut out).unwrap();
    assert_eq!(r.message_status, None);
}

#[test]
fn a_bad_assessment_pauses_the_template_and_fails_held_messages_with_132015() {
    let e = engine(1.0, pacing());
    let mut out = Effects::default();
    let sent = campaign(&e, T0, "promo", 0, 15, &mut out);
    let held = held(&sent);
    // Two of the ten users who got it report it (weight 2 each): 4 / 10 delivered.
    e.handle_timeouts(T0.plus(MIN), &mut out);
    for u in [U, U + 1] {
        let a = UserAction::Report(BlockReason::Spam);
        e.user_action(T0.plus(MIN), Some(PHONE), WaId(u), a, &mut out)
            .unwrap();
    }
    // The ordinary quality rule alone would not pause it (4 / 200 floor = 2 %: YELLOW).
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Approved);
    out.clear();
    e.handle_timeouts(T0.plus(30 * MIN), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Paused);
    assert_eq!(
        quality_updates(&out.events),
        vec![(Some(QualityRating::Yellow), Some(QualityRating::Red))]
    );
    assert_eq!(
        pauses(&out.events),
        vec![("FIRST_PAUSE", TemplateStatus::Paused)]
    );
    for w in &held {
        assert_eq!(
            statuses_of(&out.events, *w),
            vec![(DeliveryStatus::Failed, Some(132015))]
        );
    }
    let c = counters(&e);
    assert_eq!((c.held, c.released, c.dropped), (5, 0, 5));
    assert_eq!(c.failed.get(&132015), Some(&5));
    // Nothing stays held once the guardrail's time comes.
    out.clear();
    e.handle_timeouts(T0.plus(2 * H), &mut out);
    assert!(held.iter().all(|w| statuses_of(&out.events, *w).is_empty()));
    // Unpaused after 3 h: paced again from its next send.
    e.handle_timeouts(T0.plus(3 * H + 30 * MIN), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Approved);
    let again = campaign(&e, T0.plus(4 * H), "promo", 1_000, 11, &mut out);
    assert_eq!(
        again.iter().map(|(_, s)| *s).collect::<Vec<_>>()[10],
        MessageStatus::HeldForQualityAssessment
    );
}

#[test]
fn a_low_read_rate_is_a_bad_assessment_and_a_high_one_is_not() {
    let mut out = Effects::default();
    // Nobody reads: bad.
    let e = engine(0.0, pacing());
    campaign(&e, T0, "promo", 0, 15, &mut out);
    e.handle_timeouts(T0.plus(30 * MIN), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Paused);
    assert_eq!(counters(&e).dropped, 5);
    // Everybody reads (the same campaign otherwise): good.
    let e = engine(1.0, pacing());
    campaign(&e, T0, "promo", 0, 15, &mut out);
    e.handle_timeouts(T0.plus(30 * MIN), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Approved);
    assert_eq!(counters(&e).released, 5);
    // Read rates left out (`low_read_rate = 0`): nobody reading is no longer bad.
    let e = engine(
        0.0,
        PacingConfig {
            low_read_rate: 0.0,
            ..pacing()
        },
    );
    campaign(&e, T0, "promo", 0, 15, &mut out);
    e.handle_timeouts(T0.plus(30 * MIN), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Approved);
    assert_eq!(counters(&e).released, 5);
}

#[test]
fn without_a_decision_the_guardrail_releases_at_60_minutes() {
    // 1,000 deliveries needed to decide: never reached.
    let e = engine(
        1.0,
        PacingConfig {
            min_delivered: 1_000,
            ..pacing()
        },
    );
    let mut out = Effects::default();
    let sent = campaign(&e, T0, "promo", 0, 15, &mut out);
    let held = held(&sent);
    e.handle_timeouts(T0.plus(60 * MIN - 1), &mut out);
    assert!(held.iter().all(|w| statuses_of(&out.events, *w).is_empty()));
    out.clear();
    e.handle_timeouts(T0.plus(60 * MIN), &mut out);
    for w in &held {
        assert_eq!(
            statuses_of(&out.events, *w),
            vec![(DeliveryStatus::Sent, None)]
        );
    }
    // No verdict: no quality update, no pause; the template is still assessed from its
    // next send (a new assessment: 10 go out, then holds).
    assert!(quality_updates(&out.events).is_empty());
    assert!(pauses(&out.events).is_empty());
    assert_eq!(counters(&e).released, 5);
    let again = campaign(&e, T0.plus(2 * H), "promo", 100, 11, &mut out);
    assert_eq!(held_count(&again), 1);
}

fn held_count(s: &[(Wamid, MessageStatus)]) -> usize {
    held(s).len()
}

#[test]
fn the_hold_is_bounded_per_template_and_past_it_sends_go_out() {
    let e = engine(
        1.0,
        PacingConfig {
            threshold: 2,
            hold_capacity: 3,
            ..pacing()
        },
    );
    let mut out = Effects::default();
    let sent = campaign(&e, T0, "promo", 0, 10, &mut out);
    let kinds: Vec<bool> = sent
        .iter()
        .map(|(_, s)| *s == MessageStatus::HeldForQualityAssessment)
        .collect();
    assert_eq!(
        kinds,
        [false, false, true, true, true, false, false, false, false, false]
    );
}

#[test]
fn utility_templates_are_paced_only_within_7_days_of_a_utility_pause() {
    let e = engine(1.0, pacing());
    let mut out = Effects::default();
    // No utility template was paused: `receipt` is not paced.
    let sent = campaign(&e, T0, "receipt", 0, 15, &mut out);
    assert_eq!(held_count(&sent), 0);
    // `notice` is paused by the ordinary quality rule: 3 reports over the 200 floor = RED.
    for i in 0..3 {
        send(&e, T0.plus(H), "notice", U + 500 + i, &mut out);
        let a = UserAction::Report(BlockReason::Spam);
        e.user_action(T0.plus(H), Some(PHONE), WaId(U + 500 + i), a, &mut out)
            .unwrap();
    }
    assert_eq!(template_status(&e, "notice"), TemplateStatus::Paused);
    // Within 7 days: `receipt` is paced (10 out, then held).
    let sent = campaign(&e, T0.plus(2 * H), "receipt", 1_000, 15, &mut out);
    assert_eq!(held_count(&sent), 5);
    e.handle_timeouts(T0.plus(3 * H), &mut out);
    // From 7 days after the pause: no longer paced (the assessment above closed long ago).
    let t = T0.plus(H + 7 * MICROS_PER_DAY);
    e.handle_timeouts(t, &mut out);
    let sent = campaign(&e, t, "receipt", 2_000, 15, &mut out);
    assert_eq!(held_count(&sent), 0);
    // Marketing is paced whatever happened to utility templates.
    let sent = campaign(&e, t, "promo", 3_000, 15, &mut out);
    assert_eq!(held_count(&sent), 5);
}

#[test]
fn bad_knobs_are_named() {
    PacingConfig::default().validate().unwrap();
    let bad = PacingConfig {
        guardrail_minutes: 10,
        ..PacingConfig::default()
    };
    assert_eq!(
        bad.validate().unwrap_err().0,
        "rules.pacing.guardrail_minutes"
    );
    let bad = PacingConfig {
        low_read_rate: 1.5,
        ..PacingConfig::default()
    };
    assert_eq!(bad.validate().unwrap_err().0, "rules.pacing.low_read_rate");
}
