use std::io::{IsTerminal, Write};
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
    /// Validate a config file (an agent's or central's) and explain every problem.
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
    /// A whole simulated site and central in one process, nothing to install.
    #[cfg(feature = "demo")]
    Demo {
        /// A scenario file (see examples/demo-scenario.toml); default: built in.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Simulated seconds per real second (60: an hour a minute); default: the scenario's.
        #[arg(long)]
        speed: Option<f64>,
        /// Keep the agent's and central's databases here (default: a temporary directory).
        #[arg(long)]
        data: Option<PathBuf>,
        /// No live view: print the summary only.
        #[arg(long)]
        headless: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the site planner on a scenario and print its decisions and forecast as JSON.
    Plan {
        #[command(subcommand)]
        what: PlanCommand,
    },
}

#[derive(Subcommand)]
enum CentralCommand {
    /// List the sites: last seq stored, lag behind the site, last contact.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Orders taken in, where each is allocated, and those refused.
    Orders {
        /// Only orders with a shipment at this site.
        #[arg(long)]
        site: Option<String>,
        /// Only orders in this state: allocated, pending, new.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Per-site figures: orders allocated, picked, at risk, late; capacity, stock, doors.
    Sites {
        #[arg(long)]
        json: bool,
    },
    /// Each site's latest plan; with --site, its body.
    Plans {
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Import orders from a CSV file (one row per order line:
    /// order_id,destination_zone,promised_delivery,service_tier,client,sku,qty).
    ImportOrders { file: PathBuf },
    /// Store a plan for a site under its next version and publish it.
    PushPlan {
        #[arg(long)]
        site: String,
        /// The plan, a JSON object.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Dock-door sequencing: which vehicle at which door, when.
    Docks {
        /// A sequencing instance (JSON, see README), or the public benchmark's
        /// CSV (../shared/benchmarks/tadumadze2020/instances.csv).
        #[arg(long)]
        input: PathBuf,
        /// With a CSV: only this Problem_ID, with its full schedule.
        #[arg(long)]
        instance: Option<u32>,
        /// Search time per instance, ms.
        #[arg(long, default_value_t = 100)]
        budget_ms: u64,
        /// Seed of the search's perturbations.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Wave release, cutoff risk and triage.
    Waves {
        /// A plan (JSON, as central sends it), or {"plan", "config", "events"}.
        #[arg(long, required_unless_present = "replay", conflicts_with = "replay")]
        input: Option<PathBuf>,
        /// Run up to this time (RFC 3339 or ms); default: the last event.
        #[arg(long)]
        at: Option<String>,
        /// Seconds between decision rounds, as the agent runs them.
        #[arg(long, default_value_t = 60)]
        round_s: u64,
        /// Re-run the planner over a site's log (its dockside.db) and compare
        /// with the decisions it holds.
        #[arg(long)]
        replay: Option<PathBuf>,
        /// With --replay: the agent config whose [planning] to use (else defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// With --replay: start here (RFC 3339 or ms) instead of where the agent would.
        #[arg(long)]
        since: Option<String>,
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
            // Our errors often name their cause already; print each once.
            let mut text = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !text.contains(&cause) {
                    text = format!("{text}: {cause}");
                }
            }
            eprintln!("error: {text}");
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
                agent::run(config, dockside::domain::time::Clock::wall(), stop).await
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
                        central::run(config, dockside::domain::time::Clock::wall(), stop).await
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
                Some(CentralCommand::Orders { site, state, json }) => {
                    use central::inspect::{filter_orders, render_orders, OrdersView};
                    let reader = CentralReader::open(&config.db_path())?;
                    let reads = reader.reader();
                    let view = OrdersView {
                        orders: filter_orders(reads.orders()?, site.as_deref(), state.as_deref()),
                        rejected: if site.is_none() && state.is_none() {
                            reads.order_rejects(100)?
                        } else {
                            Vec::new()
                        },
                    };
                    if json {
                        println!("{}", serde_json::to_string_pretty(&view)?);
                    } else {
                        print!("{}", render_orders(&view));
                    }
                }
                Some(CentralCommand::Sites { json }) => {
                    use central::inspect::{render_sites, SiteRow};
                    let reader = CentralReader::open(&config.db_path())?;
                    let now = dockside::domain::time::now_ms();
                    let alloc = central::state::load(&config, &reader.reader(), now)?;
                    let plans = reader.reader().latest_plans()?;
                    let rows: Vec<SiteRow> = alloc
                        .figures(now)
                        .into_iter()
                        .map(|figures| SiteRow {
                            plan_version: plans
                                .iter()
                                .find(|p| p.site == figures.site)
                                .map(|p| p.version),
                            figures,
                        })
                        .collect();
                    if json {
                        println!("{}", serde_json::to_string_pretty(&rows)?);
                    } else {
                        print!("{}", render_sites(&rows));
                    }
                }
                Some(CentralCommand::Plans { site, json }) => {
                    let reader = CentralReader::open(&config.db_path())?;
                    let plans = reader.reader().latest_plans()?;
                    match site {
                        Some(site) => {
                            let plan = plans
                                .iter()
                                .find(|p| p.site == site)
                                .with_context(|| format!("no plan pushed to site {site} yet"))?;
                            let body: serde_json::Value = serde_json::from_str(&plan.body)?;
                            println!("{}", serde_json::to_string_pretty(&body)?);
                        }
                        None if json => println!("{}", serde_json::to_string_pretty(&plans)?),
                        None => print!(
                            "{}",
                            central::inspect::render_plans(
                                &plans,
                                dockside::domain::time::now_ms()
                            )
                        ),
                    }
                }
                Some(CentralCommand::ImportOrders { file }) => {
                    let report = central::intake::import_orders(&config, &file)?;
                    println!(
                        "{}: {} order(s): {} taken, {} already known, {} refused",
                        file.display(),
                        report.orders,
                        report.accepted,
                        report.duplicates,
                        report.rejected.len()
                    );
                    for r in &report.rejected {
                        println!("  refused: {r}");
                    }
                    if !report.rejected.is_empty() {
                        return Ok(ExitCode::FAILURE);
                    }
                }
                Some(CentralCommand::PushPlan { site, file }) => {
                    let version = runtime()?.block_on(central::push_plan(&config, &site, &file))?;
                    println!("plan version {version} for site {site} stored and published");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            scenario,
            speed,
            data,
            headless,
            json,
        } => {
            // Logs would scroll the live view away: only when asked for.
            if std::env::var_os("DOCKSIDE_LOG").is_some() {
                init_logging();
            }
            let prepared = match scenario {
                Some(path) => dockside::demo::scenario::Prepared::load(&path)?,
                None => dockside::demo::scenario::Prepared::built_in(),
            };
            let options = dockside::demo::DemoOptions {
                speed,
                data,
                headless,
            };
            let summary = runtime()?.block_on(dockside::demo::run(prepared, options))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", dockside::demo::summary::render(&summary));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } if is_central_config(&file) => {
            match CentralConfig::load(&file) {
                Ok(c) => {
                    println!(
                        "{}: ok (central: {} site(s), {} carrier service(s), {} tenant(s), orders on {}, database {})",
                        file.display(),
                        c.sites.len(),
                        c.carriers.len(),
                        c.tenants.len(),
                        c.orders_topic(),
                        c.db_path().display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::CheckConfig { file } => match AgentConfig::load(&file) {
            Ok(c) => {
                println!(
                    "{}: ok (site {}, {} subscription(s), {} Modbus device(s) with {} door(s), database {})",
                    file.display(),
                    c.site,
                    c.subscriptions.len(),
                    c.modbus.devices.len(),
                    c.modbus.devices.iter().map(|d| d.doors.len()).sum::<usize>(),
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
        Command::Plan {
            what:
                PlanCommand::Docks {
                    input,
                    instance,
                    budget_ms,
                    seed,
                },
        } => {
            plan_docks(&input, instance, budget_ms, seed)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            what:
                PlanCommand::Waves {
                    input,
                    at,
                    round_s,
                    replay,
                    config,
                    since,
                },
        } => match (input, replay) {
            (Some(input), _) => {
                plan_waves(&input, at.as_deref(), round_s)?;
                Ok(ExitCode::SUCCESS)
            }
            (None, Some(db)) => {
                let planning = match config {
                    Some(path) => AgentConfig::load(&path)?
                        .planning
                        .with_context(|| format!("{} has no [planning] section", path.display()))?,
                    None => toml::from_str("").expect("every planning key has a default"),
                };
                let since = since.as_deref().map(parse_time).transpose()?;
                let report = agent::planning::replay(LogReader::open(&db)?, &planning, since)?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(if report.identical {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            (None, None) => unreachable!("clap requires --input or --replay"),
        },
    }
}

/// A central config has `[broker]` (or `[[sites]]`, `[[carriers]]`) and no
/// `site`; an agent's names its `site` and has `[site_broker]`.
fn is_central_config(path: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return false;
    };
    !table.contains_key("site")
        && !table.contains_key("site_broker")
        && ["broker", "sites", "carriers", "allocation", "tenants"]
            .iter()
            .any(|k| table.contains_key(*k))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// RFC 3339 or integer ms.
fn parse_time(t: &str) -> anyhow::Result<i64> {
    t.parse::<i64>()
        .ok()
        .or_else(|| dockside::domain::time::parse_rfc3339(t))
        .with_context(|| format!("{t}: give an RFC 3339 time (2026-11-25T10:00:00Z) or ms"))
}

fn plan_waves(input: &std::path::Path, at: Option<&str>, round_s: u64) -> anyhow::Result<()> {
    use dockside::plan::scenario::Scenario;

    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let scenario = Scenario::from_json(&text)
        .with_context(|| format!("{} is not a plan or scenario", input.display()))?;
    let end = match at {
        None => scenario.default_end(),
        Some(t) => parse_time(t).context("--at")?,
    };
    let outcome = scenario
        .run(end, round_s.max(1) as i64 * 1000)
        .with_context(|| format!("{}: the plan is not usable", input.display()))?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &outcome)?;
    writeln!(out)?;
    Ok(())
}

fn plan_docks(
    input: &std::path::Path,
    instance: Option<u32>,
    budget_ms: u64,
    seed: u64,
) -> anyhow::Result<()> {
    use dockside::plan::docks::{outcome, tadumadze, DockProblem, Rounds};

    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    // The search stops at its round limit or when the time is up.
    let run = |p: &DockProblem| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(budget_ms);
        let mut rounds = Rounds(dockside::plan::docks::DockConfig::default().max_rounds);
        let started = std::time::Instant::now();
        let mut budget = || {
            dockside::plan::docks::Budget::exhausted(&mut rounds)
                || std::time::Instant::now() >= deadline
        };
        let out = outcome::plan(p, seed, &mut budget);
        (out, started.elapsed().as_secs_f64() * 1000.0)
    };
    let mut stdout = std::io::stdout().lock();
    if text.starts_with("Problem_ID,") {
        let all = tadumadze::parse(&text).with_context(|| format!("{}", input.display()))?;
        let mut rows = Vec::new();
        for inst in all
            .iter()
            .filter(|i| instance.map_or(true, |id| i.id == id))
        {
            let (out, ms) = run(&inst.problem);
            let out = out.with_context(|| format!("instance {} ({})", inst.id, inst.name))?;
            let unit = tadumadze::UNIT_MS as f64;
            let mut row = serde_json::json!({
                "id": inst.id,
                "name": inst.name,
                "doors": inst.problem.doors.len(),
                "vehicles": inst.problem.vehicles.len(),
                "feasible": out.figures.feasible,
                "late": out.figures.late,
                "overruns": out.figures.overruns,
                "weighted_tardiness": out.figures.weighted_tardiness_ms as f64 / unit,
                "edd": {"feasible": out.baselines.edd.feasible, "late": out.baselines.edd.late,
                        "weighted_tardiness": out.baselines.edd.weighted_tardiness_ms as f64 / unit},
                "fcfs": {"feasible": out.baselines.fcfs.feasible, "late": out.baselines.fcfs.late,
                        "weighted_tardiness": out.baselines.fcfs.weighted_tardiness_ms as f64 / unit},
                "ms": (ms * 10.0).round() / 10.0,
            });
            if instance.is_some() {
                row["schedule"] = serde_json::to_value(&out)?;
            }
            rows.push(row);
        }
        anyhow::ensure!(
            !rows.is_empty(),
            "{}: no instance {}",
            input.display(),
            instance.unwrap_or(0)
        );
        serde_json::to_writer_pretty(&mut stdout, &rows)?;
    } else {
        let p: DockProblem = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a sequencing instance", input.display()))?;
        let (out, _) = run(&p);
        let out =
            out.with_context(|| format!("{}: the instance is not usable", input.display()))?;
        serde_json::to_writer_pretty(&mut stdout, &out)?;
    }
    writeln!(stdout)?;
    Ok(())
}

fn init_logging() {
    let spec = std::env::var("DOCKSIDE_LOG").unwrap_or_else(|_| "info".into());
    let mut filter =
        tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|_| "info".into());
    if !spec.contains("tokio_modbus") {
        // tokio-modbus logs every byte it skips on a noisy serial line; the
        // pollers log what matters (device offline, with the error).
        filter = filter.add_directive("tokio_modbus=off".parse().expect("a valid directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
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
