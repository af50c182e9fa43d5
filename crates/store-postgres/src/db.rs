//! The connection to PostgreSQL that every store object shares: one multiplexed
//! `tokio_postgres::Client`, reconnected when it drops, and [`Db::retry`], which runs an
//! operation again with backoff while the server is away.

use crate::error::StoreError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls};

/// First wait after a transient failure; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Connection settings and the shared client.
pub(crate) struct Db {
    config: Config,
    /// host:port/database, for messages (never the password).
    pub(crate) target: String,
    /// The database user, for messages.
    pub(crate) user: String,
    /// The schema every table lives in.
    pub(crate) schema: String,
    client: Mutex<Option<Arc<Client>>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("target", &self.target)
            .field("user", &self.user)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Checks a schema name: an unquoted SQL identifier, so it needs no escaping anywhere.
pub(crate) fn check_schema(name: &str) -> Result<(), StoreError> {
    let bad = |problem: &str| {
        Err(StoreError::BadName {
            field: "schema",
            value: name.to_string(),
            problem: problem.to_string(),
        })
    };
    if name.is_empty() || name.len() > 63 {
        return bad("must be 1 to 63 characters");
    }
    let mut chars = name.chars();
    if !chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
    {
        return bad("must start with a lowercase letter or '_'");
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return bad("must use only lowercase letters, digits and '_'");
    }
    if name.starts_with("pg_") {
        return bad("must not start with 'pg_' (reserved by PostgreSQL)");
    }
    Ok(())
}

impl Db {
    /// Settings from a URL; every connection puts `schema` first on its search path.
    pub(crate) fn new(url: &str, schema: &str) -> Result<Self, StoreError> {
        check_schema(schema)?;
        let mut config: Config =
            url.parse()
                .map_err(|e: tokio_postgres::Error| StoreError::BadUrl {
                    problem: e.to_string(),
                })?;
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        if hosts.is_empty() {
            return Err(StoreError::BadUrl {
                problem: "it names no host".into(),
            });
        }
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let dbname = config
            .get_dbname()
            .unwrap_or("(user's default)")
            .to_string();
        let user = config.get_user().unwrap_or("(current user)").to_string();
        config.options(format!("-c search_path={schema}"));
        config.application_name("shipcore");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.keepalives(true);
        Ok(Db {
            config,
            target: format!("{}:{port}/{dbname}", hosts.join(",")),
            user,
            schema: schema.to_string(),
            client: Mutex::new(None),
        })
    }

    /// A new connection of its own (for a transaction, which needs one exclusively).
    pub(crate) async fn connect_own(&self, operation: &'static str) -> Result<Client, StoreError> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| self.error(e, operation))?;
        let target = self.target.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%target, error = %e, "postgres connection ended");
            }
        });
        Ok(client)
    }

    /// The shared client, connecting (again) when there is none or it closed.
    pub(crate) async fn client(&self, operation: &'static str) -> Result<Arc<Client>, StoreError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(self.connect_own(operation).await?);
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Forgets the shared client if it is `bad`, so the next call reconnects.
    async fn drop_client(&self, bad: &Arc<Client>) {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, bad)) {
            *slot = None;
        }
    }

    /// Classifies a driver error.
    pub(crate) fn error(&self, e: tokio_postgres::Error, operation: &'static str) -> StoreError {
        StoreError::from_pg(e, operation, &self.target, &self.user)
    }

    /// Runs `op` on the shared client; on a transient failure (connection lost, server
    /// restarting) reconnects and runs it again with backoff (50 ms doubling to 2 s), for
    /// at most `give_up_after` (forever with `None`). `op` must be safe to run twice: an
    /// attempt whose answer was lost may have been committed.
    pub(crate) async fn retry<T, F, Fut>(
        &self,
        operation: &'static str,
        give_up_after: Option<Duration>,
        mut op: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let started = tokio::time::Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = match self.client(operation).await {
                Ok(client) => match op(client.clone()).await {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        let err = self.error(e, operation);
                        if err.is_transient() {
                            self.drop_client(&client).await;
                        }
                        err
                    }
                },
                Err(e) => e,
            };
            if !result.is_transient()
                || give_up_after.is_some_and(|limit| started.elapsed() + backoff > limit)
            {
                return Err(result);
            }
            tracing::warn!(operation, attempt, error = %result, retry_in_ms = backoff.as_millis() as u64, "postgres unavailable; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
