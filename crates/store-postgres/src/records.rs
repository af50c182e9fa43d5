//! [`PgRecordStore`]: the deployment history (shipcore's `DeploymentRecord`s) in
//! `shipcore_records`, with the operations of shipcore's file-based `RecordStore`: save,
//! load, all, list, previous successful deployment.

use crate::db::Db;
use crate::error::StoreError;
use shipcore::record::{DeploymentRecord, DeploymentStatus};
use shipcore::time::Timestamp;
use std::sync::Arc;
use std::time::Duration;

/// How long history operations keep retrying through database trouble.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// Deployment records in PostgreSQL, shared by every engine on the database.
#[derive(Debug, Clone)]
pub struct PgRecordStore {
    db: Arc<Db>,
}

fn decode(id: &str, text: &str) -> Result<DeploymentRecord, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Codec {
        what: format!("deployment record {id}"),
        problem: e.to_string(),
    })
}

impl PgRecordStore {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        PgRecordStore { db }
    }

    /// Saves `record`, replacing an earlier version of the same id.
    pub async fn save(&self, record: &DeploymentRecord) -> Result<(), StoreError> {
        crate::queue::check_run_id(&record.id)?;
        let text = serde_json::to_string(record).map_err(|e| StoreError::Codec {
            what: format!("deployment record {}", record.id),
            problem: e.to_string(),
        })?;
        let at = record
            .deployed_at_ms()
            .ok_or_else(|| StoreError::Codec {
                what: format!("deployment record {}", record.id),
                problem: format!(
                    "deployedAt {:?} is not an ISO 8601 time",
                    record.deployed_at
                ),
            })?
            .0 as i64;
        let (id, service, env) = (
            record.id.as_str(),
            record.service.as_str(),
            record.environment.as_str(),
        );
        self.db
            .retry("save a deployment record", Some(RETRY_FOR), |c| {
                let text = text.clone();
                async move {
                    c.execute(
                        "INSERT INTO shipcore_records (id, service, environment, deployed_at_ms, record)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (id) DO UPDATE SET service = EXCLUDED.service,
                             environment = EXCLUDED.environment,
                             deployed_at_ms = EXCLUDED.deployed_at_ms, record = EXCLUDED.record",
                        &[&id, &service, &env, &at, &text],
                    )
                    .await
                }
            })
            .await?;
        Ok(())
    }

    /// Reads record `id` ([`StoreError::NotFound`] when there is none).
    pub async fn load(&self, id: &str) -> Result<DeploymentRecord, StoreError> {
        let row = self
            .db
            .retry(
                "load a deployment record",
                Some(RETRY_FOR),
                |c| async move {
                    c.query_opt("SELECT record FROM shipcore_records WHERE id = $1", &[&id])
                        .await
                },
            )
            .await?;
        match row {
            Some(r) => decode(id, r.get(0)),
            None => Err(StoreError::NotFound {
                what: format!("deployment record {id:?}"),
            }),
        }
    }

    /// Every record, newest first (by `deployedAt`, then by id).
    pub async fn all(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.list(None, None).await
    }

    /// Records of a service and/or environment (`None` matches any), newest first.
    pub async fn list(
        &self,
        service: Option<&str>,
        environment: Option<&str>,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows = self
            .db
            .retry("list deployment records", Some(RETRY_FOR), |c| async move {
                c.query(
                    "SELECT id, record FROM shipcore_records
                     WHERE ($1::text IS NULL OR service = $1)
                       AND ($2::text IS NULL OR environment = $2)
                     ORDER BY deployed_at_ms DESC, id DESC",
                    &[&service, &environment],
                )
                .await
            })
            .await?;
        rows.iter().map(|r| decode(r.get(0), r.get(1))).collect()
    }

    /// The newest successful deployment of `service` in `environment`; with `before`, the
    /// newest one deployed strictly before record `before` (which must exist).
    pub async fn previous_successful(
        &self,
        service: &str,
        environment: &str,
        before: Option<&str>,
    ) -> Result<Option<DeploymentRecord>, StoreError> {
        let limit = match before {
            Some(id) => Some(
                self.load(id)
                    .await?
                    .deployed_at_ms()
                    .unwrap_or(Timestamp::ZERO),
            ),
            None => None,
        };
        Ok(self
            .list(Some(service), Some(environment))
            .await?
            .into_iter()
            .find(|r| {
                r.status == DeploymentStatus::Success
                    && Some(r.id.as_str()) != before
                    && limit.is_none_or(|l| r.deployed_at_ms().is_some_and(|t| t < l))
            }))
    }
}
