//! The platform's answers: an action accepted or failed (retry with backoff, or fail), an
//! observation (readiness against the deadline) or a failed observation.

use super::*;

impl Rollout {
    pub(super) fn on_applied(&mut self, id: u64, out: &mut Vec<Effect>) {
        if let Some(Running::Apply {
            id: cur, action, ..
        }) = &self.current
        {
            if *cur != id {
                return;
            }
            if matches!(
                **action,
                Action::Deploy { .. } | Action::Scale { .. } | Action::Retire { .. }
            ) {
                self.fleet_changed = true;
            }
            self.current = None;
            self.record(out, EventKind::ActionApplied { id });
        }
    }

    pub(super) fn on_apply_failed(&mut self, error: &DriverError, out: &mut Vec<Effect>) {
        let Some(Running::Apply {
            id,
            action,
            attempt,
        }) = self.current.take()
        else {
            return;
        };
        let will_retry = error.is_transient() && attempt < self.max_attempts();
        if let Some(timer) = self.driver_failed(id, error, will_retry, attempt, out) {
            self.current = Some(Running::Backoff {
                timer,
                action,
                attempt,
            });
        } else {
            let tries = if error.is_transient() {
                format!(" after {attempt} attempt(s)")
            } else {
                String::new()
            };
            self.fail(
                RollbackCause::Driver,
                format!("{} failed{tries}: {}", action.describe(), error.message),
                out,
            );
        }
    }

    pub(super) fn on_observed(&mut self, id: u64, fleet: &Arc<FleetState>, out: &mut Vec<Effect>) {
        self.last_fleet = Some(fleet.clone());
        self.fleet_changed = false;
        let Some(Running::AwaitReady(awaiting)) = self.current else {
            return;
        };
        if awaiting.wait != Wait::Request(id) {
            return;
        }
        let (role, replicas) = match awaiting.goal {
            Goal::Converge { role, replicas } => (role, replicas),
            Goal::Serve { optional } => return self.on_serving_observed(awaiting, optional, out),
        };
        let deadline = awaiting.deadline;
        let Some(rev) = self.revision(role).map(|r| r.id.clone()) else {
            self.current = None;
            return;
        };
        let (desired, ready) = (fleet.desired_of(&rev), fleet.ready_of(&rev));
        if desired == replicas && ready == replicas {
            self.current = None;
            self.record(
                out,
                EventKind::Converged {
                    role,
                    replicas,
                    fleet: fleet.clone(),
                },
            );
        } else if self.now >= deadline {
            let limit = self.progress_deadline_text();
            self.current = None;
            self.fail(
                RollbackCause::ProgressDeadline,
                format!("progress deadline of {limit} exceeded: {rev} ({role}) has {ready}/{replicas} ready replicas (desired {desired})"),
                out,
            );
        } else {
            self.poll_again(awaiting);
        }
    }

    /// The progress deadline as text, for failure reasons.
    fn progress_deadline_text(&self) -> String {
        format_duration(self.spec.progress_deadline)
    }

    /// Keeps waiting for readiness: observe again after one poll interval.
    fn poll_again(&mut self, awaiting: Readiness) {
        let poll = self.poll_interval();
        let timer = self.timer(poll);
        self.current = Some(Running::AwaitReady(Readiness {
            wait: Wait::Timer(timer),
            ..awaiting
        }));
    }

    /// An observation while a route waits for ready replicas behind every revision it gives
    /// traffic to: route, keep waiting, drop an optional route, or fail at the deadline.
    fn on_serving_observed(&mut self, awaiting: Readiness, optional: bool, out: &mut Vec<Effect>) {
        let missing = match (self.ops.front(), self.last_fleet.as_deref()) {
            (
                Some(
                    Op::Apply(Action::Route { weights })
                    | Op::RouteIfServing(Action::Route { weights }),
                ),
                Some(fleet),
            ) => unserved(weights, fleet).map(|(rev, w)| (rev.clone(), w)),
            _ => None,
        };
        let Some((rev, share)) = missing else {
            // Served: the route goes out next.
            self.current = None;
            return;
        };
        if optional {
            self.ops.pop_front();
            self.current = None;
        } else if self.now >= awaiting.deadline {
            let limit = self.progress_deadline_text();
            self.current = None;
            self.fail(
                RollbackCause::ProgressDeadline,
                format!("progress deadline of {limit} exceeded: {rev} has no ready replicas to take {share}% of traffic"),
                out,
            );
        } else {
            self.poll_again(awaiting);
        }
    }

    pub(super) fn on_observe_failed(&mut self, error: &DriverError, out: &mut Vec<Effect>) {
        let Some(Running::AwaitReady(awaiting)) = self.current else {
            return;
        };
        let Wait::Request(id) = awaiting.wait else {
            return;
        };
        let deadline = awaiting.deadline;
        let failures = awaiting.failures + 1;
        let will_retry =
            error.is_transient() && failures < self.max_attempts() && self.now < deadline;
        if let Some(timer) = self.driver_failed(id, error, will_retry, failures, out) {
            self.current = Some(Running::AwaitReady(Readiness {
                wait: Wait::Timer(timer),
                failures,
                ..awaiting
            }));
        } else if awaiting.goal == (Goal::Serve { optional: true }) {
            // Rollback's first route is a best effort: without a view of the fleet, skip it.
            self.ops.pop_front();
            self.current = None;
        } else {
            self.current = None;
            self.fail(
                RollbackCause::Driver,
                format!("observing the fleet failed: {}", error.message),
                out,
            );
        }
    }

    /// How long to wait between observations (and verification attempts).
    pub(super) fn poll_interval(&self) -> std::time::Duration {
        self.spec.poll_interval
    }

    fn max_attempts(&self) -> u32 {
        self.spec.retry.max_attempts
    }

    /// Records a driver failure; when it will be retried, starts the backoff timer for
    /// `attempt` and returns its id.
    fn driver_failed(
        &mut self,
        id: u64,
        error: &DriverError,
        will_retry: bool,
        attempt: u32,
        out: &mut Vec<Effect>,
    ) -> Option<u64> {
        self.record(
            out,
            EventKind::DriverFailed {
                id,
                error: Box::new(error.clone()),
                will_retry,
            },
        );
        if !will_retry {
            return None;
        }
        let backoff = self.spec.retry.backoff(attempt);
        Some(self.timer(backoff))
    }
}
