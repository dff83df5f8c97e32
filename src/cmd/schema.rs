//! `wabasim schema`: the JSON Schema of the scenario format, for editors.

use super::{say, Outcome, EXIT_OK};

/// Prints the schema on standard output.
pub fn main() -> Outcome {
    say(format_args!(
        "{}\n",
        crate::scenario::schema::json_schema_text()
    ));
    Ok(EXIT_OK)
}
