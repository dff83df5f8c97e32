//! The command layer: the command line parsed into plain values, one module per subcommand, and
//! the one place where an outcome becomes a process exit code.
//!
//! This is the only layer that imports the doors (server, load generator, simulation, report
//! renderers): they never import it, so each door can be used as a library (tests, benches)
//! without the command line. Public so tests can build options with `Cli::parse_from([...])`.
//!
//! Exit codes: 0 success; 1 a run's thresholds failed; 2 bad usage or bad scenario;
//! 3 the run itself failed (cannot bind, webhook handshake refused, …); 130 `run` interrupted.

pub mod cost;
pub mod merge;
pub mod partition_map;
pub mod report;
pub mod run;
pub mod schema;
pub mod serve;
pub mod simulate;
pub mod tokens;
pub mod validate;
pub mod webhooks_load;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "wabasim",
    version,
    about = "Load-testing simulator of the WhatsApp Business Platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the mock WhatsApp Cloud API server.
    Serve(serve::ServeArgs),
    /// Estimate what messages cost under a pricing model (quick form or a plan file).
    Cost(cost::CostArgs),
    /// Run a scenario's traffic over HTTP (embedded mock server unless --target) and report.
    Run(run::RunArgs),
    /// Merge the reports of parallel runs (`run --shard I/N`) into one and judge its thresholds.
    Merge(merge::MergeArgs),
    /// Print the HAProxy map routing ids and tokens to `serve --partition` instances.
    PartitionMap(partition_map::PartitionMapArgs),
    /// Run a scenario's traffic in virtual time (days in seconds) and write JSON + HTML reports.
    Simulate(simulate::SimArgs),
    /// Render a saved report as a self-contained HTML page, or a `run` report as JUnit XML or
    /// a Markdown summary for CI.
    Report(report::ReportArgs),
    /// Load-test a BSP's webhook receiver: signed Meta-shaped webhooks, latency vs Meta's targets.
    WebhooksLoad(webhooks_load::WebhooksLoadArgs),
    /// Print the JSON Schema of the scenario format (for editors).
    Schema,
    /// Check a scenario file and report the first problem with file, line and field.
    Validate {
        /// The scenario file.
        scenario: PathBuf,
    },
}

/// Counts SIGINT (Ctrl-C) and SIGTERM (what Docker, Kubernetes and CI runners send) from now
/// on: commands stop gracefully on the first and at once on the second. A signal that cannot
/// be installed is never counted.
pub fn stop_signals() -> tokio::sync::watch::Receiver<u32> {
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            #[cfg(unix)]
            let terminated = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let terminated = std::future::pending::<()>();
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { std::future::pending::<()>().await },
                _ = terminated => {}
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    rx
}

/// Writes an output file the user named, creating its directory first: `--out out/a.json` on a
/// fresh clone must not fail after a whole run because `out/` does not exist yet.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    let fail =
        |e: std::io::Error| Failure::Runtime(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::write(path, bytes).map_err(fail)
}

pub const EXIT_OK: i32 = 0;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_RUNTIME: i32 = 3;

/// Why a command stopped without doing its job. Commands return it instead of choosing an exit
/// code, so the mapping from failure to exit code lives here only ([`Failure::exit_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Bad command line, scenario or input file: nothing was done.
    Usage(String),
    /// The command was valid but could not be carried out (cannot bind, cannot write, …).
    Runtime(String),
}

impl Failure {
    /// The process exit code of this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Runtime(_) => EXIT_RUNTIME,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Runtime(m) => m,
        }
    }
}

/// What a command returns: `Ok(code)` when it ran (0, or a run's own verdict such as 1 for
/// failed thresholds), `Err` when it could not.
pub type Outcome = Result<i32, Failure>;

/// Runs the parsed command line and returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let outcome = match cli.command {
        Command::Serve(args) => serve::main(args),
        Command::Cost(args) => cost::main(&args),
        Command::Run(args) => run::main(args),
        Command::Merge(args) => merge::main(&args),
        Command::PartitionMap(args) => partition_map::main(&args),
        Command::WebhooksLoad(args) => webhooks_load::main(&args),
        Command::Simulate(args) => simulate::main(args),
        Command::Report(args) => report::main(&args),
        Command::Schema => schema::main(),
        Command::Validate { scenario } => validate::main(&scenario),
    };
    exit_code(outcome)
}

/// The exit code of a command's outcome; a failure is printed as `error: …` on stderr, here
/// and nowhere else.
pub fn exit_code(outcome: Outcome) -> i32 {
    match outcome {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message());
            f.exit_code()
        }
    }
}

/// Standard output for a command's printed results. A reader that went away
/// (`wabasim simulate … | head`) is not an error: what is left to print is dropped and the
/// command carries on, so its files (reports, JSON) are still written and its exit code still
/// says how the run went. Any other write error is reported on stderr.
pub struct Stdout;

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::io::stdout().lock().write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(buf.len()),
            r => r,
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stdout().lock().flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }
}

/// Prints to [`Stdout`] (`println!` would panic on a closed pipe).
pub fn say(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = Stdout.write_fmt(args).and_then(|()| Stdout.flush()) {
        eprintln!("warning: cannot write to standard output: {e}");
    }
}
