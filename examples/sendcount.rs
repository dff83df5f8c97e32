//! Scratch: a fixed send workload for instruction counting (not committed).
use wabasim::clock::SimTime;
use wabasim::engine::config::RulesConfig;
use wabasim::engine::ids::{BusinessId, PhoneNumberId, WaId};
use wabasim::engine::message::Outbound;
use wabasim::engine::templates::{TemplateParam, TemplateSend};
use wabasim::engine::world::MessagingLimitTier;
use wabasim::engine::{Effects, Engine};
use wabasim::scenario::Scenario;
fn main() {
    let n: u64 = std::env::args().nth(1).unwrap().parse().unwrap();
    let s = Scenario::default_world();
    let rules = RulesConfig {
        throughput_mps: 2_000_000,
        ..RulesConfig::default()
    };
    let mut world = s.world();
    world.businesses[0].messaging_limit = MessagingLimitTier::Unlimited;
    let e = Engine::with_policy(
        &world,
        rules,
        wabasim::engine::policy::PolicyConfig {
            per_user_marketing: [255, 255],
            throughput_upgrade_users: u32::MAX,
            ..Default::default()
        },
        1,
        SimTime::from_secs(1_760_000_000),
    )
    .unwrap();
    let p = |t: &str| TemplateParam {
        name: None,
        text: Some(t.into()),
    };
    let msgs: Vec<Outbound> = (0..50_000u64)
        .map(|k| {
            Outbound::template(
                WaId(6281300000000 + k),
                TemplateSend {
                    name: "promo_diskon".into(),
                    language: "id".into(),
                    header: vec![],
                    body: vec![p("Ayu")],
                },
            )
        })
        .collect();
    let mut fx = Effects::default();
    let mut ok = 0;
    for i in 1..=n {
        let now = SimTime::from_secs(1_760_000_000).plus(i);
        if e.send(
            now,
            BusinessId(100000000000001),
            PhoneNumberId(106540352242922),
            &msgs[(i % 50_000) as usize],
            &mut fx,
        )
        .is_ok()
        {
            ok += 1;
        }
        fx.clear();
    }
    println!("{ok}");
}
