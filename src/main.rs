//! The `wabasim` binary: parse the command line, run the command, exit with its code.

use clap::Parser;
use wabasim::cmd::{self, Cli};

fn main() {
    std::process::exit(cmd::main(Cli::parse()));
}
