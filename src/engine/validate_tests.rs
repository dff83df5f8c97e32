//! What [`ValidWorld::new`] refuses, and that it names every problem's field.

use super::*;
use crate::engine::harness::build_world;
use crate::engine::ids::PhoneNumberId;
use crate::engine::tests::world_with;
use crate::engine::world::NumberStatus;

const T0: SimTime = SimTime(1_760_000_000 * crate::clock::MICROS_PER_SEC);

fn problems(w: &WorldSpec) -> Vec<WorldError> {
    ValidWorld::new(w.clone(), Setup::default()).unwrap_err().0
}

#[test]
fn world_errors_name_the_field() {
    let mut w = world_with(NumberStatus::Connected, None);
    w.businesses[1].wabas[0].phone_numbers[0].id = PhoneNumberId(100);
    let err = build_world(&w, Default::default(), 1, T0).err().unwrap();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].field, "businesses[1].wabas[0].phone_numbers[0].id");
    let mut w = world_with(NumberStatus::Connected, None);
    w.businesses[0].wabas[0].templates[1].body = "Hi {{1}} {{x}}".into();
    let err = build_world(&w, Default::default(), 1, T0).err().unwrap();
    assert!(
        err.0[0]
            .field
            .starts_with("businesses[0].wabas[0].templates[1]"),
        "{err}"
    );
}

#[test]
fn every_problem_is_reported_in_the_order_of_the_description() {
    let mut w = world_with(NumberStatus::Connected, None);
    w.businesses[0].tokens.push(String::new());
    w.businesses[0].wabas[0].templates[2].name = "hello_world".into();
    w.businesses[0].wabas[0].templates[2].language = "en_US".into();
    w.businesses[1].tokens = vec!["tok".into()];
    let n = &mut w.businesses[1].wabas[0].phone_numbers[0];
    n.display_phone_number = "0812".into();
    n.throughput_mps = Some(0);
    let fields: Vec<String> = problems(&w).into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "businesses[0].tokens[1]",
            "businesses[0].wabas[0].templates[2].name",
            "businesses[1].tokens[0]",
            "businesses[1].wabas[0].phone_numbers[0].display_phone_number",
            "businesses[1].wabas[0].phone_numbers[0].throughput_mps",
        ]
    );
    let shown = InvalidWorld(problems(&w)).to_string();
    assert_eq!(shown.lines().count(), 5, "{shown}");
    assert!(
        shown.contains("businesses[1].tokens[0]: token already belongs to a business"),
        "{shown}"
    );
}

#[test]
fn rules_policy_and_audience_are_checked_with_the_world() {
    let w = world_with(NumberStatus::Connected, None);
    let mut setup = Setup::default();
    setup.rules.throughput_mps = 0;
    setup.policy.quality.red_at = 0.001;
    let mut w2 = w.clone();
    w2.audience.read_ratio = 2.0;
    let fields: Vec<String> = ValidWorld::new(w2, setup)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [
            "rules.throughput_mps",
            "policy.quality.yellow_at",
            "audience.read_ratio"
        ]
    );
    assert!(ValidWorld::new(w, Setup::default()).is_ok());
}

#[test]
fn templates_without_an_id_get_one_above_the_scenario_ids() {
    let w = world_with(NumberStatus::Connected, None);
    let v = ValidWorld::new(w, Setup::default()).unwrap();
    let ids: Vec<u64> = v.world().businesses[0].wabas[0]
        .templates
        .iter()
        .map(|t| t.id.unwrap().0)
        .collect();
    let first = API_TEMPLATE_IDS + 1;
    assert_eq!(ids, (first..first + 5).collect::<Vec<_>>());
    assert_eq!(v.last_template_id(), first + 4);
    // A declared id that one of those takes is a duplicate.
    let mut w = world_with(NumberStatus::Connected, None);
    w.businesses[0].wabas[0].templates[4].id = Some(TemplateId(first));
    let e = problems(&w);
    assert_eq!(
        e[0].field, "businesses[0].wabas[0].templates[4].id",
        "{e:?}"
    );
}
