//! The rollout's course: start, gating, pumping plan ops, starting each op, finishing,
//! failing by policy and starting a rollback.

use super::*;

impl Rollout {
    pub(super) fn on_start(
        &mut self,
        spec: &RolloutSpec,
        caps: Capabilities,
        out: &mut Vec<Effect>,
    ) {
        if self.stage != Stage::NotStarted {
            return;
        }
        self.spec = Some(std::sync::Arc::new(spec.clone()));
        self.caps = caps;
        let check = spec.validate().and_then(|_| spec.plan.validate(&caps));
        if let Err(e) = check {
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
        self.step_active = false;
        self.operator_paused = false;
        self.reason = None;
        self.set_phase(out, Phase::Gating);
        let gates = self
            .spec
            .as_ref()
            .map(|s| s.gates.clone())
            .unwrap_or_default();
        self.ops = gates.into_iter().map(Op::Gate).collect();
    }

    pub(super) fn on_resumed(&mut self, out: &mut Vec<Effect>) {
        self.record(out, EventKind::Resumed);
        // A gate watched for a person is asked at once: time went by while nobody asked
        // (a timeout may have passed, a file may have appeared).
        out.extend(self.outstanding.iter().map(|(_, e)| match e {
            Effect::CheckGate {
                id,
                gate,
                approvals,
                waiting_since,
                watch: Some(_),
            } => Effect::CheckGate {
                id: *id,
                gate: gate.clone(),
                approvals: approvals.clone(),
                waiting_since: *waiting_since,
                watch: None,
            },
            e => e.clone(),
        }));
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
            match self.stage {
                Stage::Gating => {
                    self.stage = Stage::Steps;
                    self.set_phase(out, Phase::Progressing);
                    self.start_background(out);
                }
                Stage::Steps => {
                    let Some(spec) = self.spec.clone() else {
                        return;
                    };
                    if self.step_active {
                        self.step_active = false;
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
                    self.step_active = true;
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
                Stage::Rollback => {
                    let reason = self.rollback_reason.clone();
                    self.finish(self.rollback_end, reason, out);
                    return;
                }
                Stage::NotStarted | Stage::Frozen | Stage::Done => return,
            }
        }
    }

    pub(super) fn start_background(&mut self, out: &mut Vec<Effect>) {
        let Some(step) = self
            .spec
            .as_ref()
            .and_then(|s| s.background_analysis.clone())
        else {
            return;
        };
        let delay = step.policy.initial_delay;
        let run = AnalysisRun::new(step);
        let wait = if delay.is_zero() {
            self.measure_run(out, &run)
        } else {
            self.timer(out, delay)
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
                let timer = self.timer(out, d);
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
                    Wait::Timer(self.timer(out, delay))
                };
                self.current = Some(Running::Analysis { run, wait });
            }
            Op::Gate(name) => {
                let id = self.check_gate(&name, None, None, out);
                self.current = Some(Running::Gate {
                    name,
                    wait: Wait::Request(id),
                    since: None,
                });
            }
            Op::Verify(validators) => {
                let id = self.measure(out, validators.clone(), Role::Stable);
                self.current = Some(Running::Verify {
                    validators,
                    attempt: 1,
                    wait: Wait::Request(id),
                });
            }
        }
    }

    /// Observes the fleet and waits for `goal`, until the progress deadline.
    fn await_fleet(&mut self, goal: Goal, out: &mut Vec<Effect>) {
        let deadline = self.now.plus(
            self.spec
                .as_ref()
                .map(|s| s.progress_deadline)
                .unwrap_or_default(),
        );
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

    /// Asks gate `name` (waiting since `since`), at once or, with `watch`, later.
    pub(super) fn check_gate(
        &mut self,
        name: &str,
        since: Option<Timestamp>,
        watch: Option<GateWatch>,
        out: &mut Vec<Effect>,
    ) -> u64 {
        let approvals = self.approvals.clone();
        let gate = name.to_string();
        self.request(out, |id| Effect::CheckGate {
            id,
            gate,
            approvals,
            waiting_since: since,
            watch,
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
        self.cancel_all(out);
        self.stage = Stage::Done;
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
    pub(super) fn fail(&mut self, reason: String, out: &mut Vec<Effect>) {
        self.record(
            out,
            EventKind::Failed {
                reason: reason.clone(),
            },
        );
        match self.stage {
            Stage::Rollback => {
                let why = format!(
                    "rollback failed: {reason} (the rollback was started because: {})",
                    self.rollback_reason
                );
                self.finish(Phase::RollbackFailed, why, out);
            }
            Stage::Gating => self.finish(Phase::Blocked, reason, out),
            Stage::Steps | Stage::Promoting => {
                let policy = self
                    .spec
                    .as_ref()
                    .map(|s| s.failure_policy)
                    .unwrap_or_default();
                match policy {
                    FailurePolicy::Rollback => self.start_rollback(reason, Phase::RolledBack, out),
                    FailurePolicy::Freeze => {
                        self.cancel_all(out);
                        self.stage = Stage::Frozen;
                        self.step_active = false;
                        self.set_phase(out, Phase::Frozen);
                        self.reason = Some(reason);
                    }
                }
            }
            Stage::NotStarted | Stage::Frozen | Stage::Done => {}
        }
    }

    pub(super) fn start_rollback(&mut self, reason: String, end: Phase, out: &mut Vec<Effect>) {
        self.cancel_all(out);
        self.stage = Stage::Rollback;
        self.rollback_end = end;
        self.rollback_reason = reason.clone();
        self.operator_paused = false;
        self.set_phase(out, Phase::RollingBack);
        self.reason = Some(reason.clone());
        self.record(
            out,
            EventKind::RollbackStarted {
                reason: reason.clone(),
            },
        );
        out.push(Effect::Notify(Notification::RollbackStarted {
            rollout_id: self.rollout_id(),
            reason,
        }));
        if let Some(spec) = self.spec.clone() {
            self.ops = rollback_ops(&spec, &self.caps, self.last_fleet.as_deref()).into();
        }
    }
}
