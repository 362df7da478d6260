//! Talking to devices: one read request at a time, each under a timeout.
//! After a timeout or a framing error the connection (or serial port) is
//! dropped and reopened, so a late reply is never taken for the answer to
//! the next request.

use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::{sleep_until, timeout, Instant};
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{Request, Response, Slave};

use super::reads::{Block, BlockData};
use crate::config::{Parity, SerialSettings, Table};
use crate::domain::DeviceError;

/// Reads blocks from a device (on a serial bus: from the unit given), each
/// request (and any connect or open before it) within `limit`.
pub trait BlockReader {
    fn read(
        &mut self,
        unit: u8,
        block: Block,
        limit: Duration,
    ) -> impl std::future::Future<Output = Result<BlockData, DeviceError>> + Send;
}

/// What went wrong, and whether the connection can still be trusted.
enum Failure {
    /// The device answered properly (an exception): keep the connection.
    Answered(DeviceError),
    /// Timeout, garbage, I/O: the connection's byte stream is suspect.
    Broken(DeviceError),
}

impl Failure {
    fn error(self) -> DeviceError {
        match self {
            Failure::Answered(e) | Failure::Broken(e) => e,
        }
    }
}

fn request(block: Block) -> Request<'static> {
    match block.table {
        Table::Coil => Request::ReadCoils(block.start, block.count),
        Table::DiscreteInput => Request::ReadDiscreteInputs(block.start, block.count),
        Table::HoldingRegister => Request::ReadHoldingRegisters(block.start, block.count),
        Table::InputRegister => Request::ReadInputRegisters(block.start, block.count),
    }
}

/// One request under `limit`, its reply checked against the request.
async fn call(ctx: &mut Context, block: Block, limit: Duration) -> Result<BlockData, Failure> {
    let reply = match timeout(limit, ctx.call(request(block))).await {
        Err(_) => {
            return Err(Failure::Broken(DeviceError::Timeout {
                after_ms: limit.as_millis() as u64,
            }))
        }
        Ok(Err(e)) => return Err(Failure::Broken(classify(e))),
        Ok(Ok(Err(exception))) => {
            return Err(Failure::Answered(DeviceError::exception(
                block.table.function_code(),
                exception.into(),
            )))
        }
        Ok(Ok(Ok(reply))) => reply,
    };
    let count = usize::from(block.count);
    let short = |got: usize| {
        Failure::Broken(DeviceError::Framing {
            detail: format!(
                "{got} values in reply to a read of {count} {}s at {}",
                block.table.as_str(),
                block.start
            ),
        })
    };
    match (block.table, reply) {
        // Bits come in whole bytes; the byte count must match the request.
        (Table::Coil, Response::ReadCoils(mut bits))
        | (Table::DiscreteInput, Response::ReadDiscreteInputs(mut bits)) => {
            if bits.len() != count.div_ceil(8) * 8 {
                return Err(short(bits.len()));
            }
            bits.truncate(count);
            Ok(BlockData::Bits(bits))
        }
        (Table::HoldingRegister, Response::ReadHoldingRegisters(words))
        | (Table::InputRegister, Response::ReadInputRegisters(words)) => {
            if words.len() != count {
                return Err(short(words.len()));
            }
            Ok(BlockData::Words(words))
        }
        (_, other) => Err(Failure::Broken(DeviceError::Framing {
            detail: format!("unexpected reply {other:?}"),
        })),
    }
}

fn classify(e: tokio_modbus::Error) -> DeviceError {
    match e {
        tokio_modbus::Error::Transport(io) => io_error(&io),
        tokio_modbus::Error::Protocol(p) => DeviceError::Framing {
            detail: p.to_string(),
        },
    }
}

fn io_error(io: &std::io::Error) -> DeviceError {
    use std::io::ErrorKind::*;
    match io.kind() {
        ConnectionRefused => DeviceError::ConnectionRefused,
        InvalidData => DeviceError::Framing {
            detail: io.to_string(),
        },
        UnexpectedEof | BrokenPipe | ConnectionReset | ConnectionAborted => DeviceError::Io {
            detail: "connection closed by the device".into(),
        },
        _ => DeviceError::Io {
            detail: io.to_string(),
        },
    }
}

/// A Modbus TCP device: its own connection.
pub struct TcpLink {
    host: String,
    port: u16,
    ctx: Option<Context>,
}

impl TcpLink {
    pub fn new(host: &str, port: u16) -> TcpLink {
        TcpLink {
            host: host.to_owned(),
            port,
            ctx: None,
        }
    }

    async fn connect(
        host: &str,
        port: u16,
        unit: u8,
        limit: Duration,
    ) -> Result<Context, DeviceError> {
        let connect = async {
            let stream = tokio::net::TcpStream::connect((host, port)).await?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        };
        match timeout(limit, connect).await {
            Err(_) => Err(DeviceError::Timeout {
                after_ms: limit.as_millis() as u64,
            }),
            Ok(Err(e)) => Err(io_error(&e)),
            Ok(Ok(stream)) => Ok(tokio_modbus::client::tcp::attach_slave(stream, Slave(unit))),
        }
    }
}

impl BlockReader for TcpLink {
    async fn read(
        &mut self,
        unit: u8,
        block: Block,
        limit: Duration,
    ) -> Result<BlockData, DeviceError> {
        let ctx = match &mut self.ctx {
            Some(ctx) => ctx,
            None => {
                let ctx = Self::connect(&self.host, self.port, unit, limit).await?;
                self.ctx.insert(ctx)
            }
        };
        match call(ctx, block, limit).await {
            Ok(data) => Ok(data),
            Err(f) => {
                if matches!(f, Failure::Broken(_)) {
                    self.ctx = None;
                }
                Err(f.error())
            }
        }
    }
}

/// A serial line shared by the devices on it: one request at a time, with
/// the inter-frame gap between frames.
pub struct RtuBus {
    path: PathBuf,
    settings: SerialSettings,
    /// The open port's context and its fd (valid while the context lives).
    port: Option<(Context, RawFd)>,
    gap: Duration,
    /// No frame may start before this (gap after the last one, or the
    /// quiet time after a timeout).
    free_at: Instant,
}

impl RtuBus {
    pub fn new(path: PathBuf, settings: SerialSettings) -> RtuBus {
        RtuBus {
            path,
            settings,
            port: None,
            gap: inter_frame_gap(settings),
            free_at: Instant::now(),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn open(&self) -> Result<(Context, RawFd), DeviceError> {
        let s = self.settings;
        let builder = tokio_serial::new(self.path.to_string_lossy(), s.baud_rate)
            .parity(match s.parity {
                Parity::None => tokio_serial::Parity::None,
                Parity::Even => tokio_serial::Parity::Even,
                Parity::Odd => tokio_serial::Parity::Odd,
            })
            .data_bits(tokio_serial::DataBits::Eight)
            .stop_bits(if s.stop_bits == 2 {
                tokio_serial::StopBits::Two
            } else {
                tokio_serial::StopBits::One
            })
            // Not TIOCEXCL, which outlives our fd while anything else holds
            // the tty open; an exclusive flock (below) keeps other pollers off.
            .exclusive(false);
        let port = tokio_serial::SerialStream::open(&builder).map_err(|e| DeviceError::Io {
            detail: format!("cannot open {}: {e}", self.path.display()),
        })?;
        let fd = port.as_raw_fd();
        // SAFETY: flock on the fd we just opened and own.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(DeviceError::Io {
                detail: format!(
                    "{} is in use by another program: {}",
                    self.path.display(),
                    std::io::Error::last_os_error()
                ),
            });
        }
        Ok((tokio_modbus::client::rtu::attach_slave(port, Slave(1)), fd))
    }
}

/// Modbus over serial line v1.02, §2.5.1.1: 3.5 character times between
/// frames, fixed at 1.75 ms above 19,200 baud.
pub fn inter_frame_gap(s: SerialSettings) -> Duration {
    if s.baud_rate > 19_200 {
        return Duration::from_micros(1750);
    }
    let parity = if s.parity == Parity::None { 0 } else { 1 };
    let bits_per_char = 1 + u64::from(s.data_bits) + parity + u64::from(s.stop_bits);
    Duration::from_micros(bits_per_char * 3_500_000 / u64::from(s.baud_rate.max(1)))
}

impl BlockReader for RtuBus {
    async fn read(
        &mut self,
        unit: u8,
        block: Block,
        limit: Duration,
    ) -> Result<BlockData, DeviceError> {
        sleep_until(self.free_at).await;
        let (ctx, fd) = match &mut self.port {
            Some(p) => p,
            None => self.port.insert(self.open()?),
        };
        // Whatever arrived since the last reply (noise, a reply too late to
        // count) must not be read as the answer to this request.
        // SAFETY: the fd belongs to the port inside `ctx`, which is alive.
        unsafe {
            libc::tcflush(*fd, libc::TCIFLUSH);
        }
        ctx.set_slave(Slave(unit));
        let result = call(ctx, block, limit).await;
        let now = Instant::now();
        match result {
            Ok(data) => {
                self.free_at = now + self.gap;
                Ok(data)
            }
            Err(Failure::Answered(e)) => {
                self.free_at = now + self.gap;
                Err(e)
            }
            Err(Failure::Broken(e)) => {
                // Close the port and keep the line quiet for as long again,
                // so a late reply has ended before the port is reopened
                // (and flushed).
                self.port = None;
                self.free_at = now + limit.max(self.gap);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inter_frame_gap_is_three_and_a_half_characters() {
        let at = |baud_rate, parity| {
            inter_frame_gap(SerialSettings {
                baud_rate,
                parity,
                data_bits: 8,
                stop_bits: 1,
            })
        };
        // 11 bits a character at 9600 baud: 3.5 * 11 / 9600 s.
        assert_eq!(at(9600, Parity::Even), Duration::from_micros(4010));
        assert_eq!(at(9600, Parity::None), Duration::from_micros(3645));
        assert_eq!(at(115_200, Parity::Even), Duration::from_micros(1750));
    }
}
