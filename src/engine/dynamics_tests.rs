//! Platform dynamics with a manual clock: every rule firing and not firing. Time only moves
//! when a test says so (`handle_timeouts(t)`), so "3 hours" means exactly 3 hours.

use super::feedback::UserAction;
use super::harness::*;
use super::policy::{LimitBehavior, LimitsMode, PolicyConfig};
use super::reactions::{BlockReason, Profiles};
use super::*;
use crate::clock::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_SEC};
use templates::{TemplateParam, TemplateSend};
use world::*;

const BIZ: BusinessId = BusinessId(1);
const PHONE: PhoneNumberId = PhoneNumberId(100);
const WABA: WabaId = WabaId(10);
const T0: SimTime = SimTime(1_760_000_000 * MICROS_PER_SEC);
const H: u64 = MICROS_PER_HOUR;
const D: u64 = MICROS_PER_DAY;

fn tpl(name: &str, cat: TemplateCategory, body: &str) -> TemplateSpec {
    TemplateSpec::new(name, "id", cat, body)
}

fn world(tier: MessagingLimitTier, verified: bool, profiles: Profiles) -> WorldSpec {
    WorldSpec {
        businesses: vec![BusinessSpec {
            verified,
            tokens: vec!["tok".into()],
            messaging_limit: tier,
            wabas: vec![WabaSpec {
                name: "w".into(),
                phone_numbers: vec![PhoneNumberSpec {
                    throughput_mps: Some(10_000),
                    ..PhoneNumberSpec::new(PHONE, "+62 812-0000-0100", "Toko")
                }],
                templates: vec![
                    tpl("promo", TemplateCategory::Marketing, "Halo {{1}}"),
                    tpl("notice", TemplateCategory::Utility, "Pesanan dikirim"),
                ],
                ..WabaSpec::new(WABA)
            }],
            ..BusinessSpec::new(BIZ, "Toko")
        }],
        audience: audience::AudienceSpec {
            not_on_whatsapp_ratio: 0.0,
            read_ratio: 0.0,
            delivered_delay_ms: [100, 100],
            profiles,
            ..Default::default()
        },
    }
}

/// Default policy minus the per-user marketing limit (tested on its own).
fn policy() -> PolicyConfig {
    PolicyConfig {
        per_user_marketing: [0, 0],
        ..Default::default()
    }
}

fn engine_with(w: WorldSpec, p: PolicyConfig) -> Portfolios {
    build_world_with_policy(&w, RulesConfig::default(), p, 7, T0).unwrap()
}

fn promo(to: u64) -> Outbound {
    Outbound::template(
        WaId(to),
        TemplateSend {
            name: "promo".into(),
            language: "id".into(),
            header: vec![],
            body: vec![TemplateParam {
                name: None,
                text: Some("Ayu".into()),
            }],
        },
    )
}

fn notice(to: u64) -> Outbound {
    Outbound::template(
        WaId(to),
        TemplateSend {
            name: "notice".into(),
            language: "id".into(),
            header: vec![],
            body: vec![],
        },
    )
}

const U: u64 = 6281300000000;

fn code(r: Result<SendReceipt, Rejection>) -> Option<u32> {
    r.err().map(|e| e.code.code())
}

fn failed_codes(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Status {
                status: DeliveryStatus::Failed,
                error: Some((c, _)),
                ..
            } => Some(c.code()),
            _ => None,
        })
        .collect()
}

fn delivered(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.body,
                EventBody::Status {
                    status: DeliveryStatus::Delivered,
                    ..
                }
            )
        })
        .count()
}

fn view(e: &Portfolios) -> PhoneNumberView {
    e.phone_number(BIZ, PHONE).unwrap()
}

fn template_status(e: &Portfolios, name: &str) -> TemplateStatus {
    e.templates(BIZ, WABA)
        .unwrap()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
        .status
}

fn force(e: &Portfolios, at: SimTime, user: u64, a: UserAction, out: &mut Effects) {
    e.user_action(at, Some(PHONE), WaId(user), a, out).unwrap();
}

// ----- Quality rating -----------------------------------------------------------------------

/// 400 marketing templates a day, 5% of users block (reason spam, weight 1). The model
/// (floor 1,000 delivered, half-life 48 h, YELLOW ≥ 1%, RED ≥ 3%), read at the end of each day
/// (the day's blocks are then ~23 h old, weight 0.72), predicts a block weight of
/// 20 · 0.72 · (1 + 0.71 + 0.5 + …): 14 on day 0 (YELLOW), 25 on day 1 (YELLOW), 32 on day 2
/// (RED). Sampling noise can move RED by a day.
#[test]
fn five_percent_block_campaign_goes_green_yellow_red_on_the_predicted_days() {
    let mut profiles = Profiles::silent();
    profiles.marketing.block = 0.05;
    profiles.marketing.block_reasons = [1.0, 0.0, 0.0, 0.0, 0.0]; // spam: weight 1
                                                                  // Templates are rated too (and would pause); keep this test about the number.
    let mut p = policy();
    p.template_quality.yellow_at = 0.5;
    p.template_quality.red_at = 0.5;
    let e = engine_with(world(MessagingLimitTier::Unlimited, true, profiles), p);
    let mut out = Effects::default();
    let mut ratings = Vec::new();
    for day in 0..4u64 {
        let start = T0.plus(day * D);
        for i in 0..400 {
            e.send(
                start.plus(i * MICROS_PER_SEC),
                BIZ,
                PHONE,
                &promo(U + day * 1_000 + i),
                &mut out,
            )
            .unwrap();
        }
        if day == 0 {
            assert_eq!(
                view(&e).quality_rating,
                QualityRating::Green,
                "before any feedback"
            );
        }
        e.handle_timeouts(start.plus(D - 1), &mut out);
        ratings.push(view(&e).quality_rating);
    }
    let first = |q| ratings.iter().position(|r| *r == q);
    let blocks = view(&e).counters.blocks;
    assert!((60..100).contains(&blocks), "{blocks} blocks of 1,600");
    let yellow = first(QualityRating::Yellow).expect("turns YELLOW");
    let red = first(QualityRating::Red).expect("turns RED");
    assert_eq!(yellow, 0, "{ratings:?}");
    assert!((1..=3).contains(&red), "RED on day {red}: {ratings:?}");
    // RED flags the number; sending still works while FLAGGED.
    assert_eq!(view(&e).status, NumberStatus::Flagged);
    assert!(e
        .send(T0.plus(4 * D), BIZ, PHONE, &promo(U + 99_999), &mut out)
        .is_ok());
}

#[test]
fn the_same_campaign_without_blocks_stays_green() {
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    for day in 0..7u64 {
        for i in 0..200 {
            let at = T0.plus(day * D + i * MICROS_PER_SEC);
            e.send(at, BIZ, PHONE, &promo(U + day * 1_000 + i), &mut out)
                .unwrap();
        }
        e.handle_timeouts(T0.plus((day + 1) * D - 1), &mut out);
        assert_eq!(view(&e).quality_rating, QualityRating::Green);
    }
    assert_eq!(view(&e).status, NumberStatus::Connected);
}

#[test]
fn red_recovers_as_signals_age_and_legacy_webhooks_flag_and_unflag() {
    let p = PolicyConfig {
        legacy_webhooks: true,
        restrict_after_red_hours: 0,
        ..policy()
    };
    let e = engine_with(
        world(MessagingLimitTier::Tier250, false, Profiles::silent()),
        p,
    );
    let mut out = Effects::default();
    // 15 reports with reason spam: weight 2 each = 30 over the floor of 1,000 = 3% = RED.
    for i in 0..14 {
        force(
            &e,
            T0,
            U + i,
            UserAction::Report(BlockReason::Spam),
            &mut out,
        );
    }
    assert_eq!(view(&e).quality_rating, QualityRating::Yellow);
    force(
        &e,
        T0,
        U + 14,
        UserAction::Report(BlockReason::Spam),
        &mut out,
    );
    assert_eq!(view(&e).quality_rating, QualityRating::Red);
    assert_eq!(view(&e).status, NumberStatus::Flagged);
    let phone_events = |out: &Effects| {
        out.events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::PhoneQuality { event, .. } => Some(*event),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(phone_events(&out), vec!["FLAGGED"]);
    // 25 reports = 50: RED while 50 · 0.5^(h/48) ≥ 30, i.e. up to 35 h; YELLOW from 36 h.
    for i in 15..25 {
        force(
            &e,
            T0,
            U + i,
            UserAction::Report(BlockReason::Spam),
            &mut out,
        );
    }
    out.clear();
    e.handle_timeouts(T0.plus(35 * H), &mut out);
    assert_eq!(view(&e).quality_rating, QualityRating::Red);
    e.handle_timeouts(T0.plus(36 * H), &mut out);
    assert_eq!(view(&e).quality_rating, QualityRating::Yellow);
    assert_eq!(view(&e).status, NumberStatus::Connected);
    assert_eq!(phone_events(&out), vec!["UNFLAGGED"]);
    // Without the legacy switch no FLAGGED/UNFLAGGED webhooks are sent.
    let e = engine_with(
        world(MessagingLimitTier::Tier250, false, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    for i in 0..15 {
        force(
            &e,
            T0,
            U + i,
            UserAction::Report(BlockReason::Spam),
            &mut out,
        );
    }
    assert_eq!(view(&e).status, NumberStatus::Flagged);
    assert!(phone_events(&out).is_empty());
}

#[test]
fn block_reasons_weigh_differently() {
    let e = engine_with(
        world(MessagingLimitTier::Tier250, false, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    // "No longer needed" weighs 0.5: 19 such blocks = 9.5 < 10 → still GREEN.
    for i in 0..19 {
        force(
            &e,
            T0,
            U + i,
            UserAction::Block(BlockReason::NoLongerNeeded),
            &mut out,
        );
    }
    assert_eq!(view(&e).quality_rating, QualityRating::Green);
    force(
        &e,
        T0,
        U + 19,
        UserAction::Block(BlockReason::NoLongerNeeded),
        &mut out,
    );
    assert_eq!(view(&e).quality_rating, QualityRating::Yellow);
}

#[test]
fn a_user_who_blocked_never_gets_delivered() {
    let e = engine_with(
        world(MessagingLimitTier::Tier250, false, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    e.send(T0, BIZ, PHONE, &notice(U), &mut out).unwrap();
    e.handle_timeouts(T0.plus(MICROS_PER_SEC), &mut out);
    force(
        &e,
        T0.plus(MICROS_PER_SEC),
        U,
        UserAction::Block(BlockReason::Spam),
        &mut out,
    );
    out.clear();
    e.send(
        T0.plus(20 * MICROS_PER_SEC),
        BIZ,
        PHONE,
        &notice(U),
        &mut out,
    )
    .unwrap();
    e.send(
        T0.plus(20 * MICROS_PER_SEC),
        BIZ,
        PHONE,
        &notice(U + 1),
        &mut out,
    )
    .unwrap();
    e.handle_timeouts(T0.plus(H), &mut out);
    assert_eq!(delivered(&out.events), 1, "only the user who did not block");
}

// ----- Template quality and pausing ---------------------------------------------------------

fn pause_titles(events: &[Event]) -> Vec<(&'static str, TemplateStatus)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::TemplatePause { title, status, .. } => Some((*title, *status)),
            _ => None,
        })
        .collect()
}

/// Sends `promo` to three fresh users and has them report it: 3 × weight 2 over the
/// template floor of 200 = 3% = RED.
fn three_reports(e: &Portfolios, at: SimTime, base: u64, out: &mut Effects) {
    for i in 0..3 {
        e.send(at, BIZ, PHONE, &promo(base + i), out).unwrap();
        force(e, at, base + i, UserAction::Report(BlockReason::Spam), out);
    }
}

#[test]
fn pauses_last_exactly_3h_then_6h_and_the_third_disables() {
    let p = PolicyConfig {
        restrict_after_red_hours: 0,
        ..policy()
    };
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        p,
    );
    let mut out = Effects::default();
    // Two reports: YELLOW, not paused.
    for i in 0..2 {
        e.send(T0, BIZ, PHONE, &promo(U + i), &mut out).unwrap();
        force(
            &e,
            T0,
            U + i,
            UserAction::Report(BlockReason::Spam),
            &mut out,
        );
    }
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Approved);
    assert!(out.events.iter().any(|e| matches!(
        e.body,
        EventBody::TemplateQuality {
            previous: None,
            new: Some(QualityRating::Yellow),
            ..
        }
    )));
    e.send(T0, BIZ, PHONE, &promo(U + 2), &mut out).unwrap();
    force(
        &e,
        T0,
        U + 2,
        UserAction::Report(BlockReason::Spam),
        &mut out,
    );
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Paused);
    assert_eq!(
        pause_titles(&out.events),
        vec![("FIRST_PAUSE", TemplateStatus::Paused)]
    );
    // Paused: 132015, and the attempt does not count toward the messaging limit; the utility
    // template is unaffected.
    let used = view(&e).messaging_limit_used;
    assert_eq!(
        code(e.send(T0, BIZ, PHONE, &promo(U + 50), &mut out)),
        Some(132015)
    );
    assert_eq!(view(&e).messaging_limit_used, used);
    assert!(e.send(T0, BIZ, PHONE, &notice(U + 50), &mut out).is_ok());
    out.clear();
    e.handle_timeouts(T0.plus(3 * H - 1), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Paused);
    e.handle_timeouts(T0.plus(3 * H), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Approved);
    assert_eq!(
        pause_titles(&out.events),
        vec![("UNPAUSE", TemplateStatus::Approved)]
    );
    // Second strike: 6 hours.
    let t1 = T0.plus(4 * H);
    out.clear();
    three_reports(&e, t1, U + 100, &mut out);
    assert_eq!(
        pause_titles(&out.events),
        vec![("SECOND_PAUSE", TemplateStatus::Paused)]
    );
    e.handle_timeouts(t1.plus(6 * H - 1), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Paused);
    e.handle_timeouts(t1.plus(6 * H), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Approved);
    // Third strike: disabled for good.
    let t2 = t1.plus(7 * H);
    out.clear();
    three_reports(&e, t2, U + 200, &mut out);
    assert_eq!(
        pause_titles(&out.events),
        vec![("DISABLED", TemplateStatus::Disabled)]
    );
    e.handle_timeouts(t2.plus(30 * D), &mut out);
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Disabled);
    assert_eq!(
        code(e.send(t2.plus(30 * D), BIZ, PHONE, &promo(U + 999), &mut out)),
        Some(132016)
    );
    assert_eq!(e.template_quality(WABA, template_id(&e, "promo")).1, 3);
}

fn template_id(e: &Portfolios, name: &str) -> TemplateId {
    e.templates(BIZ, WABA)
        .unwrap()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
        .id
}

#[test]
fn good_templates_become_green_and_are_never_paused() {
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    for i in 0..250 {
        e.send(T0.plus(i * 1_000), BIZ, PHONE, &promo(U + i), &mut out)
            .unwrap();
    }
    // Blocks that are not charged to a template (no template sent to these users) do not
    // touch it.
    for i in 0..5 {
        force(
            &e,
            T0.plus(MICROS_PER_SEC),
            U + 10_000 + i,
            UserAction::Report(BlockReason::Spam),
            &mut out,
        );
    }
    e.handle_timeouts(T0.plus(H), &mut out);
    let id = template_id(&e, "promo");
    assert_eq!(
        e.template_quality(WABA, id),
        (Some(QualityRating::Green), 0)
    );
    assert_eq!(template_status(&e, "promo"), TemplateStatus::Approved);
}

// ----- Messaging limits ---------------------------------------------------------------------

#[test]
fn limit_fails_new_users_beyond_250_asynchronously_and_frees_after_24h() {
    let e = engine_with(
        world(MessagingLimitTier::Tier250, false, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    for i in 0..250 {
        e.send(T0.plus(i), BIZ, PHONE, &notice(U + i), &mut out)
            .unwrap();
    }
    assert_eq!(view(&e).messaging_limit_used, 250);
    assert_eq!(view(&e).status, NumberStatus::Restricted);
    out.clear();
    // A 251st user: accepted, then failed with 131048. A user already reached: free.
    e.send(
        T0.plus(MICROS_PER_SEC),
        BIZ,
        PHONE,
        &notice(U + 250),
        &mut out,
    )
    .unwrap();
    e.send(
        T0.plus(MICROS_PER_SEC),
        BIZ,
        PHONE,
        &notice(U + 3),
        &mut out,
    )
    .unwrap();
    assert_eq!(failed_codes(&out.events), vec![131048]);
    // A user who writes first can be answered (inside the window nothing is counted).
    e.inbound(
        T0.plus(MICROS_PER_SEC),
        PHONE,
        WaId(U + 777),
        "halo",
        &mut out,
    )
    .unwrap();
    out.clear();
    e.send(
        T0.plus(2 * MICROS_PER_SEC),
        BIZ,
        PHONE,
        &notice(U + 777),
        &mut out,
    )
    .unwrap();
    assert!(failed_codes(&out.events).is_empty());
    // 24 h later the moving window is free again.
    out.clear();
    let later = T0.plus(D + MICROS_PER_SEC);
    e.send(later, BIZ, PHONE, &notice(U + 251), &mut out)
        .unwrap();
    assert!(failed_codes(&out.events).is_empty());
    assert_eq!(view(&e).status, NumberStatus::Connected);
}

#[test]
fn limit_can_be_a_synchronous_rejection() {
    let p = PolicyConfig {
        limit_behavior: LimitBehavior::RejectSync,
        ..policy()
    };
    let e = engine_with(
        world(MessagingLimitTier::Tier250, false, Profiles::silent()),
        p,
    );
    let mut out = Effects::default();
    for i in 0..250 {
        e.send(T0.plus(i), BIZ, PHONE, &notice(U + i), &mut out)
            .unwrap();
    }
    let r = e.send(
        T0.plus(MICROS_PER_SEC),
        BIZ,
        PHONE,
        &notice(U + 250),
        &mut out,
    );
    assert_eq!(
        r.as_ref().err().and_then(|r| r.rule),
        Some(Rule::MessagingLimit)
    );
    assert_eq!(code(r), Some(131048));
}

fn capability_events(events: &[Event]) -> Vec<MessagingLimitTier> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::BusinessCapability { limit, .. } => Some(*limit),
            _ => None,
        })
        .collect()
}

#[test]
fn a_portfolio_that_sends_well_scales_250_2k_10k_six_hours_after_half_use() {
    let e = engine_with(
        world(MessagingLimitTier::Tier250, true, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    // 124 users: below half of 250, nothing happens.
    for i in 0..124 {
        e.send(T0, BIZ, PHONE, &notice(U + i), &mut out).unwrap();
    }
    e.handle_timeouts(T0.plus(D), &mut out);
    assert!(capability_events(&out.events).is_empty());
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier250);
    // Day 1: 125 users → scaling 6 h later, exactly.
    let t1 = T0.plus(D);
    for i in 0..125 {
        e.send(t1, BIZ, PHONE, &notice(U + 1_000 + i), &mut out)
            .unwrap();
    }
    out.clear();
    e.handle_timeouts(t1.plus(6 * H - 1), &mut out);
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier250);
    e.handle_timeouts(t1.plus(6 * H), &mut out);
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier2K);
    assert_eq!(
        capability_events(&out.events),
        vec![MessagingLimitTier::Tier2K]
    );
    // 1,000 more users (half of 2,000) → 10K.
    let t2 = t1.plus(7 * H);
    for i in 0..1_000 {
        e.send(t2, BIZ, PHONE, &notice(U + 10_000 + i), &mut out)
            .unwrap();
    }
    out.clear();
    e.handle_timeouts(t2.plus(6 * H - 1), &mut out);
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier2K);
    e.handle_timeouts(t2.plus(6 * H), &mut out);
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier10K);
    assert_eq!(
        capability_events(&out.events),
        vec![MessagingLimitTier::Tier10K]
    );
}

#[test]
fn a_red_portfolio_does_not_scale() {
    let e = engine_with(
        world(MessagingLimitTier::Tier250, true, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    for i in 0..15 {
        force(
            &e,
            T0,
            U + 50_000 + i,
            UserAction::Report(BlockReason::Spam),
            &mut out,
        );
    }
    assert_eq!(view(&e).quality_rating, QualityRating::Red);
    for i in 0..125 {
        e.send(T0, BIZ, PHONE, &notice(U + i), &mut out).unwrap();
    }
    e.handle_timeouts(T0.plus(12 * H), &mut out);
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier250);
    assert!(capability_events(&out.events).is_empty());
}

#[test]
fn unverified_portfolio_reaches_2k_after_2000_users_in_30_days() {
    let e = engine_with(
        world(MessagingLimitTier::Tier250, false, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    for day in 0..10u64 {
        let t = T0.plus(day * D);
        for i in 0..200 {
            e.send(
                t.plus(i),
                BIZ,
                PHONE,
                &notice(U + day * 1_000 + i),
                &mut out,
            )
            .unwrap();
        }
        e.handle_timeouts(t.plus(D - 1), &mut out);
        let tier = view(&e).messaging_limit;
        if day < 9 {
            assert_eq!(tier, MessagingLimitTier::Tier250, "day {day}");
        } else {
            assert_eq!(tier, MessagingLimitTier::Tier2K, "day {day}");
        }
    }
}

fn deferrals(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.body, EventBody::LimitReviewDeferred { .. }))
        .count()
}

/// 200 new users a day for 10 days (an unverified portfolio at 250): the 2,000th is counted on
/// day 9, so the review is due 6 h later. Returns that instant.
fn reach_review(e: &Portfolios, out: &mut Effects) -> SimTime {
    for day in 0..10u64 {
        let t = T0.plus(day * D);
        for i in 0..200 {
            e.send(t.plus(i), BIZ, PHONE, &notice(U + day * 1_000 + i), out)
                .unwrap();
        }
        if day < 9 {
            e.handle_timeouts(t.plus(D - 1), out);
        }
    }
    T0.plus(9 * D + 199).plus(6 * H)
}

#[test]
fn the_2k_review_can_be_deferred_with_account_alerts_then_retried() {
    let p = PolicyConfig {
        limit_review_deny_ratio: 1.0,
        limit_review_retry_hours: 72,
        ..policy()
    };
    let e = engine_with(
        world(MessagingLimitTier::Tier250, false, Profiles::silent()),
        p,
    );
    let mut out = Effects::default();
    let due = reach_review(&e, &mut out);
    out.clear();
    e.handle_timeouts(due, &mut out);
    // Deferred: the limit stays, no capability update, one alert per WABA.
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier250);
    assert!(capability_events(&out.events).is_empty());
    assert_eq!(deferrals(&out.events), 1);
    assert!(out
        .events
        .iter()
        .all(|ev| !matches!(ev.body, EventBody::LimitReviewDeferred { .. }) || ev.at == due));
    // New users inside the 72 h retry period arm no review.
    let t = due.plus(D);
    for i in 0..10 {
        e.send(t.plus(i), BIZ, PHONE, &notice(U + 50_000 + i), &mut out)
            .unwrap();
    }
    out.clear();
    e.handle_timeouts(due.plus(72 * H - 1), &mut out);
    assert_eq!(deferrals(&out.events), 0);
    // After it, the next counted user arms another review (deferred again at ratio 1).
    let t = due.plus(72 * H);
    e.send(t, BIZ, PHONE, &notice(U + 60_000), &mut out)
        .unwrap();
    e.handle_timeouts(t.plus(6 * H), &mut out);
    assert_eq!(deferrals(&out.events), 1);
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier250);
}

#[test]
fn the_2k_review_approves_by_default_and_verified_portfolios_skip_it() {
    // Default ratio 0: approved, no alert.
    let e = engine_with(
        world(MessagingLimitTier::Tier250, false, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    let due = reach_review(&e, &mut out);
    e.handle_timeouts(due, &mut out);
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier2K);
    assert_eq!(deferrals(&out.events), 0);
    // A verified portfolio scales at half use with no review, whatever the ratio.
    let p = PolicyConfig {
        limit_review_deny_ratio: 1.0,
        ..policy()
    };
    let e = engine_with(
        world(MessagingLimitTier::Tier250, true, Profiles::silent()),
        p,
    );
    let mut out = Effects::default();
    for i in 0..125 {
        e.send(T0, BIZ, PHONE, &notice(U + i), &mut out).unwrap();
    }
    e.handle_timeouts(T0.plus(6 * H), &mut out);
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier2K);
    assert_eq!(deferrals(&out.events), 0);
}

#[test]
fn review_verdicts_at_a_ratio_are_drawn_per_review_and_repeat_with_the_seed() {
    let p = PolicyConfig {
        limit_review_deny_ratio: 0.5,
        ..policy()
    };
    let verdicts = |seed: u64| -> Vec<bool> {
        (1..=64)
            .map(|n| super::enforcement::review_deferred(seed, BIZ, n, &p))
            .collect()
    };
    let a = verdicts(7);
    assert_eq!(a, verdicts(7));
    let deferred = a.iter().filter(|d| **d).count();
    assert!((16..=48).contains(&deferred), "{deferred} of 64");
}

#[test]
fn legacy_per_number_mode_scales_250_1k_and_downgrades_after_7_days_flagged() {
    let p = PolicyConfig {
        limits_mode: LimitsMode::PerNumber,
        restrict_after_red_hours: 0,
        ..policy()
    };
    let e = engine_with(
        world(MessagingLimitTier::Tier250, true, Profiles::silent()),
        p,
    );
    let mut out = Effects::default();
    for i in 0..125 {
        e.send(T0, BIZ, PHONE, &notice(U + i), &mut out).unwrap();
    }
    out.clear();
    e.handle_timeouts(T0.plus(6 * H), &mut out);
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier1K);
    let ev: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::PhoneQuality {
                event,
                current_limit,
                old_limit,
                ..
            } => Some((*event, *current_limit, *old_limit)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ev,
        vec![(
            "UPGRADE",
            MessagingLimitTier::Tier1K,
            Some(MessagingLimitTier::Tier250)
        )]
    );
    // RED and kept RED by fresh reports every day: after 7 days FLAGGED → CONNECTED, 250.
    let t = T0.plus(D);
    for day in 0..8u64 {
        for i in 0..25 {
            let at = t.plus(day * D);
            force(
                &e,
                at,
                U + 100_000 + day * 100 + i,
                UserAction::Report(BlockReason::Spam),
                &mut out,
            );
        }
        if day < 7 {
            assert_eq!(view(&e).status, NumberStatus::Flagged, "day {day}");
        }
        e.handle_timeouts(t.plus((day + 1) * D - 1), &mut out);
    }
    assert_eq!(view(&e).messaging_limit, MessagingLimitTier::Tier250);
    assert_eq!(view(&e).status, NumberStatus::Connected);
}

// ----- Throughput upgrade -------------------------------------------------------------------

#[test]
fn throughput_upgrade_at_unlimited_with_enough_users_then_1000_mps() {
    let p = PolicyConfig {
        throughput_upgrade_users: 50,
        ..policy()
    };
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        p.clone(),
    );
    let mut out = Effects::default();
    for i in 0..49 {
        e.send(T0, BIZ, PHONE, &notice(U + i), &mut out).unwrap();
    }
    assert!(!view(&e).throughput_upgrading);
    e.send(T0, BIZ, PHONE, &notice(U + 49), &mut out).unwrap();
    assert!(view(&e).throughput_upgrading);
    // During the upgrade (60 s) the number answers 131057.
    assert_eq!(
        code(e.send(
            T0.plus(59 * MICROS_PER_SEC),
            BIZ,
            PHONE,
            &notice(U),
            &mut out
        )),
        Some(131057)
    );
    out.clear();
    e.handle_timeouts(T0.plus(60 * MICROS_PER_SEC), &mut out);
    assert!(out.events.iter().any(|e| matches!(
        &e.body,
        EventBody::PhoneQuality {
            event: "THROUGHPUT_UPGRADE",
            current_limit: MessagingLimitTier::Unlimited,
            ..
        }
    )));
    assert_eq!(view(&e).throughput_mps, 1_000);
    assert!(e
        .send(
            T0.plus(60 * MICROS_PER_SEC),
            BIZ,
            PHONE,
            &notice(U),
            &mut out
        )
        .is_ok());
    // Upgraded at the unlimited tier: nothing reads the unique-user count any more, so new
    // users are no longer counted (before the upgrade each one was).
    let used = view(&e).messaging_limit_used;
    assert_eq!(used, 50);
    for i in 100..110 {
        e.send(
            T0.plus(61 * MICROS_PER_SEC),
            BIZ,
            PHONE,
            &notice(U + i),
            &mut out,
        )
        .unwrap();
    }
    assert_eq!(view(&e).messaging_limit_used, used);
    // Not at the unlimited tier: no upgrade however many users.
    let e = engine_with(
        world(MessagingLimitTier::Tier100K, true, Profiles::silent()),
        p,
    );
    for i in 0..100 {
        e.send(T0, BIZ, PHONE, &notice(U + i), &mut out).unwrap();
    }
    assert!(!view(&e).throughput_upgrading);
    assert_eq!(view(&e).throughput_mps, 10_000);
}

#[test]
fn coexistence_numbers_stay_at_20_mps_and_are_never_upgraded() {
    let p = PolicyConfig {
        throughput_upgrade_users: 50,
        ..policy()
    };
    let mut w = world(MessagingLimitTier::Unlimited, true, Profiles::silent());
    let n = &mut w.businesses[0].wabas[0].phone_numbers[0];
    n.coexistence = true;
    n.throughput_mps = None;
    let e = engine_with(w, p);
    assert_eq!(view(&e).throughput_mps, 20);
    let mut out = Effects::default();
    // One second's burst: 20 go, the 21st is throttled (130429).
    for i in 0..20 {
        e.send(T0, BIZ, PHONE, &notice(U + i), &mut out).unwrap();
    }
    assert_eq!(
        code(e.send(T0, BIZ, PHONE, &notice(U + 20), &mut out)),
        Some(130429)
    );
    // Past the upgrade's user count, no upgrade starts.
    for i in 0..100u64 {
        let t = T0.plus((i + 2) * MICROS_PER_SEC);
        e.send(t, BIZ, PHONE, &notice(U + 1_000 + i), &mut out)
            .unwrap();
    }
    assert!(!view(&e).throughput_upgrading);
    e.handle_timeouts(T0.plus(H), &mut out);
    assert_eq!(view(&e).throughput_mps, 20);
}

#[test]
fn a_coexistence_number_with_another_throughput_is_refused_by_name() {
    let mut w = world(MessagingLimitTier::Unlimited, true, Profiles::silent());
    let n = &mut w.businesses[0].wabas[0].phone_numbers[0];
    n.coexistence = true;
    n.throughput_mps = Some(80);
    let err = build_world_with_policy(&w, RulesConfig::default(), policy(), 7, T0)
        .err()
        .expect("refused");
    let text = format!("{err:?}");
    assert!(
        text.contains("phone_numbers[0].throughput_mps") && text.contains("20 msg/s"),
        "{text}"
    );
}

// ----- Marketing Messages API -----------------------------------------------------------------

fn via_mm(mut m: Outbound, strict: bool) -> Outbound {
    m.channel = message::Channel::MarketingMessages { strict };
    m
}

fn mm_world(onboarded: bool, mm_only: bool) -> Portfolios {
    let mut w = world(MessagingLimitTier::Unlimited, true, Profiles::silent());
    w.businesses[0].wabas[0].marketing_messages_onboarded = onboarded;
    w.businesses[0].wabas[0].disable_marketing_messages_on_cloud_api = mm_only;
    engine_with(w, policy())
}

/// `pricing.category` of the delivered statuses.
fn delivered_categories(events: &[Event]) -> Vec<crate::pricing::Category> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Status {
                info,
                status: DeliveryStatus::Delivered,
                ..
            } => Some(info.billing.category),
            _ => None,
        })
        .collect()
}

#[test]
fn marketing_messages_api_takes_marketing_templates_only() {
    use crate::pricing::Category;
    let e = mm_world(true, false);
    let mut out = Effects::default();
    let r = e.send(T0, BIZ, PHONE, &via_mm(notice(U), false), &mut out);
    assert_eq!(
        r.as_ref().err().map(|r| (r.code.code(), r.rule)),
        Some((131055, Some(Rule::MarketingMessages)))
    );
    // An onboarded WABA: marketing_lite, priced (billable) at the marketing rate.
    e.send(T0, BIZ, PHONE, &via_mm(promo(U), true), &mut out)
        .unwrap();
    // The same template through /messages stays `marketing`.
    e.send(T0, BIZ, PHONE, &promo(U + 1), &mut out).unwrap();
    e.handle_timeouts(T0.plus(H), &mut out);
    assert_eq!(
        delivered_categories(&out.events),
        vec![Category::MarketingLite, Category::Marketing]
    );
    let lines = e.ledger_page(0, 100).lines;
    let amount = |c: Category| {
        lines
            .iter()
            .find(|l| l.category == c && l.billable)
            .map(|l| l.amount)
            .expect("charged")
    };
    assert_eq!(amount(Category::MarketingLite), amount(Category::Marketing));
}

#[test]
fn not_onboarded_strict_is_refused_and_fallback_goes_through_the_cloud_api() {
    use crate::pricing::Category;
    let e = mm_world(false, false);
    let mut out = Effects::default();
    let r = e.send(T0, BIZ, PHONE, &via_mm(promo(U), true), &mut out);
    assert_eq!(code(r), Some(131055));
    e.send(T0, BIZ, PHONE, &via_mm(promo(U), false), &mut out)
        .unwrap();
    e.handle_timeouts(T0.plus(H), &mut out);
    assert_eq!(delivered_categories(&out.events), vec![Category::Marketing]);
}

#[test]
fn marketing_disabled_on_the_cloud_api_fails_131063_for_marketing_only() {
    let e = mm_world(true, true);
    let mut out = Effects::default();
    let r = e.send(T0, BIZ, PHONE, &promo(U), &mut out);
    assert_eq!(
        r.as_ref().err().map(|r| (r.code.code(), r.rule)),
        Some((131063, Some(Rule::MarketingMessages)))
    );
    e.send(T0, BIZ, PHONE, &notice(U), &mut out).unwrap();
    e.send(T0, BIZ, PHONE, &via_mm(promo(U + 1), false), &mut out)
        .unwrap();
    // Not set: /messages takes marketing.
    let e = mm_world(true, false);
    e.send(T0, BIZ, PHONE, &promo(U), &mut out).unwrap();
    // Not onboarded, the fallback is the Cloud API, where marketing is disabled.
    let e = mm_world(false, true);
    assert_eq!(
        code(e.send(T0, BIZ, PHONE, &via_mm(promo(U), false), &mut out)),
        Some(131063)
    );
}

#[test]
fn a_template_idle_for_7_days_syncs_again_for_10_minutes() {
    let e = mm_world(true, false);
    let mut out = Effects::default();
    let mm = |t: SimTime, to: u64, out: &mut Effects| {
        code(e.send(t, BIZ, PHONE, &via_mm(promo(to), false), out))
    };
    // A scenario template is synced from the start; used within 7 days it stays synced.
    assert_eq!(mm(T0, U, &mut out), None);
    assert_eq!(mm(T0.plus(7 * D), U + 1, &mut out), None);
    // Idle for more than 7 days: 134101 for 10 minutes, then it goes.
    let t = T0.plus(14 * D + 1);
    assert_eq!(mm(t, U + 2, &mut out), Some(134101));
    assert_eq!(
        mm(t.plus(10 * 60 * MICROS_PER_SEC - 1), U + 3, &mut out),
        Some(134101)
    );
    assert_eq!(mm(t.plus(10 * 60 * MICROS_PER_SEC), U + 4, &mut out), None);
    // The Cloud API never syncs: /messages sends it whenever.
    let e = mm_world(true, false);
    assert!(e
        .send(T0.plus(30 * D), BIZ, PHONE, &promo(U), &mut out)
        .is_ok());
}

#[test]
fn onboarding_signs_the_terms_for_every_waba_once() {
    let e = mm_world(false, false);
    let mut out = Effects::default();
    assert_eq!(e.marketing_messages_status(BIZ, WABA).unwrap(), "ELIGIBLE");
    let id = e.onboard_marketing_messages(T0, BIZ, &mut out).unwrap();
    assert_eq!(id.to_string().len(), 15);
    let signed: Vec<_> = out
        .events
        .iter()
        .filter(|ev| {
            matches!(
                ev.body,
                EventBody::MarketingMessagesTermsSigned { owner_business } if owner_business == BIZ
            )
        })
        .map(|ev| ev.waba)
        .collect();
    assert_eq!(signed, vec![WABA]);
    assert_eq!(e.marketing_messages_status(BIZ, WABA).unwrap(), "ONBOARDED");
    let again = e.onboard_marketing_messages(T0, BIZ, &mut out);
    assert_eq!(code(again.map(|_| unreachable!())), Some(1752041));
    // Onboarded now: the STRICT send goes.
    e.send(T0, BIZ, PHONE, &via_mm(promo(U), true), &mut out)
        .unwrap();
}

// ----- Opt-in, opt-out, per-user marketing limit --------------------------------------------

#[test]
fn opted_out_users_get_131050_for_marketing_only() {
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    force(&e, T0, U, UserAction::OptOut(String::new()), &mut out);
    assert!(out
        .events
        .iter()
        .any(|e| matches!(&e.body, EventBody::Inbound { text, .. } if text == "STOP")));
    out.clear();
    e.send(T0.plus(1), BIZ, PHONE, &promo(U), &mut out).unwrap();
    e.send(T0.plus(1), BIZ, PHONE, &notice(U), &mut out)
        .unwrap();
    e.send(T0.plus(1), BIZ, PHONE, &promo(U + 1), &mut out)
        .unwrap();
    e.handle_timeouts(T0.plus(H), &mut out);
    assert_eq!(failed_codes(&out.events), vec![131050]);
    assert_eq!(delivered(&out.events), 2);
}

fn preferences(events: &[Event]) -> Vec<(u64, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::UserPreference { user, stop, .. } => Some((user.0, *stop)),
            _ => None,
        })
        .collect()
}

#[test]
fn stop_and_resume_send_user_preferences_and_switch_131050() {
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    // Plain traffic and a reply: no preference change is reported.
    e.send(T0, BIZ, PHONE, &promo(U), &mut out).unwrap();
    force(&e, T0.plus(1), U, UserAction::Reply("hi".into()), &mut out);
    e.handle_timeouts(T0.plus(H), &mut out);
    assert!(preferences(&out.events).is_empty());
    out.clear();
    force(
        &e,
        T0.plus(H),
        U,
        UserAction::OptOut("berhenti".into()),
        &mut out,
    );
    assert_eq!(preferences(&out.events), vec![(U, true)]);
    out.clear();
    e.send(T0.plus(2 * H), BIZ, PHONE, &promo(U), &mut out)
        .unwrap();
    e.handle_timeouts(T0.plus(3 * H), &mut out);
    assert_eq!(failed_codes(&out.events), vec![131050]);
    out.clear();
    force(
        &e,
        T0.plus(3 * H),
        U,
        UserAction::Resume(String::new()),
        &mut out,
    );
    assert_eq!(preferences(&out.events), vec![(U, false)]);
    assert!(out
        .events
        .iter()
        .any(|e| matches!(&e.body, EventBody::Inbound { text, .. } if text == "START")));
    out.clear();
    e.send(T0.plus(4 * H), BIZ, PHONE, &promo(U), &mut out)
        .unwrap();
    e.handle_timeouts(T0.plus(5 * H), &mut out);
    assert!(failed_codes(&out.events).is_empty());
    assert_eq!(delivered(&out.events), 1);
}

#[test]
fn strict_opt_in_rejects_users_without_opt_in_and_default_mode_accepts_them() {
    let mut profiles = Profiles::silent();
    profiles.marketing.opt_in_ratio = 0.5;
    let strict = PolicyConfig {
        require_opt_in: true,
        ..policy()
    };
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, profiles.clone()),
        strict,
    );
    let mut out = Effects::default();
    let rejected = (0..200)
        .filter(|i| code(e.send(T0.plus(*i), BIZ, PHONE, &promo(U + i), &mut out)) == Some(131005))
        .count();
    assert!((70..130).contains(&rejected), "{rejected}");
    // Utility opt-in ratio is 1.0 here: never rejected.
    assert!((0..50).all(|i| e
        .send(T0.plus(i), BIZ, PHONE, &notice(U + i), &mut out)
        .is_ok()));
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, profiles),
        policy(),
    );
    assert!((0..200).all(|i| e
        .send(T0.plus(i), BIZ, PHONE, &promo(U + i), &mut out)
        .is_ok()));
}

#[test]
fn users_without_opt_in_block_more() {
    let mut profiles = Profiles::silent();
    profiles.marketing.block = 0.02;
    let run = |opt_in: f64| {
        let mut p = profiles.clone();
        p.marketing.opt_in_ratio = opt_in;
        // 5,000 sends of a new template in 500 s would be paced, and in this world nobody
        // reads: the pacing assessment would pause the template. This test is about blocks.
        let rules = RulesConfig {
            pacing: super::pacing::PacingConfig {
                enabled: false,
                ..Default::default()
            },
            ..RulesConfig::default()
        };
        let w = world(MessagingLimitTier::Unlimited, true, p);
        let e = build_world_with_policy(&w, rules, policy(), 7, T0).unwrap();
        let mut out = Effects::default();
        for i in 0..5_000 {
            e.send(T0.plus(i * 100), BIZ, PHONE, &promo(U + i), &mut out)
                .unwrap();
        }
        e.handle_timeouts(T0.plus(D), &mut out);
        view(&e).counters.blocks
    };
    let (with, without) = (run(1.0), run(0.0));
    assert!((70..130).contains(&with), "{with}");
    assert!((400..600).contains(&without), "{without}");
}

#[test]
fn per_user_marketing_limit_fails_asynchronously_with_131049() {
    let p = PolicyConfig {
        per_user_marketing: [2, 2],
        ..policy()
    };
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        p,
    );
    let mut out = Effects::default();
    for k in 0..3 {
        e.send(
            T0.plus(k * 10 * MICROS_PER_SEC),
            BIZ,
            PHONE,
            &promo(U),
            &mut out,
        )
        .unwrap();
    }
    // Utility templates do not count.
    e.send(
        T0.plus(40 * MICROS_PER_SEC),
        BIZ,
        PHONE,
        &notice(U),
        &mut out,
    )
    .unwrap();
    // EEA (+49) users are exempt; US (+1) users get no marketing at all.
    for k in 0..3 {
        e.send(
            T0.plus(k * 10 * MICROS_PER_SEC),
            BIZ,
            PHONE,
            &promo(4915100000000),
            &mut out,
        )
        .unwrap();
    }
    e.send(T0, BIZ, PHONE, &promo(16505551234), &mut out)
        .unwrap();
    e.handle_timeouts(T0.plus(H), &mut out);
    assert_eq!(failed_codes(&out.events), vec![131049, 131049]);
    assert_eq!(delivered(&out.events), 2 + 1 + 3);
    // The next day the user can receive marketing again.
    out.clear();
    let day = T0.plus(D);
    e.send(day, BIZ, PHONE, &promo(U), &mut out).unwrap();
    e.handle_timeouts(day.plus(H), &mut out);
    assert!(failed_codes(&out.events).is_empty());
}

// ----- Account restriction ------------------------------------------------------------------

#[test]
fn sustained_red_restricts_business_initiated_messaging_until_expiration() {
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    // 60 reports: 120 weight = 12%; after 72 h of halving every 48 h still ≥ 3% → RED.
    for i in 0..60 {
        force(
            &e,
            T0,
            U + 10_000 + i,
            UserAction::Report(BlockReason::Spam),
            &mut out,
        );
    }
    out.clear();
    e.handle_timeouts(T0.plus(72 * H - 1), &mut out);
    assert!(e
        .send(T0.plus(72 * H - 1), BIZ, PHONE, &notice(U), &mut out)
        .is_ok());
    e.handle_timeouts(T0.plus(72 * H), &mut out);
    let restriction: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::AccountRestriction {
                restriction_type,
                expiration,
            } => Some((*restriction_type, *expiration)),
            _ => None,
        })
        .collect();
    let until = T0.plus(72 * H + 7 * D);
    assert_eq!(
        restriction,
        vec![("RESTRICTED_BIZ_INITIATED_MESSAGING", until)]
    );
    let r = e.send(T0.plus(73 * H), BIZ, PHONE, &notice(U + 1), &mut out);
    assert_eq!(
        r.as_ref().err().and_then(|r| r.rule),
        Some(Rule::AccountRestriction)
    );
    assert_eq!(code(r), Some(131048));
    // Replies inside a customer service window are still allowed.
    e.inbound(T0.plus(73 * H), PHONE, WaId(U + 2), "halo", &mut out)
        .unwrap();
    assert!(e
        .send(T0.plus(73 * H), BIZ, PHONE, &notice(U + 2), &mut out)
        .is_ok());
    // After the expiration business-initiated messages go again.
    e.handle_timeouts(until, &mut out);
    assert!(e.send(until, BIZ, PHONE, &notice(U + 3), &mut out).is_ok());
}

#[test]
fn red_that_recovers_before_the_deadline_is_not_restricted() {
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    for i in 0..15 {
        force(
            &e,
            T0,
            U + 10_000 + i,
            UserAction::Report(BlockReason::Spam),
            &mut out,
        );
    }
    e.handle_timeouts(T0.plus(10 * D), &mut out);
    assert!(!out
        .events
        .iter()
        .any(|e| matches!(e.body, EventBody::AccountRestriction { .. })));
    assert!(e
        .send(T0.plus(10 * D), BIZ, PHONE, &notice(U), &mut out)
        .is_ok());
    assert_eq!(view(&e).quality_rating, QualityRating::Green);
    assert_eq!(e.pending_timers(), 1, "only the delivery of that last send");
}

// ----- Determinism --------------------------------------------------------------------------

#[test]
fn same_seed_same_reactions_however_the_clock_is_stepped() {
    let mut profiles = Profiles::silent();
    profiles.marketing.block = 0.1;
    profiles.marketing.reply = 0.2;
    profiles.marketing.opt_out = 0.05;
    let run = |steps: u64| {
        let e = engine_with(
            world(MessagingLimitTier::Unlimited, true, profiles.clone()),
            policy(),
        );
        let mut out = Effects::default();
        for i in 0..300u64 {
            e.send(T0.plus(i), BIZ, PHONE, &promo(U + i), &mut out)
                .unwrap();
        }
        // One big step or many small ones: the same reactions at the same instants.
        for k in 1..=steps {
            e.handle_timeouts(T0.plus(D * k / steps), &mut out);
        }
        let mut lines: Vec<String> = out
            .events
            .iter()
            .map(|ev| format!("{}:{:?}", ev.at.as_micros(), ev.body))
            .collect();
        lines.sort();
        (view(&e).counters.blocks, view(&e).counters.replies, lines)
    };
    let (a, b) = (run(1), run(97));
    assert_eq!(a, b);
    assert!(a.0 > 10 && a.1 > 30, "{} {}", a.0, a.1);
}

/// `fire_due` returns exactly what `poll_timeout` says afterwards, through statuses, reads,
/// blocks (quality ticks, template pauses) and replies, over two weeks.
#[test]
fn fire_due_returns_the_next_timer() {
    let mut profiles = Profiles::silent();
    profiles.marketing.block = 0.2;
    profiles.marketing.block_reasons = [1.0, 0.0, 0.0, 0.0, 0.0];
    profiles.marketing.reply = 0.2;
    let mut w = world(MessagingLimitTier::Unlimited, true, profiles);
    w.audience.read_ratio = 0.5;
    let e = engine_with(w, policy());
    let mut out = Effects::default();
    for i in 0..300u64 {
        let _ = e.send(
            T0.plus(i * MICROS_PER_SEC),
            BIZ,
            PHONE,
            &promo(U + i),
            &mut out,
        );
    }
    let (mut fired, mut quality_ticks) = (0, 0);
    while let Some(t) = e.poll_timeout() {
        if t > T0.plus(14 * D) {
            break;
        }
        out.clear();
        e.handle_timeouts(t, &mut out);
        fired += out.events.len();
        quality_ticks += usize::from(!e.cells()[0].lock().biz.timers.is_empty());
    }
    assert!(fired > 400, "{fired} events");
    assert!(quality_ticks > 0, "side timers were pending");
    assert!(view(&e).counters.blocks > 20);
}

/// A message the door marks as naming unusable media (an unknown, deleted or expired media id)
/// is accepted and then fails with 131053; the same message without the mark is delivered.
#[test]
fn unusable_media_fails_asynchronously_with_131053() {
    let e = engine_with(
        world(MessagingLimitTier::Unlimited, true, Profiles::silent()),
        policy(),
    );
    let mut out = Effects::default();
    let mut bad = notice(U);
    bad.media_unavailable = true;
    e.send(T0, BIZ, PHONE, &bad, &mut out).unwrap();
    e.send(T0, BIZ, PHONE, &notice(U), &mut out).unwrap();
    e.handle_timeouts(T0.plus(H), &mut out);
    assert_eq!(failed_codes(&out.events), vec![131053]);
    assert_eq!(delivered(&out.events), 1);
}
