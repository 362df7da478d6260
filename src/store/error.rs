use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}\n    fix: create it and give the dockside user write access, or change data_dir")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database {path} is not in WAL mode (it reports `{mode}`)\n    fix: the file system must support shared memory (not NFS); move data_dir to a local disk")]
    NotWal { path: PathBuf, mode: String },
    #[error("no database at {path}\n    fix: check data_dir in the config; the daemon creates the database on its first start")]
    Missing { path: PathBuf },
    #[error("database belongs to site `{found}`, the config says `{configured}`\n    fix: point data_dir at this site's database, or correct `site`")]
    WrongSite { found: String, configured: String },
    #[error("database schema version {found} is newer than this dockside understands ({known})\n    fix: upgrade dockside; do not downgrade over a newer database")]
    TooNew { found: i64, known: i64 },
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    #[error("the log is at uplink.max_disk_mb: what the writer held was not committed (the broker redelivers it)")]
    AtCap,
    #[error("the writer has stopped")]
    WriterGone,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    pub(crate) fn open(path: &std::path::Path, source: rusqlite::Error) -> StoreError {
        StoreError::Open {
            path: path.to_owned(),
            source,
        }
    }
}
