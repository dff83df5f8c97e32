//! Criterion benches of the engine's send path (no HTTP): what one accepted template send,
//! one throttled send and the wire parsing cost.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use wabasim::clock::SimTime;
use wabasim::engine::config::RulesConfig;
use wabasim::engine::harness::build_world_with_policy;
use wabasim::engine::ids::{BusinessId, PhoneNumberId, WaId};
use wabasim::engine::message::Outbound;
use wabasim::engine::policy::PolicyConfig;
use wabasim::engine::templates::{TemplateParam, TemplateSend};
use wabasim::engine::world::MessagingLimitTier;
use wabasim::engine::{Effects, Portfolios};
use wabasim::scenario::Scenario;

const BIZ: BusinessId = BusinessId(100000000000001);
const PHONE: PhoneNumberId = PhoneNumberId(106540352242922);

fn engine(mps: u32) -> Portfolios {
    engine_at(mps, MessagingLimitTier::Unlimited)
}

fn engine_at(mps: u32, tier: MessagingLimitTier) -> Portfolios {
    let s = Scenario::default_world();
    let rules = RulesConfig {
        throughput_mps: mps,
        log_capacity_per_number: 10_000,
        ..RulesConfig::default()
    };
    // Accepted sends must stay accepted for millions of iterations: an unlimited messaging
    // limit (the default world's 250 would fail most with 131048), a per-user marketing
    // limit high enough never to fire (the check still runs on every send), and no throughput
    // upgrade (100K users at an unlimited tier would put the number in maintenance, 131057).
    let mut world = s.world();
    world.businesses[0].messaging_limit = tier;
    let policy = PolicyConfig {
        per_user_marketing: [255, 255],
        throughput_upgrade_users: u32::MAX,
        ..PolicyConfig::default()
    };
    build_world_with_policy(&world, rules, policy, 1, SimTime::from_secs(1_760_000_000)).unwrap()
}

fn promo(to: u64) -> Outbound {
    Outbound::template(
        WaId(to),
        TemplateSend {
            name: "promo_diskon".into(),
            language: "id".into(),
            header: vec![],
            body: vec![TemplateParam {
                name: None,
                text: Some("Ayu".into()),
            }],
        },
    )
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));

    // Accepted sends to ever-new recipients at 1 µs spacing (throughput limit out of the way).
    let e = engine(2_000_000);
    let mut fx = Effects::default();
    let mut i = 0u64;
    let msgs: Vec<Outbound> = (0..100_000).map(|k| promo(6281300000000 + k)).collect();
    g.bench_function("send_accepted", |b| {
        b.iter(|| {
            i += 1;
            let now = SimTime::from_secs(1_760_000_000).plus(i);
            let r = e.send(now, BIZ, PHONE, &msgs[(i % 100_000) as usize], &mut fx);
            fx.clear();
            black_box(r).ok();
        })
    });
    // Its millions of pending timers must not weigh on the next benches' allocations.
    drop(e);

    // The same at the 100K tier: each new user is counted in the portfolio's moving 24 h
    // (the unlimited engine above skips that count once nothing can read it).
    let e = engine_at(2_000_000, MessagingLimitTier::Tier100K);
    let mut j = 0u64;
    g.bench_function("send_accepted_counted", |b| {
        b.iter(|| {
            j += 1;
            let now = SimTime::from_secs(1_760_000_000).plus(j);
            let r = e.send(now, BIZ, PHONE, &msgs[(j % 100_000) as usize], &mut fx);
            fx.clear();
            black_box(r).ok();
        })
    });
    // Its millions of pending timers must not weigh on the next benches' allocations.
    drop(e);

    // Sends refused by the throughput limiter (the cheapest path that still takes the lock).
    let e = engine(1);
    let now = SimTime::from_secs(1_760_000_000);
    let m = promo(6281300000001);
    let _ = e.send(now, BIZ, PHONE, &m, &mut fx);
    g.bench_function("send_throttled", |b| {
        b.iter(|| {
            let r = e.send(now, BIZ, PHONE, &m, &mut fx);
            black_box(r).err();
        })
    });
    // Its millions of pending timers must not weigh on the next benches' allocations.
    drop(e);

    // The full lifecycle: send + delivered + read timers fired.
    g.bench_function("lifecycle_send_deliver_read", |b| {
        b.iter_batched(
            || engine(2_000_000),
            |e| {
                let mut fx = Effects::default();
                for k in 0..1_000u64 {
                    let now = SimTime::from_secs(1_760_000_000).plus(k * 10);
                    let _ = e.send(now, BIZ, PHONE, &msgs[k as usize], &mut fx);
                }
                e.handle_timeouts(SimTime::from_secs(1_760_100_000), &mut fx);
                black_box(fx.events.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let body = br#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"6281300000001","type":"template","template":{"name":"promo_diskon","language":{"code":"id"},"components":[{"type":"body","parameters":[{"type":"text","text":"Ayu"}]}]}}"#;
    c.bench_function("wire/parse_template_send", |b| {
        b.iter(|| black_box(wabasim::server::wire::parse_messages(black_box(body)).is_ok()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
