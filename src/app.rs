//! Command dispatch and exit codes, in one place.
//!
//! Exit codes: 0 success; 1 a run's thresholds failed; 2 bad usage or bad scenario;
//! 3 the run itself failed (cannot bind, webhook handshake refused, …).

use crate::cli::{Cli, Command};
use crate::scenario::Scenario;
use crate::serve::{banner, start, ServePlan};

pub const EXIT_OK: i32 = 0;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_RUNTIME: i32 = 3;

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

pub fn main(cli: Cli) -> i32 {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match cli.command {
        Command::Cost(args) => match crate::pricing::cli::run_cost_to(&args, &mut Stdout) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_USAGE
            }
        },
        Command::Run(args) => crate::run::main(args),
        Command::Schema => {
            say(format_args!(
                "{}\n",
                crate::scenario::schema::json_schema_text()
            ));
            EXIT_OK
        }
        Command::Simulate(args) => crate::simulate::main(args),
        Command::Report { report, html } => {
            let json = match std::fs::read(&report) {
                Ok(j) => j,
                Err(e) => {
                    eprintln!("error: {}: {e}", report.display());
                    return EXIT_USAGE;
                }
            };
            match crate::render::html_from_json(&json) {
                Ok(page) => match std::fs::write(&html, page) {
                    Ok(()) => {
                        say(format_args!("{}\n", html.display()));
                        EXIT_OK
                    }
                    Err(e) => {
                        eprintln!("error: {}: {e}", html.display());
                        EXIT_RUNTIME
                    }
                },
                Err(e) => {
                    eprintln!("error: {}: {e}", report.display());
                    EXIT_USAGE
                }
            }
        }
        Command::Validate { scenario } => match Scenario::load(&scenario) {
            Ok(s) => {
                say(format_args!(
                    "{}: ok ({} businesses, {} phone numbers, {})\n",
                    scenario.display(),
                    s.world().businesses.len(),
                    s.world()
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
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_USAGE
            }
        },
        Command::Serve(args) => {
            let plan = match ServePlan::from_args(&args) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            };
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return EXIT_RUNTIME;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::bind(&args.listen).await {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("error: --listen {}: {e}", args.listen);
                        return EXIT_RUNTIME;
                    }
                };
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                let webhook = plan.webhooks.url.clone();
                let running = match start(plan, listener, async move {
                    let _ = rx.await;
                })
                .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return EXIT_RUNTIME;
                    }
                };
                say(format_args!("{}", banner(&running, &webhook)));
                let _ = tokio::signal::ctrl_c().await;
                let _ = tx.send(());
                let stats = running.state.outbox.stats();
                eprintln!(
                    "wabasim: stopped; webhooks: {}",
                    serde_json::to_string(&stats).unwrap_or_default()
                );
                EXIT_OK
            })
        }
    }
}
