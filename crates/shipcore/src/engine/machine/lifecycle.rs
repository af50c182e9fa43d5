//! The rollout's course: start, gating, pumping plan ops, starting each op, finishing,
//! failing by policy and starting a rollback.

use super::*;

impl Rollout {
    /// Starts: a spec or plan that failed validation (`checked`) is rejected (the rollout
    /// ends blocked), else the `started` event and gating.
    pub(super) fn on_start(&mut self, checked: Result<(), PlanError>, out: &mut Vec<Effect>) {
        let spec = self.spec.clone();
        if let Err(e) = checked {
            self.record(
                out,
                EventKind::Rejected {
                    reason: e.to_string(),
                },
            );
            self.finish(Phase::Blocked, format!("plan rejected: {e}"), out);
            return;
        }
        self.record(
            out,
            EventKind::Started(Box::new(StartInfo {
                id: spec.id.clone(),
                service: spec.target.service.clone(),
                environment: spec.target.environment.clone(),
                version: spec.candidate.version.to_string(),
                previous_version: spec.stable.as_ref().map(|s| s.version.to_string()),
                strategy: spec.plan.strategy.clone(),
                steps: spec.plan.steps.len(),
            })),
        );
        out.push(Effect::Notify(Notification::Started {
            rollout_id: spec.id.clone(),
            service: spec.target.service.clone(),
            version: spec.candidate.version.to_string(),
        }));
        self.begin_gating(out);
    }

    pub(super) fn begin_gating(&mut self, out: &mut Vec<Effect>) {
        self.stage = Stage::Gating;
        self.passed.clear();
        self.step = 0;
        self.operator_paused = false;
        self.reason = None;
        self.set_phase(out, Phase::Gating);
        self.ops = self.spec.gates.iter().cloned().map(Op::Gate).collect();
    }

    pub(super) fn on_resumed(&mut self, out: &mut Vec<Effect>) {
        self.record(out, EventKind::Resumed);
        out.extend(self.outstanding.iter().map(|(_, e)| e.clone()));
        // A gate watched for a person is asked at once: time went by while nobody asked
        // (a timeout may have passed, a file may have appeared). Its timer becomes a request.
        let mut i = 0;
        while i < self.timers.len() {
            if self.timers[i].watch.is_none() {
                i += 1;
                continue;
            }
            let timer = self.timers.remove(i);
            if let Some(w) = timer.watch {
                let effect = Effect::CheckGate {
                    id: timer.id,
                    gate: w.gate,
                    approvals: w.approvals,
                    waiting_since: w.waiting_since,
                };
                let pos = self.outstanding.partition_point(|(r, _)| *r < timer.id);
                self.outstanding.insert(pos, (timer.id, effect.clone()));
                out.push(effect);
            }
        }
    }

    /// Starts ops and steps until something waits.
    pub(super) fn pump(&mut self, out: &mut Vec<Effect>) {
        loop {
            if self.current.is_some() {
                return;
            }
            if let Some(op) = self.ops.pop_front() {
                self.start_op(op, out);
                continue;
            }
            match self.stage.clone() {
                Stage::Gating => {
                    self.stage = Stage::Steps { active: false };
                    self.set_phase(out, Phase::Progressing);
                    self.start_background(out);
                }
                Stage::Steps { active } => {
                    let spec = self.spec.clone();
                    if active {
                        self.stage = Stage::Steps { active: false };
                        self.record(out, EventKind::StepCompleted { step: self.step });
                        out.push(Effect::Notify(Notification::StepPassed {
                            rollout_id: spec.id.clone(),
                            step: self.step,
                            description: spec
                                .plan
                                .steps
                                .get(self.step)
                                .map(|s| s.describe())
                                .unwrap_or_default(),
                        }));
                        self.step += 1;
                    }
                    if self.step >= spec.plan.steps.len() {
                        self.finish(Phase::Succeeded, "all steps completed".into(), out);
                        return;
                    }
                    if self.operator_paused {
                        self.set_phase(out, Phase::Paused);
                        return;
                    }
                    self.set_phase(out, Phase::Progressing);
                    self.reason = None;
                    let step = &spec.plan.steps[self.step];
                    self.ops = expand_step(step, &spec, &self.caps).into();
                    self.stage = Stage::Steps { active: true };
                    self.record(
                        out,
                        EventKind::StepStarted {
                            step: self.step,
                            description: step.describe(),
                        },
                    );
                }
                Stage::Promoting => {
                    self.finish(Phase::Succeeded, "promoted in full by operator".into(), out);
                    return;
                }
                Stage::Rollback(rollback) => {
                    self.finish(rollback.end, rollback.reason.clone(), out);
                    return;
                }
                Stage::Frozen | Stage::Done { .. } => return,
            }
        }
    }

    pub(super) fn start_background(&mut self, out: &mut Vec<Effect>) {
        let Some(step) = self.spec.background_analysis.clone() else {
            return;
        };
        let delay = step.policy.initial_delay;
        let run = AnalysisRun::new(step);
        let wait = if delay.is_zero() {
            self.measure_run(out, &run)
        } else {
            self.timer(delay)
        };
        self.background = Some(Background { run, wait });
    }

    pub(super) fn start_op(&mut self, op: Op, out: &mut Vec<Effect>) {
        match op {
            Op::Apply(Action::Route { weights }) if !self.can_serve(&weights) => {
                self.ops.push_front(Op::Apply(Action::Route { weights }));
                self.await_fleet(Goal::Serve { optional: false }, out);
            }
            Op::RouteIfServing(action) => {
                let Action::Route { weights } = &action else {
                    return self.send_apply(Arc::new(action), 1, out);
                };
                if self.can_serve(weights) {
                    self.send_apply(Arc::new(action), 1, out);
                } else if self.fleet_changed || self.last_fleet.is_none() {
                    self.ops.push_front(Op::RouteIfServing(action));
                    self.await_fleet(Goal::Serve { optional: true }, out);
                }
            }
            Op::Apply(action) => self.send_apply(Arc::new(action), 1, out),
            Op::AwaitReady { role, replicas } => {
                self.await_fleet(Goal::Converge { role, replicas }, out)
            }
            Op::Sleep(d) if d.is_zero() => {}
            Op::Sleep(d) => {
                let timer = self.timer(d);
                self.current = Some(Running::Sleep { timer });
            }
            Op::WaitPromotion => {
                self.current = Some(Running::WaitPromotion);
                self.pause_for_person("waiting for promotion".into(), out);
            }
            Op::Analyze(step) => {
                let delay = step.policy.initial_delay;
                let run = AnalysisRun::new(step);
                let wait = if delay.is_zero() {
                    Wait::Request(self.measure_run(out, &run))
                } else {
                    Wait::Timer(self.timer(delay))
                };
                self.current = Some(Running::Analysis { run, wait });
            }
            Op::Gate(name) => {
                let id = self.check_gate(&name, None, out);
                self.current = Some(Running::Gate {
                    name,
                    wait: Wait::Request(id),
                    since: None,
                });
            }
            Op::Verify(validators) => self.verify(validators, Verification::Rollback, out),
            Op::VerifyAfterExpand(validators) => {
                let purpose = Verification::AfterExpand { step: self.step };
                self.verify(validators, purpose, out)
            }
            Op::Migrate { migrator, phase } => self.send_migrate(migrator, phase, 1, out),
        }
    }

    /// Judges stable with `validators` (first attempt), for `purpose`.
    fn verify(&mut self, validators: Arc<[String]>, purpose: Verification, out: &mut Vec<Effect>) {
        let id = self.measure(out, validators.clone(), Role::Stable);
        self.current = Some(Running::Verify {
            validators,
            attempt: 1,
            wait: Wait::Request(id),
            purpose,
        });
    }

    /// Observes the fleet and waits for `goal`, until the progress deadline.
    fn await_fleet(&mut self, goal: Goal, out: &mut Vec<Effect>) {
        let deadline = self.now.plus(self.spec.progress_deadline);
        let id = self.observe(out);
        self.current = Some(Running::AwaitReady(Readiness {
            goal,
            deadline,
            wait: Wait::Request(id),
            failures: 0,
        }));
    }

    /// Whether the last observation, taken after the last change of capacity the engine
    /// made, shows ready replicas behind every revision `weights` gives traffic to. The
    /// engine never routes traffic to a revision without them.
    pub(super) fn can_serve(&self, weights: &WeightSet) -> bool {
        match (&self.last_fleet, self.fleet_changed) {
            (Some(fleet), false) => unserved(weights, fleet).is_none(),
            _ => false,
        }
    }

    /// Asks gate `name` (waiting since `since`) now.
    pub(super) fn check_gate(
        &mut self,
        name: &str,
        since: Option<Timestamp>,
        out: &mut Vec<Effect>,
    ) -> u64 {
        let approvals = self.approvals.clone();
        let gate = name.to_string();
        self.request(out, |id| Effect::CheckGate {
            id,
            gate,
            approvals,
            waiting_since: since,
        })
    }

    pub(super) fn send_apply(&mut self, action: Arc<Action>, attempt: u32, out: &mut Vec<Effect>) {
        // The event goes out before the request, so live observers see the action when it
        // is asked for, not once the platform has answered.
        self.record(
            out,
            EventKind::ActionRequested {
                id: self.next_id,
                action: action.clone(),
                attempt,
            },
        );
        let a = action.clone();
        let id = self.request(out, |id| Effect::Apply { id, action: a });
        self.current = Some(Running::Apply {
            id,
            action,
            attempt,
        });
    }

    pub(super) fn pause_for_person(&mut self, reason: String, out: &mut Vec<Effect>) {
        self.set_phase(out, Phase::Paused);
        self.reason = Some(reason.clone());
        self.record(out, EventKind::Paused { reason });
    }

    pub(super) fn finish(&mut self, phase: Phase, reason: String, out: &mut Vec<Effect>) {
        self.cancel_all();
        self.stage = Stage::Done {
            failed_rollback: None,
        };
        self.set_phase(out, phase);
        self.reason = Some(reason.clone());
        self.record(
            out,
            EventKind::Finished {
                phase,
                reason: reason.clone(),
            },
        );
        out.push(Effect::Notify(Notification::Finished {
            rollout_id: self.rollout_id(),
            phase: phase.to_string(),
            reason,
        }));
    }

    /// A failure: the policy decides between rollback and freeze.
    /// `cause`: what a rollback this failure starts is recorded as caused by.
    pub(super) fn fail(&mut self, cause: RollbackCause, reason: String, out: &mut Vec<Effect>) {
        self.record(
            out,
            EventKind::Failed {
                reason: reason.clone(),
            },
        );
        match self.stage.clone() {
            Stage::Rollback(rollback) => {
                let why = format!(
                    "rollback failed: {reason} (the rollback was started because: {})",
                    rollback.reason
                );
                self.finish(Phase::RollbackFailed, why, out);
                // Kept for a retry, which starts the same rollback again.
                self.stage = Stage::Done {
                    failed_rollback: Some(rollback),
                };
            }
            Stage::Gating => self.finish(Phase::Blocked, reason, out),
            Stage::Steps { .. } | Stage::Promoting => match self.spec.failure_policy {
                FailurePolicy::Rollback => {
                    self.start_rollback(cause, reason, Phase::RolledBack, out)
                }
                FailurePolicy::Freeze => self.freeze(reason, out),
            },
            Stage::Frozen | Stage::Done { .. } => {}
        }
    }

    /// Starts rolling back, to end in `end`, because of `cause` (`reason` in words).
    pub(super) fn start_rollback(
        &mut self,
        cause: RollbackCause,
        reason: String,
        end: Phase,
        out: &mut Vec<Effect>,
    ) {
        self.cancel_all();
        self.stage = Stage::Rollback(Arc::new(RollbackOf {
            end,
            reason: reason.clone(),
            cause,
        }));
        self.operator_paused = false;
        self.set_phase(out, Phase::RollingBack);
        self.reason = Some(reason.clone());
        self.record(
            out,
            EventKind::RollbackStarted {
                reason: reason.clone(),
            },
        );
        // Why, for whoever needs more than the reason's words (records, alerts); not an
        // event field, so event logs stay as they were.
        out.push(Effect::RollbackCause { cause });
        self.rollback_causes.push(cause);
        out.push(Effect::Notify(Notification::RollbackStarted {
            rollout_id: self.rollout_id(),
            reason,
        }));
        self.ops = rollback_ops(&self.spec, &self.caps, self.last_fleet.as_deref()).into();
    }
}
