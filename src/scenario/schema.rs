//! `wabasim schema`: the JSON Schema of the scenario format, derived from the same serde types
//! that parse scenarios (so it cannot drift from the parser), for editors such as VS Code's
//! "Even Better TOML" (`#:schema ./scenario.schema.json` at the top of a scenario file).

/// The pretty-printed JSON Schema (draft-07) of a scenario file.
pub fn json_schema_text() -> String {
    let schema = schemars::schema_for!(super::Scenario);
    serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
