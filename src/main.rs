use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use dockside::agent::{self, inspect};
use dockside::central::{self, store::CentralReader};
use dockside::config::{AgentConfig, CentralConfig};
use dockside::store::LogReader;

const DEFAULT_CONFIG: &str = "/etc/dockside/dockside.toml";
const DEFAULT_CENTRAL_CONFIG: &str = "/etc/dockside/central.toml";

#[derive(Parser)]
#[command(
    name = "dockside",
    version,
    about = "Edge agent for distribution-centre gateways"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the site agent (the daemon).
    Run {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a config file and explain every problem.
    CheckConfig {
        #[arg(default_value = DEFAULT_CONFIG)]
        file: PathBuf,
    },
    /// Show the log's state: epoch, last seq, events by kind, dead letters, size.
    Status {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print events from the log.
    Events {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only events with a seq greater than this.
        #[arg(long, default_value_t = 0)]
        since: i64,
        /// At most this many events.
        #[arg(long)]
        limit: Option<u64>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The central allocator: without a subcommand, run its receiver.
    Central {
        #[arg(long, global = true, default_value = DEFAULT_CENTRAL_CONFIG)]
        config: PathBuf,
        #[command(subcommand)]
        command: Option<CentralCommand>,
    },
}

#[derive(Subcommand)]
enum CentralCommand {
    /// List the sites: last seq stored, lag behind the site, last contact.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Store a plan for a site under its next version and publish it.
    PushPlan {
        #[arg(long)]
        site: String,
        /// The plan, a JSON object.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Jsonl,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            failure_code(&e)
        }
    }
}

/// sysexits' EX_CONFIG for a mistake in the config or its secrets: the units
/// say `RestartPreventExitStatus=78`, so systemd does not restart into the
/// same mistake every few seconds. Anything else is 1 and restarted.
fn failure_code(e: &anyhow::Error) -> ExitCode {
    let config = e.chain().any(|c| {
        c.is::<dockside::config::ConfigError>()
            || c.is::<dockside::link::LinkError>()
            || c.is::<dockside::systemd::CredentialError>()
    });
    if config {
        ExitCode::from(78)
    } else {
        ExitCode::FAILURE
    }
}

fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { config } => {
            let config = AgentConfig::load(&config)?;
            init_logging();
            runtime()?.block_on(async {
                let stop = CancellationToken::new();
                tokio::spawn(stop_on_signal(stop.clone()));
                agent::run(config, stop).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Central { config, command } => {
            let config = CentralConfig::load(&config)?;
            match command {
                None => {
                    init_logging();
                    runtime()?.block_on(async {
                        let stop = CancellationToken::new();
                        tokio::spawn(stop_on_signal(stop.clone()));
                        central::run(config, stop).await
                    })?;
                }
                Some(CentralCommand::Status { json }) => {
                    let sites = CentralReader::open(&config.db_path())?.sites()?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&sites)?);
                    } else {
                        print!(
                            "{}",
                            central::render_sites(&sites, dockside::domain::time::now_ms())
                        );
                    }
                }
                Some(CentralCommand::PushPlan { site, file }) => {
                    let version = runtime()?.block_on(central::push_plan(&config, &site, &file))?;
                    println!("plan version {version} for site {site} stored and published");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => match AgentConfig::load(&file) {
            Ok(c) => {
                println!(
                    "{}: ok (site {}, {} subscription(s), database {})",
                    file.display(),
                    c.site,
                    c.subscriptions.len(),
                    c.db_path().display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Status { config, json } => {
            let config = AgentConfig::load(&config)?;
            let summary = LogReader::open(&config.db_path())?.summary()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", inspect::render_status(&summary));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Events {
            config,
            since,
            limit,
            format,
        } => {
            let config = AgentConfig::load(&config)?;
            let reader = LogReader::open(&config.db_path())?;
            let format = match format {
                Format::Text => inspect::EventFormat::Text,
                Format::Jsonl => inspect::EventFormat::Jsonl,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            inspect::write_events(&reader, since, limit, format, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOCKSIDE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// SIGTERM (systemd) or SIGINT (Ctrl-C) starts a clean shutdown.
async fn stop_on_signal(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
    stop.cancel();
}
