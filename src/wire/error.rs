/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("wire version {found} is not supported: this dockside speaks version {supported}\n    fix: run releases of dockside that share a wire version at the site and at central")]
    UnsupportedVersion { found: u8, supported: u8 },
    #[error("message ends early ({len} bytes): truncated")]
    Truncated { len: usize },
    #[error("message is malformed: {0}")]
    Malformed(postcard::Error),
    #[error("{count} bytes follow the end of the message")]
    TrailingBytes { count: usize },
    #[error("epoch `{0}` is not 32 lowercase hex characters")]
    BadEpoch(String),
    #[error("a batch must hold at least one event")]
    EmptyBatch,
    #[error("a batch of {events} events from seq {first_seq} is out of range: seqs start at 1 and fit in an i64")]
    SeqRange { first_seq: i64, events: usize },
    #[error("event seq {found} follows seq {previous}: a batch holds consecutive seqs")]
    NotConsecutive { previous: i64, found: i64 },
    #[error("event seq {seq} has epoch `{found}`, the batch's first event has `{expected}`")]
    MixedEpochs {
        seq: i64,
        expected: String,
        found: String,
    },
    #[error("event {event} refers to string {reference}, the batch's table holds {table_len}")]
    BadStringRef {
        event: usize,
        reference: u32,
        table_len: usize,
    },
    #[error("a batch with {0} distinct strings does not fit the wire's u32 string index")]
    TooManyStrings(usize),
    #[error("event {event}: its JSON body is not a known event: {why}")]
    BadJsonBody { event: usize, why: String },
    #[error("cannot encode: {0}")]
    Encode(postcard::Error),
}
