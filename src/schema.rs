//! JSON Schema helpers every layer's serde types use (the scenario format's schema is derived
//! from them, see `scenario::schema`).

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
