//! A simulated dock-door controller: real Modbus (tokio-modbus's server) over
//! TCP or over a pseudo-terminal serial line, with registers the caller sets
//! and faults it injects.
//!
//! One `DoorPlc` holds the memory of every unit id it answers for; serve it
//! on a TCP listener (`serve_tcp`) or on a pty pair (`serve_rtu`, the agent
//! opens `RtuSim::path()`). Units it does not know stay silent, as on a bus.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_modbus::server::tcp::accept_tcp_connection;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_serial::SerialPort;

/// Addresses below this exist in every table; above, the controller answers
/// "illegal data address".
pub const MEMORY_SIZE: u16 = 10_000;

/// How a unit misbehaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answers normally.
    None,
    /// Receives requests and never answers.
    Silent,
    /// Answers every read with this exception.
    Exception(ExceptionCode),
    /// Answers correctly, this long after the request.
    Late(Duration),
    /// Serial only: these bytes go on the line just before each answer.
    NoiseBeforeReply(Vec<u8>),
}

/// One request as the controller received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub unit: u8,
    pub function: u8,
    pub start: u16,
    pub count: u16,
}

#[derive(Debug)]
struct Unit {
    coils: HashMap<u16, bool>,
    discrete: HashMap<u16, bool>,
    holding: HashMap<u16, u16>,
    input: HashMap<u16, u16>,
    fault: Fault,
}

impl Unit {
    fn new() -> Unit {
        Unit {
            coils: HashMap::new(),
            discrete: HashMap::new(),
            holding: HashMap::new(),
            input: HashMap::new(),
            fault: Fault::None,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    units: HashMap<u8, Unit>,
    /// The most recent requests (bounded), and counts by function code.
    seen: VecDeque<Seen>,
    by_function: HashMap<u8, u64>,
}

const SEEN_KEPT: usize = 10_000;

/// The shared memory and faults of the simulated units. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct DoorPlc {
    state: Arc<Mutex<State>>,
}

impl DoorPlc {
    /// A controller answering for `units` (all memory zero).
    pub fn new(units: &[u8]) -> DoorPlc {
        let plc = DoorPlc::default();
        {
            let mut s = plc.lock();
            for &u in units {
                s.units.insert(u, Unit::new());
            }
        }
        plc
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_unit(&self, unit: u8, f: impl FnOnce(&mut Unit)) {
        let mut s = self.lock();
        f(s.units.entry(unit).or_insert_with(Unit::new));
    }

    pub fn set_coil(&self, unit: u8, address: u16, value: bool) {
        self.with_unit(unit, |u| {
            u.coils.insert(address, value);
        });
    }

    pub fn set_discrete_input(&self, unit: u8, address: u16, value: bool) {
        self.with_unit(unit, |u| {
            u.discrete.insert(address, value);
        });
    }

    pub fn set_holding_register(&self, unit: u8, address: u16, value: u16) {
        self.with_unit(unit, |u| {
            u.holding.insert(address, value);
        });
    }

    pub fn set_input_register(&self, unit: u8, address: u16, value: u16) {
        self.with_unit(unit, |u| {
            u.input.insert(address, value);
        });
    }

    /// Set or clear one bit of a holding register.
    pub fn set_holding_bit(&self, unit: u8, address: u16, bit: u8, value: bool) {
        self.with_unit(unit, |u| {
            let word = u.holding.entry(address).or_insert(0);
            if value {
                *word |= 1 << bit;
            } else {
                *word &= !(1 << bit);
            }
        });
    }

    pub fn set_fault(&self, unit: u8, fault: Fault) {
        self.with_unit(unit, |u| u.fault = fault);
    }

    /// The most recent requests received (up to 10,000), oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.iter().copied().collect()
    }

    /// Requests received so far, by function code.
    pub fn requests_by_function(&self) -> HashMap<u8, u64> {
        self.lock().by_function.clone()
    }

    /// What the controller does with a request: the answer (None: stay
    /// silent) and how long to wait before giving it.
    fn handle(&self, req: SlaveRequest<'_>) -> (Fault, Option<Result<Response, ExceptionCode>>) {
        let mut s = self.lock();
        let function = req.request.function_code().value();
        *s.by_function.entry(function).or_default() += 1;
        let (start, count) = match &req.request {
            Request::ReadCoils(a, n)
            | Request::ReadDiscreteInputs(a, n)
            | Request::ReadHoldingRegisters(a, n)
            | Request::ReadInputRegisters(a, n) => (*a, *n),
            _ => (0, 0),
        };
        if s.seen.len() == SEEN_KEPT {
            s.seen.pop_front();
        }
        s.seen.push_back(Seen {
            unit: req.slave,
            function,
            start,
            count,
        });
        let Some(unit) = s.units.get(&req.slave) else {
            return (Fault::None, None);
        };
        let fault = unit.fault.clone();
        let answer = match &fault {
            Fault::Silent => None,
            Fault::Exception(code) => Some(Err(*code)),
            _ => Some(read(unit, &req.request)),
        };
        (fault, answer)
    }
}

fn read(unit: &Unit, request: &Request<'_>) -> Result<Response, ExceptionCode> {
    let range = |start: u16, count: u16, limit: u16| {
        if count == 0
            || count > limit
            || u32::from(start) + u32::from(count) > u32::from(MEMORY_SIZE)
        {
            Err(ExceptionCode::IllegalDataAddress)
        } else {
            Ok(start..start + count)
        }
    };
    let bit = |m: &HashMap<u16, bool>, a| m.get(&a).copied().unwrap_or(false);
    let word = |m: &HashMap<u16, u16>, a| m.get(&a).copied().unwrap_or(0);
    match *request {
        Request::ReadCoils(a, n) => Ok(Response::ReadCoils(
            range(a, n, 2000)?.map(|a| bit(&unit.coils, a)).collect(),
        )),
        Request::ReadDiscreteInputs(a, n) => Ok(Response::ReadDiscreteInputs(
            range(a, n, 2000)?.map(|a| bit(&unit.discrete, a)).collect(),
        )),
        Request::ReadHoldingRegisters(a, n) => Ok(Response::ReadHoldingRegisters(
            range(a, n, 125)?.map(|a| word(&unit.holding, a)).collect(),
        )),
        Request::ReadInputRegisters(a, n) => Ok(Response::ReadInputRegisters(
            range(a, n, 125)?.map(|a| word(&unit.input, a)).collect(),
        )),
        // A door controller watched by dockside is never written to.
        _ => Err(ExceptionCode::IllegalFunction),
    }
}

type Answer = Result<Option<Response>, ExceptionCode>;

/// The tokio-modbus service over a `DoorPlc`.
#[derive(Clone)]
struct Service {
    plc: DoorPlc,
    /// Serial only: the line, for noise before replies.
    line: Option<Arc<Mutex<std::fs::File>>>,
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let (fault, answer) = self.plc.handle(req);
        let answer: Answer = match answer {
            None => Ok(None),
            Some(a) => a.map(Some),
        };
        match fault {
            Fault::Late(delay) => Box::pin(async move {
                tokio::time::sleep(delay).await;
                answer
            }),
            Fault::NoiseBeforeReply(bytes) => {
                if let Some(line) = &self.line {
                    let mut line = line.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(e) = line.write_all(&bytes) {
                        tracing::warn!(error = %e, "door PLC sim: cannot write noise");
                    }
                }
                Box::pin(std::future::ready(answer))
            }
            _ => Box::pin(std::future::ready(answer)),
        }
    }
}

/// A controller served over TCP; stops (connections and listener) on drop.
pub struct TcpSim {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TcpSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DoorPlc {
    /// Serve on `addr` (e.g. `127.0.0.1:0`) until the returned handle is dropped.
    pub async fn serve_tcp(&self, addr: &str) -> std::io::Result<TcpSim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let server = tokio_modbus::server::tcp::Server::new(listener);
        let service = Service {
            plc: self.clone(),
            line: None,
        };
        let task = tokio::spawn(async move {
            let on_connected = move |stream, socket_addr| {
                let service = service.clone();
                async move { accept_tcp_connection(stream, socket_addr, |_| Ok(Some(service.clone()))) }
            };
            let on_error =
                |e: std::io::Error| tracing::debug!(error = %e, "door PLC sim: connection ended");
            if let Err(e) = server.serve(&on_connected, on_error).await {
                tracing::warn!(error = %e, "door PLC sim: TCP server stopped");
            }
        });
        Ok(TcpSim { addr, task })
    }

    /// Serve on a new pseudo-terminal: the agent opens `RtuSim::path()` as
    /// its serial port. Stops on drop.
    pub fn serve_rtu(&self) -> std::io::Result<RtuSim> {
        let (master, slave) = tokio_serial::SerialStream::pair().map_err(std::io::Error::from)?;
        let path = slave.name().map(PathBuf::from).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "the pty has no path")
        })?;
        // A second handle on the line for noise; the server owns the first.
        // SAFETY: dup of an fd we own; the File owns the copy.
        let dup = unsafe { libc::dup(master.as_raw_fd()) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let line = Arc::new(Mutex::new(unsafe { std::fs::File::from_raw_fd(dup) }));
        let service = Service {
            plc: self.clone(),
            line: Some(Arc::clone(&line)),
        };
        let server = tokio_modbus::server::rtu::Server::new(master);
        let task = tokio::spawn(async move {
            if let Err(e) = server.serve_forever(service).await {
                tracing::warn!(error = %e, "door PLC sim: RTU server stopped");
            }
        });
        Ok(RtuSim {
            path,
            line,
            _slave: slave,
            task,
        })
    }
}

/// A controller (or several, by unit id) on a pty serial line.
pub struct RtuSim {
    path: PathBuf,
    line: Arc<Mutex<std::fs::File>>,
    /// Held open so the line does not hang up while the agent reopens it.
    _slave: tokio_serial::SerialStream,
    task: JoinHandle<()>,
}

impl RtuSim {
    /// The serial device the agent opens.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Put raw bytes on the line towards the agent (noise, a torn frame).
    /// The line is non-blocking (it shares the server's descriptor): while
    /// the agent is not reading (reopening its port, say) the pty's buffer
    /// fills, and what still does not fit after a second is lost, as on a
    /// real line whose receiver overruns.
    pub fn inject(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut line = self.line.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let mut rest = bytes;
        while !rest.is_empty() {
            match line.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() >= deadline {
                        tracing::debug!(lost = rest.len(), "door PLC sim: line full; noise lost");
                        return Ok(());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Drop for RtuSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
