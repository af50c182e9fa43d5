//! Judgments and time: analysis and verification measurements, background analysis, gate
//! outcomes and timers firing.

use super::*;

impl Rollout {
    pub(super) fn on_measured(
        &mut self,
        id: u64,
        results: &Arc<[MeasureResult]>,
        out: &mut Vec<Effect>,
    ) {
        if let Some(bg) = &self.background {
            if bg.wait == id {
                return self.on_background_measured(results, out);
            }
        }
        // Taken, not cloned (an analysis run is large); every arm sets what comes next.
        match self.current.take() {
            Some(Running::Analysis { mut run, wait }) if wait == Wait::Request(id) => {
                let scope = AnalysisScope::Step { step: self.step };
                let decision = run.record(results);
                self.record(
                    out,
                    EventKind::Measured {
                        scope: scope.clone(),
                        number: run.taken(),
                        results: results.clone(),
                    },
                );
                match decision {
                    Decision::Continue => {
                        // The interval, or sooner after an error (AnalysisRun::next_wait).
                        let timer = self.timer(run.next_wait());
                        self.current = Some(Running::Analysis {
                            run,
                            wait: Wait::Timer(timer),
                        });
                    }
                    Decision::Done(result, message) => {
                        self.record(
                            out,
                            EventKind::AnalysisCompleted {
                                scope,
                                result,
                                message: message.clone(),
                            },
                        );
                        match result {
                            AnalysisResult::Passed => self.current = None,
                            AnalysisResult::Failed => {
                                self.current = None;
                                self.fail(
                                    RollbackCause::Analysis,
                                    format!("analysis failed: {message}"),
                                    out,
                                );
                            }
                            AnalysisResult::Inconclusive => {
                                if run.step().policy.on_inconclusive
                                    == crate::model::InconclusiveAction::Fail
                                {
                                    self.current = None;
                                    self.fail(
                                        RollbackCause::Analysis,
                                        format!("analysis inconclusive: {message}"),
                                        out,
                                    );
                                } else {
                                    self.current = Some(Running::Analysis {
                                        run,
                                        wait: Wait::Person,
                                    });
                                    self.pause_for_person(
                                        format!("analysis inconclusive: {message}"),
                                        out,
                                    );
                                }
                            }
                        }
                    }
                }
            }
            Some(Running::Verify {
                validators,
                attempt,
                wait,
                purpose,
            }) if wait == Wait::Request(id) => {
                let scope = match purpose {
                    Verification::Rollback => AnalysisScope::RollbackVerification,
                    Verification::AfterExpand { step } => {
                        AnalysisScope::StableAfterMigration { step }
                    }
                };
                // A pass with a NaN measurement is not a pass here either.
                let healthy =
                    !results.is_empty() && results.iter().all(crate::engine::analysis::is_pass);
                self.record(
                    out,
                    EventKind::Measured {
                        scope: scope.clone(),
                        number: attempt,
                        results: results.clone(),
                    },
                );
                if healthy {
                    self.current = None;
                    self.record(
                        out,
                        EventKind::AnalysisCompleted {
                            scope: scope.clone(),
                            result: AnalysisResult::Passed,
                            message: match purpose {
                                Verification::Rollback => "stable is healthy".into(),
                                Verification::AfterExpand { .. } => {
                                    "stable is healthy on the new schema".into()
                                }
                            },
                        },
                    );
                } else if attempt < VERIFY_ATTEMPTS {
                    let poll = self.poll_interval();
                    let timer = self.timer(poll);
                    self.current = Some(Running::Verify {
                        validators,
                        attempt,
                        wait: Wait::Timer(timer),
                        purpose,
                    });
                } else {
                    self.current = None;
                    let detail: Vec<String> = results.iter().map(describe_result).collect();
                    self.record(
                        out,
                        EventKind::AnalysisCompleted {
                            scope: scope.clone(),
                            result: AnalysisResult::Failed,
                            message: detail.join("; "),
                        },
                    );
                    if let Verification::AfterExpand { step } = purpose {
                        return self.freeze_broken_stable(step, &detail.join("; "), out);
                    }
                    // A rollback's verification ends it: the cause is unused (the
                    // rollback keeps its own).
                    self.fail(
                        RollbackCause::Analysis,
                        format!(
                            "stable is not healthy after {attempt} checks: {}",
                            detail.join("; ")
                        ),
                        out,
                    );
                }
            }
            other => self.current = other,
        }
    }

    pub(super) fn on_background_measured(
        &mut self,
        results: &Arc<[MeasureResult]>,
        out: &mut Vec<Effect>,
    ) {
        let Some(mut bg) = self.background.take() else {
            return;
        };
        let decision = bg.run.record(results);
        self.record(
            out,
            EventKind::Measured {
                scope: AnalysisScope::Background,
                number: bg.run.taken(),
                results: results.clone(),
            },
        );
        match decision {
            Decision::Continue => {
                bg.wait = self.timer(bg.run.next_wait());
                self.background = Some(bg);
            }
            Decision::Done(result, message) => {
                self.record(
                    out,
                    EventKind::AnalysisCompleted {
                        scope: AnalysisScope::Background,
                        result,
                        message: message.clone(),
                    },
                );
                match result {
                    AnalysisResult::Passed => {}
                    AnalysisResult::Failed => self.fail(
                        RollbackCause::Analysis,
                        format!("background analysis failed: {message}"),
                        out,
                    ),
                    AnalysisResult::Inconclusive => {
                        if bg.run.step().policy.on_inconclusive
                            == crate::model::InconclusiveAction::Fail
                        {
                            self.fail(
                                RollbackCause::Analysis,
                                format!("background analysis inconclusive: {message}"),
                                out,
                            );
                        } else {
                            self.operator_paused = true;
                            self.pause_for_person(
                                format!("background analysis inconclusive: {message}"),
                                out,
                            );
                        }
                    }
                }
            }
        }
    }

    pub(super) fn on_gate(&mut self, outcome: &GateOutcome, out: &mut Vec<Effect>) {
        let Some(Running::Gate { name, since, .. }) = self.current.clone() else {
            return;
        };
        self.record(
            out,
            EventKind::GateChecked {
                gate: name.clone(),
                outcome: Box::new(outcome.clone()),
            },
        );
        let was_waiting_for_person = self.phase == Phase::Paused && !self.operator_paused;
        match outcome {
            GateOutcome::Pass => {
                self.current = None;
                // An approval counts once: a later gate op of the same name asks again.
                self.approvals.retain(|a| a != &name);
                if !self.passed.contains(&name) {
                    self.passed.push(name.clone());
                }
                if self.lost.as_ref().is_some_and(|l| l.gate == name) {
                    self.lost = None;
                }
                if was_waiting_for_person {
                    self.reason = None;
                    if self.stage == Stage::Gating {
                        self.set_phase(out, Phase::Gating);
                    }
                }
            }
            GateOutcome::Block { reason } => {
                self.current = None;
                let why = format!("gate {name} blocked: {reason}");
                if self.lost.as_ref().is_some_and(|l| l.gate == name) {
                    // Taking back a lost hold failed: still hands off the fleet.
                    self.ops.clear();
                    if let Some(bg) = self.background.take() {
                        self.forget(bg.wait);
                    }
                    self.stage = Stage::Steps { active: false };
                    self.operator_paused = true;
                    self.pause_for_person(format!("{why}; fleet changes stay stopped"), out);
                } else if self.stage == Stage::Gating {
                    self.finish(Phase::Blocked, why, out);
                } else {
                    self.fail(RollbackCause::Gate, why, out);
                }
            }
            GateOutcome::Wait {
                retry_after,
                reason,
            } => {
                let timer = self.timer(*retry_after);
                self.reason = Some(format!("waiting on gate {name}: {reason}"));
                self.current = Some(Running::Gate {
                    name,
                    wait: Wait::Timer(timer),
                    since: since.or(Some(self.now)),
                });
            }
            GateOutcome::AwaitPerson {
                reason,
                recheck_after,
            } => {
                let since = since.or(Some(self.now));
                let wait = match recheck_after {
                    Some(every) => {
                        let watch = GateWatch {
                            every: *every,
                            unchanged: reason.clone(),
                        };
                        Wait::Request(self.watch_gate(&name, since, watch))
                    }
                    None => Wait::Person,
                };
                self.current = Some(Running::Gate {
                    name: name.clone(),
                    wait,
                    since,
                });
                let why = format!("waiting on gate {name}: {reason}");
                if self.phase != Phase::Paused || self.reason.as_deref() != Some(&why) {
                    self.pause_for_person(why, out);
                }
            }
        }
    }

    /// A gate lost its hold: stop every fleet change now and pause (a rollback cannot
    /// pause: it stops as failed, for a person).
    pub(super) fn on_gate_lost(&mut self, gate: &str, reason: &str, out: &mut Vec<Effect>) {
        let why = format!("gate {gate} lost its hold, fleet changes stopped: {reason}");
        match self.stage {
            Stage::Steps { .. } | Stage::Promoting if self.lost.is_none() => {
                let promoting = self.stage == Stage::Promoting;
                self.cancel_all();
                self.stage = Stage::Steps { active: false };
                self.operator_paused = true;
                self.lost = Some(Lost {
                    gate: gate.to_string(),
                    promoting,
                });
                self.record(
                    out,
                    EventKind::Failed {
                        reason: why.clone(),
                    },
                );
                self.pause_for_person(
                    format!("{why}; resume takes it again and re-runs the step"),
                    out,
                );
            }
            Stage::Rollback(_) => self.fail(RollbackCause::Gate, why, out),
            _ => {}
        }
    }

    pub(super) fn on_timer(&mut self, id: u64, out: &mut Vec<Effect>) {
        if let Some(bg) = &self.background {
            if bg.wait == id {
                let (validators, since) = (bg.run.validators(), bg.run.breached_since());
                let wait = self.measure_carrying(out, validators, since);
                if let Some(bg) = &mut self.background {
                    bg.wait = wait;
                }
                return;
            }
        }
        // Taken, not cloned; every arm sets what comes next.
        let Some(current) = self.current.take() else {
            return;
        };
        if current.waiting_on() != Some(id) {
            self.current = Some(current);
            return;
        }
        match current {
            Running::Backoff {
                action, attempt, ..
            } => self.send_apply(action, attempt + 1, out),
            Running::Sleep { .. } => self.current = None,
            Running::AwaitReady(ready) => {
                let req = self.observe(out);
                self.current = Some(Running::AwaitReady(Readiness {
                    wait: Wait::Request(req),
                    ..ready
                }));
            }
            Running::Analysis { run, .. } => {
                let req = self.measure_run(out, &run);
                self.current = Some(Running::Analysis {
                    run,
                    wait: Wait::Request(req),
                });
            }
            Running::Gate { name, since, .. } => {
                let req = self.check_gate(&name, since, out);
                self.current = Some(Running::Gate {
                    name,
                    wait: Wait::Request(req),
                    since,
                });
            }
            Running::Verify {
                validators,
                attempt,
                purpose,
                ..
            } => {
                let req = self.measure(out, validators.clone(), Role::Stable);
                self.current = Some(Running::Verify {
                    validators,
                    attempt: attempt + 1,
                    wait: Wait::Request(req),
                    purpose,
                });
            }
            Running::MigrateBackoff {
                migrator,
                phase,
                attempt,
                ..
            } => self.send_migrate(migrator, phase, attempt + 1, out),
            still @ (Running::Apply { .. } | Running::Migrate { .. } | Running::WaitPromotion) => {
                self.current = Some(still)
            }
        }
    }
}
