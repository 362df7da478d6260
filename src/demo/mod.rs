//! `dockside demo`: a whole site in one process over real protocols — an
//! embedded MQTT broker, the door controller over Modbus TCP, simulated
//! scanners, WMS and yard, the agent with its SQLite log, and central with
//! its own — driven by a scenario in simulated time.

pub mod broker;
pub mod configs;
pub mod doors;
pub mod relay;
pub mod scenario;
pub mod site;
pub mod summary;
pub mod view;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::ConfigError;
use crate::domain::time::Clock;
use crate::sim::day::{play, PlayOptions, Policy};
use crate::sim::door_plc::DoorPlc;
use crate::store::{LogReader, StoreError};
use scenario::Prepared;
use summary::{RunFigures, Summary, SyncFigures};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo: cannot open a loopback port: {0}\n    fix: check that 127.0.0.1 is up and ports are free")]
    Port(std::io::Error),
    #[error("demo: the embedded broker did not start on {0}: {1}")]
    Broker(std::net::SocketAddr, String),
    #[error("demo: data directory {path}: {source}\n    fix: give --data a directory you can write, or leave it out for a temporary one")]
    Data {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("demo: {0} holds an earlier run's databases\n    fix: remove it, or give --data an empty or new directory")]
    DataInUse(PathBuf),
    #[error("demo: stopped at {} (simulated) by a signal; no summary for a day not played out", crate::domain::time::format_rfc3339(*.0))]
    Interrupted(crate::domain::Millis),
    #[error("demo: the agent or central stopped before the day ended ({}): agent {agent}, central {central}", crate::domain::time::format_rfc3339(*.at))]
    EndedEarly {
        at: crate::domain::Millis,
        agent: String,
        central: String,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("demo: {0}")]
    Store(#[from] StoreError),
    #[error("demo: the agent failed: {0}")]
    Agent(String),
    #[error("demo: central failed: {0}")]
    Central(String),
    #[error("demo: central still lacks {missing} event(s) {waited:?} after the day ended (uplink stuck?)")]
    NotDrained { missing: i64, waited: Duration },
}

#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Simulated seconds per real second; none: the scenario's.
    pub speed: Option<f64>,
    /// Where the agent's and central's databases go; none: a temporary
    /// directory, removed at the end.
    pub data: Option<PathBuf>,
    /// No live view; the summary only.
    pub headless: bool,
}

/// How often the backlog is read (and the view redrawn).
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// How long the backlog may take to reach central once the day is over.
const DRAIN: Duration = Duration::from_secs(60);

/// Run the scenario (read and checked before anything starts) to its end;
/// returns the summary.
pub async fn run(prepared: Prepared, options: DemoOptions) -> Result<Summary, DemoError> {
    let speed = options.speed.unwrap_or(prepared.scenario.speed);
    let data = DataDir::new(options.data.clone())?;
    let day = &prepared.day;

    let broker = broker::start().await?;
    let stop = CancellationToken::new();
    let relay = relay::Relay::start(broker, stop.clone()).await?;
    let plc = DoorPlc::new(&[1]);
    let plc_server = plc
        .serve_tcp("127.0.0.1:0")
        .await
        .map_err(DemoError::Port)?;
    let ports = configs::Ports {
        broker,
        uplink: relay.addr,
        door_plc: plc_server.addr,
    };
    let agent_dir = data.sub("agent")?;
    let central_dir = data.sub("central")?;
    let agent_config = configs::agent(&day.site, &agent_dir, &day.doors, &ports)?;
    let central_config = configs::central(&central_dir, broker)?;
    let agent_db = agent_config.db_path();
    let central_db = central_config.db_path();

    // A few simulated minutes before the first shift, so everything is
    // connected when work starts.
    let clock = Clock::simulated(day.start - 5 * 60_000, speed);
    let central_task = tokio::spawn(crate::central::run(
        central_config.clone(),
        clock,
        stop.clone(),
    ));
    let agent_task = tokio::spawn(crate::agent::run(agent_config, clock, stop.clone()));

    let mut site = site::Site::new(
        day,
        &prepared.outages,
        clock,
        broker,
        central_config,
        plc,
        relay,
        stop.clone(),
    );
    let mut view = (!options.headless).then(view::View::new);
    // Ctrl-C (or the terminal closing, or SIGTERM) ends the day early but
    // cleanly: the agent commits what it holds, temporary data goes.
    let interrupt = CancellationToken::new();
    let signals = tokio::spawn(on_signal(interrupt.clone()));
    let mut peak = (0i64, None);
    let mut outages = Vec::new();
    let mut last_backlog = 0;
    let mut last_sample = Instant::now() - Duration::from_secs(1);
    let over = loop {
        let over = site.step().await?;
        if last_sample.elapsed() >= SAMPLE_EVERY {
            last_sample = Instant::now();
            let agent = agent_side(&agent_db);
            let now = clock.now_ms();
            if let Some(b) = agent.backlog {
                if b > peak.0 {
                    peak = (b, Some(now));
                }
                summary::Outage::watch(&mut outages, now, site.link_up(), b, last_backlog);
                last_backlog = b;
            }
            if let Some(v) = view.as_mut() {
                v.draw(day, &site.progress, &agent, site.link_up());
            }
        }
        if over
            || agent_task.is_finished()
            || central_task.is_finished()
            || interrupt.is_cancelled()
        {
            break over;
        }
        tokio::time::sleep(site.pause()).await;
    };
    signals.abort();
    let to = clock.now_ms();
    if interrupt.is_cancelled() {
        stop.cancel();
        let _ = agent_task.await;
        let _ = central_task.await;
        data.finish();
        return Err(DemoError::Interrupted(to));
    }
    if !over {
        // The agent or central stopped on its own: say which, and why.
        stop.cancel();
        let agent = agent_task.await;
        let central = central_task.await;
        data.finish();
        return Err(DemoError::EndedEarly {
            at: to,
            agent: format!("{agent:?}"),
            central: format!("{central:?}"),
        });
    }
    let drained = drain(&agent_db, &central_db).await;
    stop.cancel();
    let agent_result = agent_task.await;
    let central_result = central_task.await;
    match agent_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(DemoError::Agent(e.to_string())),
        Err(e) => return Err(DemoError::Agent(e.to_string())),
    }
    match central_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(DemoError::Central(e.to_string())),
        Err(e) => return Err(DemoError::Central(e.to_string())),
    }
    drained?;
    drop(plc_server);

    let (outcome, progress) = site.finish();
    let planned_doors = doors::schedule(day, &outcome, doors::DoorPolicy::Sequencer);
    let unplanned = play(day, &Policy::Static, &PlayOptions::default());
    let unplanned_doors = doors::schedule(day, &unplanned, doors::DoorPolicy::FirstComeFirstServed);
    let decisions = summary::logged_decisions(&agent_db)?;
    let mut sync = SyncFigures::count(&agent_db, &central_db)?;
    (sync.peak_backlog, sync.peak_backlog_at) = peak;
    sync.outages = outages;
    let mut by_kind = std::collections::BTreeMap::new();
    for d in &decisions {
        *by_kind.entry(d.kind().to_owned()).or_default() += 1;
    }
    let summary = Summary {
        site: day.site.clone(),
        speed,
        from: day.start,
        to,
        lines: day.line_count(),
        lines_picked: progress.lines_picked,
        waves_released: progress.released.len(),
        plans_pushed: progress.plans_pushed,
        device_messages: progress.messages,
        planned: RunFigures::of(day, &outcome, &planned_doors),
        unplanned: RunFigures::of(day, &unplanned, &unplanned_doors),
        sync,
        decisions: by_kind,
        incidents: summary::incidents(day, &decisions, &planned_doors),
    };
    data.finish();
    Ok(summary)
}

async fn on_signal(interrupt: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
    interrupt.cancel();
}

/// What the agent's log says now: its backlog and door states.
fn agent_side(agent_db: &std::path::Path) -> view::AgentSide {
    let Ok(reader) = LogReader::open(agent_db) else {
        return view::AgentSide::default();
    };
    view::AgentSide {
        backlog: reader.summary().ok().map(|s| s.sync.backlog),
        doors: reader
            .door_states()
            .map(|ds| ds.into_iter().map(|d| (d.door, d.state.as_str())).collect())
            .unwrap_or_default(),
    }
}

/// Wait until central stores every event the agent logged.
async fn drain(agent_db: &std::path::Path, central_db: &std::path::Path) -> Result<(), DemoError> {
    let started = Instant::now();
    loop {
        let last = LogReader::open(agent_db)?.summary()?.last_seq;
        let at_central = crate::central::store::CentralReader::open(central_db)?
            .sites()?
            .iter()
            .map(|s| s.last_seq)
            .max()
            .unwrap_or(0);
        if at_central >= last {
            return Ok(());
        }
        if started.elapsed() > DRAIN {
            return Err(DemoError::NotDrained {
                missing: last - at_central,
                waited: DRAIN,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `--data DIR`, or a temporary directory removed when the demo ends.
struct DataDir {
    path: PathBuf,
    temporary: bool,
}

impl DataDir {
    fn new(given: Option<PathBuf>) -> Result<DataDir, DemoError> {
        let (path, temporary) = match given {
            Some(p) => (p, false),
            None => {
                let tag: u64 = rand::random();
                (
                    std::env::temp_dir()
                        .join(format!("dockside-demo-{}-{tag:x}", std::process::id())),
                    true,
                )
            }
        };
        std::fs::create_dir_all(&path).map_err(|source| DemoError::Data {
            path: path.clone(),
            source,
        })?;
        Ok(DataDir { path, temporary })
    }

    fn sub(&self, name: &str) -> Result<PathBuf, DemoError> {
        let path = self.path.join(name);
        // The day starts from nothing: an old log would carry on its seq
        // and state into a new day, and the figures would mix both.
        let used = ["dockside.db", "central.db"]
            .iter()
            .any(|db| path.join(db).exists());
        if used {
            return Err(DemoError::DataInUse(path));
        }
        std::fs::create_dir_all(&path).map_err(|source| DemoError::Data {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    fn finish(self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
