//! `wabasim report`: a saved JSON report (of `run` or `simulate`) rendered as a self-contained
//! HTML page.

use super::{say, Failure, Outcome, EXIT_OK};
use std::path::Path;

/// Reads `report`, writes the page to `html` and prints its path. An unreadable or unknown
/// report is a usage failure; a page that cannot be written is a runtime failure.
pub fn main(report: &Path, html: &Path) -> Outcome {
    let json =
        std::fs::read(report).map_err(|e| Failure::Usage(format!("{}: {e}", report.display())))?;
    let page = crate::render::html_from_json(&json)
        .map_err(|e| Failure::Usage(format!("{}: {e}", report.display())))?;
    std::fs::write(html, page).map_err(|e| Failure::Runtime(format!("{}: {e}", html.display())))?;
    say(format_args!("{}\n", html.display()));
    Ok(EXIT_OK)
}
