use clap::Parser;
use wabasim::cli::Cli;

fn main() {
    let cli = Cli::parse();
    std::process::exit(wabasim::app::main(cli));
}
