//! Migration steps: asking a migrator to apply one phase, retrying a migrator that could
//! not run, failing on a migration that failed, and freezing when an expand migration broke
//! the stable revision (a schema cannot be rolled back by redeploying code).

use super::*;
use crate::engine::event::MigrationRun;
use crate::migrate::MigrationOutcome;

impl Rollout {
    /// Asks migrator `migrator` to apply `phase` (attempt `attempt`).
    pub(super) fn send_migrate(
        &mut self,
        migrator: Arc<str>,
        phase: MigrationPhase,
        attempt: u32,
        out: &mut Vec<Effect>,
    ) {
        self.record(
            out,
            EventKind::MigrationRequested {
                id: self.next_id,
                migrator: migrator.to_string(),
                phase,
                attempt,
            },
        );
        let name = migrator.to_string();
        let id = self.request(out, |id| Effect::Migrate {
            id,
            migrator: name,
            phase,
        });
        self.current = Some(Running::Migrate {
            id,
            migrator,
            phase,
            attempt,
        });
    }

    /// The migrator ran the phase: recorded; a failed migration fails the rollout (the
    /// failure policy decides), recorded as a migration's doing.
    pub(super) fn on_migrated(&mut self, id: u64, report: &PhaseReport, out: &mut Vec<Effect>) {
        let Some(Running::Migrate {
            migrator, phase, ..
        }) = self.current.take()
        else {
            return;
        };
        self.record(
            out,
            EventKind::Migrated(Box::new(MigrationRun {
                id,
                migrator: migrator.to_string(),
                phase,
                migrations: report.migrations.clone(),
                output: report.output.clone(),
            })),
        );
        let failed = report.migrations.iter().find_map(|m| match &m.outcome {
            MigrationOutcome::Failed { error } => Some((m.id.as_str(), error.as_str())),
            _ => None,
        });
        if let Some((migration, error)) = failed {
            let kept = report.migrations.len() - 1;
            let kept = if kept == 0 {
                "nothing of the phase was applied".to_string()
            } else {
                format!("the {kept} migration(s) before it stay applied")
            };
            self.fail(
                RollbackCause::Migration,
                format!("{phase} migration {migration} ({migrator}) failed: {error}; {kept}"),
                out,
            );
        }
    }

    /// The migrator could not run: a transient error is retried with the driver's backoff
    /// policy, anything else fails the rollout.
    pub(super) fn on_migrate_failed(&mut self, error: &MigrateError, out: &mut Vec<Effect>) {
        let Some(Running::Migrate {
            id,
            migrator,
            phase,
            attempt,
        }) = self.current.take()
        else {
            return;
        };
        let will_retry = error.is_transient() && attempt < self.spec.retry.max_attempts;
        self.record(
            out,
            EventKind::MigratorFailed {
                id,
                error: Box::new(error.clone()),
                will_retry,
            },
        );
        if will_retry {
            let timer = self.timer(self.spec.retry.backoff(attempt));
            self.current = Some(Running::MigrateBackoff {
                timer,
                migrator,
                phase,
                attempt,
            });
            return;
        }
        let tries = if error.is_transient() {
            format!(" after {attempt} attempt(s)")
        } else {
            String::new()
        };
        self.fail(
            RollbackCause::Migration,
            format!(
                "{phase} migrations ({migrator}) could not run{tries}: {}",
                error.message
            ),
            out,
        );
    }

    /// The stable revision failed its health checks right after an expand migration: the
    /// schema change is not backward compatible. Redeploying code cannot undo a schema, and
    /// the stable is what a rollback would return to, so the rollout freezes (whatever the
    /// failure policy), says why and tells people; no traffic moves to the candidate.
    pub(super) fn freeze_broken_stable(
        &mut self,
        step: usize,
        detail: &str,
        out: &mut Vec<Effect>,
    ) {
        let migration = match self.spec.plan.steps.get(step) {
            Some(Step::Migrate { migrator, .. }) => format!("the expand migration of {migrator}"),
            _ => "the expand migration".to_string(),
        };
        let reason = format!(
            "stable is not healthy after {migration} (steps[{step}]): the schema change is not \
             backward compatible with the running stable; frozen before the candidate got any \
             traffic (a rollback cannot undo a schema: fix the schema, then retry or abort): \
             {detail}"
        );
        self.record(
            out,
            EventKind::Failed {
                reason: reason.clone(),
            },
        );
        self.freeze(reason, out);
    }

    /// Stops in [`Phase::Frozen`] for a person, saying why, and tells people.
    pub(super) fn freeze(&mut self, reason: String, out: &mut Vec<Effect>) {
        self.cancel_all();
        self.stage = Stage::Frozen;
        self.set_phase(out, Phase::Frozen);
        self.reason = Some(reason.clone());
        out.push(Effect::Notify(Notification::Frozen {
            rollout_id: self.rollout_id(),
            reason,
        }));
    }
}
