//! The database-backed route `/api/users`, present only when a database URL is configured
//! (`--database-url` or `DATABASE_URL`): what a real service does with the schema, so that
//! migrations are tested against real code. Version 1 reads `users(id, name)`; version 2
//! and later read `users(id, name, email)`, so v2 needs the expand migration that adds
//! `email`, and v1 breaks if a migration drops `name`.

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

/// A lazily opened connection, opened again after it breaks.
pub struct Db {
    url: String,
    client: Mutex<Option<Client>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

/// Whether `version` (`2.0.0`, `v2`) reads the v2 schema: major version 2 or later.
pub fn reads_email(version: &str) -> bool {
    let digits: String = version
        .trim_start_matches(['v', 'V'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().is_ok_and(|major| major >= 2)
}

impl Db {
    /// A database at `url`; nothing is opened yet.
    pub fn new(url: impl Into<String>) -> Self {
        Db {
            url: url.into(),
            client: Mutex::new(None),
        }
    }

    /// The users as JSON (`[{"id","name"}]`, plus `"email"` when `with_email`), or the
    /// database's message.
    pub async fn users(&self, with_email: bool) -> Result<serde_json::Value, String> {
        let mut guard = self.client.lock().await;
        let reconnect = match guard.as_ref() {
            Some(c) => c.is_closed(),
            None => true,
        };
        if reconnect {
            let (client, conn) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .map_err(|e| format!("cannot connect to the database: {e}"))?;
            tokio::spawn(conn);
            *guard = Some(client);
        }
        let client = guard
            .as_ref()
            .ok_or_else(|| "no database connection".to_string())?;
        let sql = if with_email {
            "SELECT id, name, email FROM users ORDER BY id LIMIT 100"
        } else {
            "SELECT id, name FROM users ORDER BY id LIMIT 100"
        };
        let rows = client
            .query(sql, &[])
            .await
            .map_err(|e| match e.as_db_error() {
                Some(db) => format!("database: {}", db.message()),
                None => format!("database: {e}"),
            })?;
        Ok(rows
            .iter()
            .map(|r| {
                let mut u = serde_json::json!({
                    "id": r.get::<_, i64>(0),
                    "name": r.get::<_, Option<String>>(1),
                });
                if with_email {
                    u["email"] = serde_json::json!(r.get::<_, Option<String>>(2));
                }
                u
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn major_version_two_reads_email() {
        assert!(!super::reads_email("1.4.0"));
        assert!(super::reads_email("2.0.0"));
        assert!(super::reads_email("v10"));
        assert!(!super::reads_email("dev"));
    }
}
