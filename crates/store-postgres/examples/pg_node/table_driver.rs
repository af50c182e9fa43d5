//! A driver whose fleet lives in PostgreSQL (`test_fleet`, one JSON fleet per target) and
//! which logs every action it applies (`test_actions`, with the node that applied it), so
//! several engine processes see one fleet and a test can check what each one did.
#![allow(dead_code)]

use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::model::{Action, FleetState, RevisionState, Target};
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

/// The tables, in the current schema.
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS test_fleet (target text PRIMARY KEY, fleet text NOT NULL);
CREATE TABLE IF NOT EXISTS test_actions (
    id bigserial PRIMARY KEY, node text NOT NULL, target text NOT NULL, action text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp());";

/// Connects to `url` with `schema` on the search path.
pub async fn connect(url: &str, schema: &str) -> Result<Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.options(format!("-c search_path={schema}"));
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Sets a target's fleet (test setup).
pub async fn seed(
    client: &Client,
    target: &Target,
    fleet: &FleetState,
) -> Result<(), tokio_postgres::Error> {
    let json = serde_json::to_string(fleet).unwrap_or_default();
    client
        .execute(
            "INSERT INTO test_fleet (target, fleet) VALUES ($1, $2)
             ON CONFLICT (target) DO UPDATE SET fleet = EXCLUDED.fleet",
            &[&target.to_string(), &json],
        )
        .await?;
    Ok(())
}

/// The fleet in `test_fleet`, with a node name for the log.
pub struct TableDriver {
    client: Mutex<Client>,
    url: String,
    schema: String,
    node: String,
}

fn transient(op: &str, e: impl std::fmt::Display) -> DriverError {
    DriverError::transient(op.to_string(), e.to_string())
}

impl TableDriver {
    /// A driver logging as `node`.
    pub async fn new(
        url: &str,
        schema: &str,
        node: &str,
    ) -> Result<Arc<Self>, tokio_postgres::Error> {
        Ok(Arc::new(TableDriver {
            client: Mutex::new(connect(url, schema).await?),
            url: url.to_string(),
            schema: schema.to_string(),
            node: node.to_string(),
        }))
    }

    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Client>, DriverError> {
        let mut c = self.client.lock().await;
        if c.is_closed() {
            *c = connect(&self.url, &self.schema)
                .await
                .map_err(|e| transient("connect", e))?;
        }
        Ok(c)
    }
}

fn apply_to(fleet: &mut FleetState, action: &Action) -> Result<(), String> {
    match action {
        Action::Deploy { revision, replicas } => {
            match fleet
                .revisions
                .iter_mut()
                .find(|r| r.revision == revision.id)
            {
                Some(r) => {
                    r.desired = *replicas;
                    r.ready = *replicas;
                    r.updated = *replicas;
                }
                None => fleet.revisions.push(RevisionState {
                    revision: revision.id.clone(),
                    desired: *replicas,
                    ready: *replicas,
                    updated: *replicas,
                    weight: 0,
                }),
            }
        }
        Action::Scale { revision, replicas } => {
            let r = fleet
                .revisions
                .iter_mut()
                .find(|r| &r.revision == revision)
                .ok_or_else(|| format!("no revision {revision}"))?;
            r.desired = *replicas;
            r.ready = *replicas;
            r.updated = *replicas;
        }
        Action::Route { weights } => {
            if weights.total() != 100 {
                return Err("weights must sum to 100".into());
            }
            for r in &mut fleet.revisions {
                r.weight = weights
                    .0
                    .iter()
                    .find(|(id, _)| id == &r.revision)
                    .map(|(_, w)| *w)
                    .unwrap_or(0);
            }
        }
        Action::Retire { revision } => fleet.revisions.retain(|r| &r.revision != revision),
        Action::SetFlag { flag, percent } => {
            fleet.flags.insert(flag.clone(), *percent);
        }
    }
    Ok(())
}

#[shipcore::async_trait]
impl Driver for TableDriver {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT fleet FROM test_fleet WHERE target = $1",
                &[&target.to_string()],
            )
            .await
            .map_err(|e| transient("observe", e))?;
        match row {
            Some(r) => serde_json::from_str(r.get(0))
                .map_err(|e| DriverError::permanent("observe", e.to_string())),
            None => Ok(FleetState::default()),
        }
    }

    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        let mut c = self.client().await?;
        let op = action.describe();
        let tx = c.transaction().await.map_err(|e| transient(&op, e))?;
        let row = tx
            .query_opt(
                "SELECT fleet FROM test_fleet WHERE target = $1 FOR UPDATE",
                &[&target.to_string()],
            )
            .await
            .map_err(|e| transient(&op, e))?;
        let mut fleet: FleetState = match row {
            Some(r) => serde_json::from_str(r.get(0))
                .map_err(|e| DriverError::permanent(&op, e.to_string()))?,
            None => FleetState::default(),
        };
        apply_to(&mut fleet, action).map_err(|e| DriverError::permanent(&op, e))?;
        let json = serde_json::to_string(&fleet)
            .map_err(|e| DriverError::permanent(&op, e.to_string()))?;
        tx.execute(
            "INSERT INTO test_fleet (target, fleet) VALUES ($1, $2)
             ON CONFLICT (target) DO UPDATE SET fleet = EXCLUDED.fleet",
            &[&target.to_string(), &json],
        )
        .await
        .map_err(|e| transient(&op, e))?;
        tx.execute(
            "INSERT INTO test_actions (node, target, action) VALUES ($1, $2, $3)",
            &[&self.node, &target.to_string(), &op],
        )
        .await
        .map_err(|e| transient(&op, e))?;
        tx.commit().await.map_err(|e| transient(&op, e))?;
        Ok(())
    }
}
