//! `wabasim schema`: the JSON Schema of the scenario format, derived from the same serde types
//! that parse scenarios (so it cannot drift from the parser), for editors such as VS Code's
//! "Even Better TOML" (`#:schema ./scenario.schema.json` at the top of a scenario file).

/// The pretty-printed JSON Schema (draft-07) of a scenario file.
pub fn json_schema_text() -> String {
    let schema = schemars::schema_for!(super::Scenario);
    serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Implements `JsonSchema` as a string with a description, for types whose serde form is a
/// string written by hand (ids, durations, amounts) rather than their Rust layout.
macro_rules! string_schema {
    ($t:ty, $desc:expr) => {
        impl schemars::JsonSchema for $t {
            fn schema_name() -> String {
                stringify!($t).to_string()
            }
            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    metadata: Some(Box::new(schemars::schema::Metadata {
                        description: Some($desc.to_string()),
                        ..Default::default()
                    })),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}
pub(crate) use string_schema;
