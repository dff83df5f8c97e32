//! `wabasim validate`: checks a scenario file without running it, so a typo is found in
//! milliseconds rather than at the start of a long run.

use super::{say, Failure, Outcome, EXIT_OK};
use crate::scenario::Scenario;
use std::path::Path;

/// Loads and checks `scenario`; prints a one-line summary, or fails with the first problem
/// (file, line and field) as a usage failure.
pub fn main(scenario: &Path) -> Outcome {
    let s = Scenario::load(scenario).map_err(|e| Failure::Usage(e.to_string()))?;
    let file = scenario.display().to_string();
    let world = s
        .validate(&file)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    // Segments, when declared, with their countries (declared or from the calling code; `?`
    // for a shared calling code such as +1).
    let segments = &world.world().audience.segments;
    let segments = if segments.is_empty() {
        String::new()
    } else {
        let mut shown: Vec<String> = segments
            .iter()
            .take(5)
            .map(|s| format!("{} {}", s.name, s.country().unwrap_or_else(|| "?".into())))
            .collect();
        if segments.len() > shown.len() {
            shown.push("…".into());
        }
        format!(
            ", {} audience segments ({})",
            segments.len(),
            shown.join(", ")
        )
    };
    say(format_args!(
        "{}: ok ({} businesses, {} phone numbers{segments}, {})\n",
        file,
        world.world().businesses.len(),
        world
            .world()
            .businesses
            .iter()
            .flat_map(|b| &b.wabas)
            .map(|w| w.phone_numbers.len())
            .sum::<usize>(),
        match &s.traffic {
            Some(t) => format!("{} traffic phases", t.phases.len()),
            None => "no traffic".to_string(),
        }
    ));
    Ok(EXIT_OK)
}
