//! What every run of an [`Engine`](super::Engine) shares: the driver, the clock, the
//! validators and gates by name, the notifiers and the event hook, and the calls made on
//! them (measuring, asking and keeping gates, notifying). A run adds only its own state.

use super::event::Event;
use super::registry::Registry;
use super::run_error::RunError;
use super::spec::RolloutSpec;
use crate::clock::Clock;
use crate::driver::Driver;
use crate::gate::{Gate, GateContext, GateOutcome, KeepAlive};
use crate::migrate::Migrator;
use crate::model::Phase;
use crate::model::Role;
use crate::notify::{Notification, Notifier};
use crate::time::Timestamp;
use crate::validator::MeasureResult;
use crate::validator::{ValidationContext, Validator, ValidatorError};
use std::sync::Arc;
use tracing::Instrument;

pub(super) type EventHook = Arc<dyn Fn(&Event) + Send + Sync>;

/// The collaborators of every run, and how runs are bounded and stopped.
pub(super) struct Shared {
    pub(super) driver: Arc<dyn Driver>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) validators: Registry<Arc<dyn Validator>>,
    pub(super) gates: Registry<Arc<dyn Gate>>,
    pub(super) migrators: Registry<Arc<dyn Migrator>>,
    pub(super) notifiers: Vec<Arc<dyn Notifier>>,
    pub(super) on_event: Option<EventHook>,
    pub(super) keep_events: bool,
    /// Runs of this engine, started and not ended, and the shutdown signal.
    pub(super) runs: super::runs::Runs,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("validators", &self.validators.known())
            .field("gates", &self.gates.known())
            .field("migrators", &self.migrators.known())
            .field("notifiers", &self.notifiers.len())
            .field("on_event", &self.on_event.is_some())
            .field("keep_events", &self.keep_events)
            .field("runs", &self.runs)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(super) fn new(driver: Arc<dyn Driver>, clock: Arc<dyn Clock>) -> Self {
        Shared {
            driver,
            clock,
            validators: Registry::default(),
            gates: Registry::default(),
            migrators: Registry::default(),
            notifiers: Vec::new(),
            on_event: None,
            keep_events: true,
            runs: super::runs::Runs::default(),
        }
    }

    /// The driver itself, called directly rather than through `Arc`'s own impl.
    pub(super) fn driver(&self) -> &dyn Driver {
        &*self.driver
    }

    /// The clock itself, called directly rather than through `Arc`'s own impl.
    pub(super) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Checks `spec` against the driver's capabilities and the registered names.
    pub(super) fn preflight(&self, spec: &RolloutSpec) -> Result<(), RunError> {
        spec.validate()?;
        spec.plan.validate(&self.driver().capabilities())?;
        for name in spec.validator_names() {
            if self.validators.get(&name).is_none() {
                let known = self.validators.known();
                return Err(RunError::UnknownValidator { name, known });
            }
        }
        for name in spec.gate_names() {
            if self.gates.get(&name).is_none() {
                let known = self.gates.known();
                return Err(RunError::UnknownGate { name, known });
            }
        }
        for name in spec.migrator_names() {
            if self.migrators.get(&name).is_none() {
                let known = self.migrators.known();
                return Err(RunError::UnknownMigrator { name, known });
            }
        }
        Ok(())
    }

    /// Applies `phase` with migrator `name` (one the preflight found registered; a missing
    /// one is a configuration error, as a journal from another configuration may name it).
    pub(super) async fn migrate(
        &self,
        name: &str,
        phase: crate::migrate::MigrationPhase,
    ) -> Result<crate::migrate::PhaseReport, crate::migrate::MigrateError> {
        use crate::migrate::{MigrateError, MigrateErrorKind};
        let Some(migrator) = self.migrators.get(name) else {
            return Err(MigrateError::new(
                MigrateErrorKind::Config,
                name,
                format!(
                    "no migrator {name:?} is registered with the engine (registered: {}); \
                     register it with EngineBuilder::migrator and resume",
                    self.migrators.known()
                ),
            ));
        };
        let span = tracing::info_span!("migrate", migrator = name, %phase);
        migrator.apply(phase).instrument(span).await
    }

    /// What validators judging `subject` of `spec` are told (its `now` is set at each
    /// measurement).
    pub(super) fn validation_context(spec: &RolloutSpec, subject: Role) -> ValidationContext {
        let now = Timestamp(0);
        match subject {
            Role::Candidate => ValidationContext::new(
                &spec.id,
                &spec.target,
                &spec.candidate,
                spec.stable.as_ref(),
                now,
            ),
            Role::Stable => {
                let judged = spec.stable.as_ref().unwrap_or(&spec.candidate);
                ValidationContext::new(&spec.id, &spec.target, judged, None, now)
            }
        }
    }

    /// The plan's warnings with this driver and these validators.
    pub(super) fn warnings(&self, spec: &RolloutSpec) -> Vec<crate::model::PlanWarning> {
        let caps = self.driver().capabilities();
        spec.plan.warnings(&caps, |name| {
            self.validators
                .get(name)
                .is_some_and(|v| v.measures_traffic())
        })
    }

    /// Runs `validators` once against `ctx` (its `now` set to the clock's), in order,
    /// handing each its carried `breached_since` (same position; missing means `None`).
    /// `ask_now`: whether each validator is asked to measure at once before it is awaited
    /// (not when the run already asked the only one and it could not).
    pub(super) async fn measure(
        &self,
        ctx: &mut ValidationContext,
        validators: &[String],
        breached_since: &[Option<Timestamp>],
        step_span: &tracing::Span,
        ask_now: bool,
    ) -> Arc<[MeasureResult]> {
        ctx.now = self.clock().now();
        if let [name] = validators {
            // One validator (the common case): its result goes straight into the shared
            // slice, without a vector copied into it.
            ctx.breached_since = breached_since.first().copied().flatten();
            return Arc::new([self.measure_one(ctx, name, step_span, ask_now).await]);
        }
        let mut results = Vec::with_capacity(validators.len());
        for (i, name) in validators.iter().enumerate() {
            ctx.breached_since = breached_since.get(i).copied().flatten();
            results.push(self.measure_one(ctx, name, step_span, ask_now).await);
        }
        results.into()
    }

    /// Validator `name`'s measurement against `ctx` (its `now` set to the clock's), if it
    /// takes it at once; `None` when it must be awaited (nothing was measured).
    pub(super) fn measure_one_now(
        &self,
        ctx: &mut ValidationContext,
        name: &str,
        breached_since: Option<Timestamp>,
        step_span: &tracing::Span,
    ) -> Option<MeasureResult> {
        ctx.now = self.clock().now();
        ctx.breached_since = breached_since;
        let Some(v) = self.validators.get(name) else {
            return Some(unregistered(name));
        };
        step_span.in_scope(|| v.validate_now(ctx)).map(measured)
    }

    /// Runs validator `name` once against `ctx`, asking it to measure at once first when
    /// `ask_now`.
    async fn measure_one(
        &self,
        ctx: &ValidationContext,
        name: &str,
        step_span: &tracing::Span,
        ask_now: bool,
    ) -> MeasureResult {
        let Some(v) = self.validators.get(name) else {
            return unregistered(name);
        };
        // A validator that can measure at once does, in the step's span, without a future.
        // Written as an early return so that the answer is not kept across the await below
        // (a `match` on it would carry a verdict's bytes in every run's task).
        if ask_now {
            if let Some(judged) = step_span.in_scope(|| v.validate_now(ctx)) {
                return measured(judged);
            }
        }
        measured(v.validate(ctx).instrument(step_span.clone()).await)
    }

    /// Asks gate `name`.
    pub(super) async fn check_gate(
        &self,
        spec: &RolloutSpec,
        name: &str,
        approvals: Vec<String>,
        waiting_since: Option<Timestamp>,
        step_span: &tracing::Span,
    ) -> GateOutcome {
        let mut ctx = self.gate_context(spec, approvals);
        ctx.waiting_since = waiting_since;
        match self.gates.get(name) {
            Some(g) => g.check(&ctx).instrument(step_span.clone()).await,
            None => GateOutcome::block(format!("gate {name:?} is not registered with the runner")),
        }
    }

    /// Tells every notifier; a failing one is logged and the rollout goes on.
    pub(super) async fn notify_all(&self, n: &Notification) {
        for notifier in &self.notifiers {
            if let Err(e) = notifier.notify(n).await {
                tracing::warn!(error = %e, "notifier failed; the rollout goes on");
            }
        }
    }

    pub(super) fn gate_context(&self, spec: &RolloutSpec, approvals: Vec<String>) -> GateContext {
        GateContext {
            rollout_id: spec.id.clone(),
            target: spec.target.clone(),
            candidate: spec.candidate.clone(),
            stable: spec.stable.clone(),
            now: self.clock().now(),
            approvals,
            waiting_since: None,
        }
    }

    /// How often the gates `spec` names want to be kept alive, at least.
    pub(super) fn keep_alive_every(&self, spec: &RolloutSpec) -> Option<std::time::Duration> {
        if self.gates.is_empty() {
            return None;
        }
        spec.gate_names()
            .iter()
            .filter_map(|name| self.gates.get(name))
            .filter_map(|g| g.keep_alive_interval())
            .min()
    }

    /// Lets the gates the rollout passed (`held`) keep what they hold for it (locks
    /// refreshed); returns the first that lost its hold, and why.
    pub(super) async fn keep_gates_alive(
        &self,
        spec: &RolloutSpec,
        held: &[String],
    ) -> Option<(String, String)> {
        if self.gates.is_empty() || held.is_empty() {
            return None;
        }
        let ctx = self.gate_context(spec, Vec::new());
        let mut lost = None;
        for name in held {
            if let Some(gate) = self.gates.get(name) {
                if let KeepAlive::Lost { reason } = gate.keep_alive(&ctx).await {
                    lost.get_or_insert((name.clone(), reason));
                }
            }
        }
        lost
    }

    /// Tells every gate the spec names that the rollout ended for good (locks are released).
    pub(super) async fn finish_gates(&self, spec: &RolloutSpec, phase: Phase) {
        let ctx = self.gate_context(spec, Vec::new());
        for name in spec.gate_names() {
            if let Some(gate) = self.gates.get(&name) {
                gate.on_finish(&ctx, phase).await;
            }
        }
    }
}

/// The result for a validator the engine does not know.
fn unregistered(name: &str) -> MeasureResult {
    MeasureResult::Error(ValidatorError {
        validator: name.to_owned(),
        message: "not registered with the runner".into(),
    })
}

/// A validator's answer as the measurement's result.
fn measured(judged: Result<crate::validator::Verdict, ValidatorError>) -> MeasureResult {
    match judged {
        Ok(verdict) => MeasureResult::Verdict(verdict),
        Err(e) => MeasureResult::Error(e),
    }
}
