//! [`StoreError`]: why a PostgreSQL store operation failed, with an [`ErrorKind`] the caller
//! can act on (fix the configuration, wait and retry, grant a permission, upgrade).

use std::error::Error as _;

/// What the caller can do about a [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL or a name is invalid: fix the configuration.
    Config,
    /// The database is unreachable or restarting: retrying later may succeed.
    Transient,
    /// The database user lacks a privilege: grant it.
    Permission,
    /// The database's schema is newer than this code: upgrade the code.
    SchemaTooNew,
    /// Something asked for does not exist.
    NotFound,
    /// Anything else the database refused; the message says what.
    Other,
}

/// A PostgreSQL store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The connection URL does not parse.
    #[error("postgres URL is invalid: {problem} (expected postgres://user@host:port/database)")]
    BadUrl {
        /// What is wrong with it.
        problem: String,
    },
    /// A name given to the store (schema, run id) is invalid.
    #[error("{field} {value:?} is invalid: {problem}")]
    BadName {
        /// Which name.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The database could not be reached or dropped the connection.
    #[error("cannot reach postgres at {target} during {operation}: {message}")]
    Unreachable {
        /// host:port/database, without credentials.
        target: String,
        /// What was being done.
        operation: &'static str,
        /// The error, with the server's message and code when there is one.
        message: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The database user lacks a privilege.
    #[error("postgres user {user:?} may not {operation}: {message} (grant the privilege or use another user)")]
    Permission {
        /// The database user.
        user: String,
        /// What was being done.
        operation: &'static str,
        /// The server's message.
        message: String,
    },
    /// The schema in the database was written by newer code.
    #[error("postgres schema {schema:?} is at version {found}, newer than the {supported} this code knows: upgrade shipcore-store-postgres (nothing was changed)")]
    SchemaTooNew {
        /// The schema name.
        schema: String,
        /// The version found.
        found: i32,
        /// The newest version this code knows.
        supported: i32,
    },
    /// A stored value could not be encoded or decoded.
    #[error("{what} could not be encoded or decoded: {problem}")]
    Codec {
        /// What value.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// What was asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The database refused an operation for another reason.
    #[error("postgres at {target} refused {operation}: {message}")]
    Database {
        /// host:port/database, without credentials.
        target: String,
        /// What was being done.
        operation: &'static str,
        /// The server's message, code, detail and hint, or the driver's error.
        message: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
}

impl StoreError {
    /// What the caller can do about it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::BadUrl { .. } | StoreError::BadName { .. } => ErrorKind::Config,
            StoreError::Unreachable { .. } => ErrorKind::Transient,
            StoreError::Permission { .. } => ErrorKind::Permission,
            StoreError::SchemaTooNew { .. } => ErrorKind::SchemaTooNew,
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::Codec { .. } => ErrorKind::Other,
            StoreError::Database { source, .. } if is_transient(source) => ErrorKind::Transient,
            StoreError::Database { .. } => ErrorKind::Other,
        }
    }

    /// True when retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// Classifies a driver error met while doing `operation`.
    pub(crate) fn from_pg(
        e: tokio_postgres::Error,
        operation: &'static str,
        target: &str,
        user: &str,
    ) -> Self {
        if let Some(db) = e.as_db_error() {
            if db.code() == &tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE {
                return StoreError::Permission {
                    user: user.to_string(),
                    operation,
                    message: db.message().to_string(),
                };
            }
        }
        let message = describe(&e);
        if is_transient(&e) {
            StoreError::Unreachable {
                target: target.to_string(),
                operation,
                message,
                source: e,
            }
        } else {
            StoreError::Database {
                target: target.to_string(),
                operation,
                message,
                source: e,
            }
        }
    }
}

/// The server's message with its SQLSTATE, detail and hint, or the driver's error with
/// its causes (tokio-postgres' own `Display` says only "db error").
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(&format!(": {c}"));
        source = c.source();
    }
    s
}

/// True for errors that say the server is away or busy, not that the request is wrong:
/// a closed or failed connection, SQLSTATE class 08 (connection exception), 57P01-57P03
/// (shutdown, crash, cannot connect now), 53300 (too many connections), 40001/40P01
/// (serialization failure, deadlock: the transaction may be retried).
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        return c.starts_with("08")
            || matches!(c, "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01");
    }
    // No SQLSTATE: an I/O error on the socket is the server going away; anything else
    // (a type conversion, a bad parameter) is a bug on this side.
    let mut source = e.source();
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        source = s.source();
    }
    // tokio-postgres reports an unexpected end of the connection without a source.
    let text = e.to_string();
    text.contains("connection closed") || text.contains("unexpected EOF")
}
