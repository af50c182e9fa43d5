//! Operator commands (pause, resume, promote, abort, retry, approve): accepted or refused
//! with a note, each recorded as an event.

use super::*;

impl Rollout {
    pub(super) fn on_command(&mut self, cmd: &Command, out: &mut Vec<Effect>) {
        let result = self.apply_command(cmd, out);
        let (accepted, note) = match result {
            Ok(()) => (true, String::new()),
            Err(note) => (false, note),
        };
        self.record(
            out,
            EventKind::CommandReceived {
                command: cmd.clone(),
                accepted,
                note,
            },
        );
    }

    pub(super) fn apply_command(
        &mut self,
        cmd: &Command,
        out: &mut Vec<Effect>,
    ) -> Result<(), String> {
        let in_steps = matches!(self.stage, Stage::Steps { .. });
        match cmd {
            Command::Pause => {
                if !in_steps {
                    return Err(format!("cannot pause in phase {}", self.phase));
                }
                self.operator_paused = true;
                self.pause_for_person("paused by operator".into(), out);
                Ok(())
            }
            Command::Resume => {
                let waiting = self
                    .current
                    .as_ref()
                    .map(|c| c.waits_for_person())
                    .unwrap_or(false);
                if !in_steps || !(self.operator_paused || waiting) {
                    return Err(format!("nothing to resume in phase {}", self.phase));
                }
                self.operator_paused = false;
                if waiting {
                    self.current = None;
                }
                if let Some(lost) = self.lost.clone() {
                    // Take the lost hold again before anything else changes the fleet.
                    self.ops.clear();
                    self.ops.push_back(Op::Gate(lost.gate));
                    if lost.promoting {
                        self.stage = Stage::Promoting;
                        self.set_phase(out, Phase::Promoting);
                        self.ops.extend(promote_full_ops(&self.spec, &self.caps));
                    } else {
                        self.start_background(out);
                    }
                }
                self.set_phase(out, Phase::Progressing);
                self.reason = None;
                Ok(())
            }
            Command::Promote { .. } if self.lost.is_some() => Err(
                "a gate lost its hold (see the pause reason); resume to take it again first".into(),
            ),
            Command::Promote { full: false } => {
                let skippable = matches!(
                    self.current,
                    Some(
                        Running::WaitPromotion
                            | Running::Sleep { .. }
                            | Running::Analysis { .. }
                            | Running::Gate { .. }
                    )
                );
                if !in_steps || !(skippable || self.operator_paused) {
                    return Err("promote skips a pause, analysis or gate; the current step is changing the fleet".into());
                }
                if skippable {
                    self.cancel_current();
                    self.ops.clear();
                }
                self.operator_paused = false;
                Ok(())
            }
            Command::Promote { full: true } => {
                if !in_steps {
                    return Err(format!("cannot promote in phase {}", self.phase));
                }
                self.cancel_all();
                let spec = self.spec.clone();
                self.stage = Stage::Promoting;
                self.step = spec.plan.steps.len();
                self.operator_paused = false;
                self.set_phase(out, Phase::Promoting);
                self.ops = promote_full_ops(&spec, &self.caps).into();
                Ok(())
            }
            Command::Abort => match self.stage {
                Stage::Gating => {
                    self.finish(
                        Phase::Aborted,
                        "aborted by operator before any change".into(),
                        out,
                    );
                    Ok(())
                }
                Stage::Steps { .. } | Stage::Promoting | Stage::Frozen => {
                    self.start_rollback(
                        RollbackCause::Operator,
                        "aborted by operator".into(),
                        Phase::Aborted,
                        out,
                    );
                    Ok(())
                }
                _ => Err(format!("cannot abort in phase {}", self.phase)),
            },
            Command::Retry => match (&self.stage, self.phase) {
                (Stage::Frozen, _) => {
                    // The person's newer instruction: re-run the frozen step now, without a
                    // pause asked before the freeze (it would stop before that very step).
                    self.operator_paused = false;
                    self.stage = Stage::Steps { active: false };
                    self.reason = None;
                    self.set_phase(out, Phase::Progressing);
                    self.start_background(out);
                    Ok(())
                }
                (
                    Stage::Done {
                        failed_rollback: Some(rollback),
                    },
                    Phase::RollbackFailed,
                ) => {
                    let rollback = rollback.clone();
                    self.start_rollback(rollback.cause, rollback.reason.clone(), rollback.end, out);
                    Ok(())
                }
                (Stage::Done { .. }, Phase::RolledBack | Phase::Aborted | Phase::Blocked) => {
                    self.begin_gating(out);
                    Ok(())
                }
                _ => Err(format!("nothing to retry in phase {}", self.phase)),
            },
            Command::Approve { gate } => {
                if !self.approvals.contains(gate) {
                    self.approvals.push(gate.clone());
                }
                // Re-check a waiting gate of that name at once.
                if let Some(Running::Gate { name, wait, since }) = self.current.clone() {
                    if &name == gate {
                        match wait {
                            Wait::Timer(t) | Wait::Request(t) => self.forget(t),
                            Wait::Person => {}
                        }
                        let req = self.check_gate(&name, since, out);
                        self.current = Some(Running::Gate {
                            name,
                            wait: Wait::Request(req),
                            since,
                        });
                    }
                }
                Ok(())
            }
        }
    }
}
