//! A driver conformance suite: the [`Driver`] contract as executable checks, in the spirit
//! of `object_store::integration`. Every driver runs the same suite: the simulator in
//! shipcore's own tests, the Compose driver in its end-to-end run, and every later driver
//! against its platform (or its platform's fake).
//!
//! Each check is a public async function taking a [`Conformance`] (the driver, a target it
//! may use freely, two deployable revisions, and how long to wait for readiness);
//! [`run_all`] runs every one. A check panics with a message that starts with the contract
//! clause it found broken, e.g. `driver contract (deploy is idempotent): ...`: these are
//! test helpers, meant to be called from `#[test]` functions.
//!
//! Drivers are asynchronous: `apply` returns once the platform *accepted* a change, and
//! readiness shows up later through `observe`. The suite polls `observe` every
//! [`Conformance::with_deadline`] `poll`, sleeping on the [`Clock`] it was given, and fails
//! a check when the deadline passes. With a [`SimClock`](crate::clock::SimClock) sleeping
//! advances simulated time, so the simulator converges instantly; with the default
//! [`SystemClock`] the suite waits in real time. Transient errors are retried a few times,
//! as the engine would; a permanent error where success is promised fails the check.
//!
//! The suite starts and ends every check by retiring both revisions, so the target must not
//! serve anything else that matters. Capabilities decide which checks apply: weights are
//! only routed when [`Capabilities::weighted_traffic`] is on, two revisions only run side by
//! side when [`Capabilities::side_by_side`] is, and an action the capabilities exclude must
//! be refused with a permanent error, changing nothing.
//!
//! ```
//! use shipcore::model::{Revision, Target};
//! use shipcore::testing::{conformance, Conformance, SimWorld};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let world = SimWorld::new(7);
//! let v1 = Revision::new("conf-v1", "1.0.0".parse().unwrap(), "web:1.0.0");
//! let v2 = Revision::new("conf-v2", "2.0.0".parse().unwrap(), "web:2.0.0");
//! let suite = Conformance::new(&world.driver, Target::new("web", "conformance"), v1, v2)
//!     // Sleeping on the simulated clock advances it: instances boot at once.
//!     .with_clock(world.clock_arc());
//! conformance::run_all(&suite).await;
//! # });
//! ```

use crate::clock::{Clock, SystemClock};
use crate::driver::{Capabilities, Driver, DriverError, ErrorKind};
use crate::model::{Action, FleetState, Revision, RevisionId, Target, WeightSet};
use std::sync::Arc;
use std::time::Duration;

/// The id of a revision the suite never deploys (letters, digits and `-`, so every driver
/// accepts it as a name).
pub const ABSENT_REVISION: &str = "conformance-absent";

/// How many times a transient error is retried before a check gives up.
const TRANSIENT_RETRIES: u32 = 5;

/// What the suite runs against: a driver, a target it may use freely, two distinct
/// revisions the driver can deploy there, the replica count, and how to wait.
#[must_use]
pub struct Conformance<'a> {
    driver: &'a dyn Driver,
    target: Target,
    first: Revision,
    second: Revision,
    replicas: u32,
    clock: Arc<dyn Clock>,
    deadline: Duration,
    poll: Duration,
}

impl std::fmt::Debug for Conformance<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conformance")
            .field("target", &self.target)
            .field("first", &self.first.id)
            .field("second", &self.second.id)
            .field("replicas", &self.replicas)
            .field("deadline", &self.deadline)
            .field("poll", &self.poll)
            .finish()
    }
}

impl<'a> Conformance<'a> {
    /// A suite for `driver` on `target` with revisions `first` and `second` (distinct ids,
    /// neither [`ABSENT_REVISION`]), 2 replicas, the [`SystemClock`], a 60 s deadline and
    /// a 500 ms poll.
    ///
    /// # Panics
    /// When the two revisions share an id, or one is [`ABSENT_REVISION`].
    pub fn new(driver: &'a dyn Driver, target: Target, first: Revision, second: Revision) -> Self {
        assert!(
            first.id != second.id,
            "conformance setup: first and second must be different revisions, both are {}",
            first.id
        );
        assert!(
            first.id.as_str() != ABSENT_REVISION && second.id.as_str() != ABSENT_REVISION,
            "conformance setup: the id {ABSENT_REVISION} is reserved for a revision that is never deployed"
        );
        Conformance {
            driver,
            target,
            first,
            second,
            replicas: 2,
            clock: Arc::new(SystemClock),
            deadline: Duration::from_secs(60),
            poll: Duration::from_millis(500),
        }
    }

    /// Replicas per deployed revision (at least 1; scaling checks go one above).
    ///
    /// # Panics
    /// When `replicas` is 0.
    pub fn with_replicas(mut self, replicas: u32) -> Self {
        assert!(
            replicas >= 1,
            "conformance setup: replicas must be at least 1, got 0"
        );
        self.replicas = replicas;
        self
    }

    /// The clock the suite sleeps on while it polls (a `SimClock` for a simulated platform).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long a change may take to show (`deadline`) and how often to look (`poll`).
    ///
    /// # Panics
    /// When `poll` is zero.
    pub fn with_deadline(mut self, deadline: Duration, poll: Duration) -> Self {
        assert!(
            !poll.is_zero(),
            "conformance setup: poll must be longer than zero"
        );
        self.deadline = deadline;
        self.poll = poll;
        self
    }

    /// What the driver declares.
    pub fn capabilities(&self) -> Capabilities {
        self.driver.capabilities()
    }

    async fn pause(&self) {
        self.clock
            .sleep_until(self.clock.now().plus(self.poll))
            .await;
    }

    /// `observe`, transient errors retried, every fleet invariant checked.
    async fn observe(&self, clause: &str) -> FleetState {
        let mut tries = 0;
        loop {
            match self.driver.observe(&self.target).await {
                Ok(fleet) => {
                    check_fleet(&fleet, clause);
                    return fleet;
                }
                Err(e) if e.is_transient() && tries < TRANSIENT_RETRIES => {
                    tries += 1;
                    self.pause().await;
                }
                Err(e) => panic!(
                    "driver contract ({clause}): observe {} failed: {e}",
                    self.target
                ),
            }
        }
    }

    /// `apply` that must succeed (transient errors retried: actions are idempotent).
    async fn apply(&self, action: &Action, clause: &str) {
        let mut tries = 0;
        loop {
            match self.driver.apply(&self.target, action).await {
                Ok(()) => return,
                Err(e) if e.is_transient() && tries < TRANSIENT_RETRIES => {
                    tries += 1;
                    self.pause().await;
                }
                Err(e) => panic!(
                    "driver contract ({clause}): {} on {} must succeed, failed: {e}",
                    action.describe(),
                    self.target
                ),
            }
        }
    }

    /// `apply` that must be refused with a permanent error and change nothing observable.
    async fn refused(&self, action: &Action, clause: &str) -> DriverError {
        let before = summary(&self.observe(clause).await);
        let mut tries = 0;
        let e = loop {
            match self.driver.apply(&self.target, action).await {
                Ok(()) => panic!(
                    "driver contract ({clause}): {} on {} was accepted; it must fail with a permanent error",
                    action.describe(),
                    self.target
                ),
                // A transient error may be a passing fault: ask again, as the engine would.
                Err(e) if e.is_transient() && tries < TRANSIENT_RETRIES => {
                    tries += 1;
                    self.pause().await;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(
            e.kind,
            ErrorKind::Permanent,
            "driver contract ({clause}): {} must fail permanently (retrying cannot help), got: {e}",
            action.describe()
        );
        let after = summary(&self.observe(clause).await);
        assert_eq!(
            before,
            after,
            "driver contract ({clause}): the refused {} changed the fleet (revision, desired, weight)",
            action.describe()
        );
        e
    }

    /// Polls `observe` until `done` holds, failing the check at the deadline.
    async fn wait_for(
        &self,
        clause: &str,
        what: &str,
        done: impl Fn(&FleetState) -> bool,
    ) -> FleetState {
        let start = self.clock.now();
        loop {
            let fleet = self.observe(clause).await;
            if done(&fleet) {
                return fleet;
            }
            assert!(
                self.clock.now().since(start) < self.deadline,
                "driver contract ({clause}): {what} not seen within {:?}; last observed: {fleet:?}",
                self.deadline
            );
            self.pause().await;
        }
    }

    /// Deploys `revision` with `replicas` and waits until all are ready.
    async fn deploy_ready(&self, revision: &Revision, replicas: u32, clause: &str) -> FleetState {
        self.apply(&deploy(revision, replicas), clause).await;
        let fleet = self.observe(clause).await;
        assert_eq!(
            fleet.desired_of(&revision.id),
            replicas,
            "driver contract (observe after apply): once deploy {} x{replicas} returned, observe must report {replicas} desired; observed: {fleet:?}",
            revision.id
        );
        self.wait_ready(&revision.id, replicas, clause).await
    }

    async fn wait_ready(&self, id: &RevisionId, replicas: u32, clause: &str) -> FleetState {
        self.wait_for(
            clause,
            &format!("{id} with {replicas} desired and {replicas} ready"),
            |f| f.desired_of(id) == replicas && f.ready_of(id) == replicas,
        )
        .await
    }

    /// Retires both revisions and waits until the target runs neither.
    async fn reset(&self) {
        let clause = "retire succeeds";
        for r in [&self.first, &self.second] {
            self.apply(
                &Action::Retire {
                    revision: r.id.clone(),
                },
                clause,
            )
            .await;
        }
        let (a, b) = (self.first.id.clone(), self.second.id.clone());
        self.wait_for(clause, &format!("{a} and {b} gone"), |f| {
            f.get(&a).is_none() && f.get(&b).is_none()
        })
        .await;
    }
}

fn deploy(revision: &Revision, replicas: u32) -> Action {
    Action::Deploy {
        revision: revision.clone(),
        replicas,
    }
}

fn route(pairs: &[(&RevisionId, u8)]) -> Action {
    Action::Route {
        weights: WeightSet(pairs.iter().map(|(r, w)| ((*r).clone(), *w)).collect()),
    }
}

/// What must not change when an action is refused: each revision's desired replicas and
/// weight (readiness may move on its own).
fn summary(fleet: &FleetState) -> Vec<(RevisionId, u32, u8)> {
    let mut s: Vec<_> = fleet
        .revisions
        .iter()
        .map(|r| (r.revision.clone(), r.desired, r.weight))
        .collect();
    s.sort();
    s
}

/// The invariants every observation keeps: each revision listed once, ready never above
/// desired, weights within 0..=100 and summing to 100 (or 0 when nothing takes traffic).
///
/// # Panics
/// Naming `clause` and the broken invariant.
pub fn check_fleet(fleet: &FleetState, clause: &str) {
    for (i, r) in fleet.revisions.iter().enumerate() {
        assert!(
            !fleet.revisions[..i].iter().any(|o| o.revision == r.revision),
            "driver contract (observe lists each revision once), during {clause}: {} is listed twice in {fleet:?}",
            r.revision
        );
        assert!(
            r.ready <= r.desired,
            "driver contract (ready never exceeds desired), during {clause}: {} has {} ready of {} desired in {fleet:?}",
            r.revision,
            r.ready,
            r.desired
        );
        assert!(
            r.weight <= 100,
            "driver contract (weights are percentages), during {clause}: {} has weight {} in {fleet:?}",
            r.revision,
            r.weight
        );
    }
    let total: u32 = fleet.revisions.iter().map(|r| u32::from(r.weight)).sum();
    assert!(
        total == 100 || total == 0,
        "driver contract (weights sum to 100, or 0 without traffic), during {clause}: they sum to {total} in {fleet:?}"
    );
}

/// Observe after apply: once `Deploy` returns, `observe` reports the desired replicas at
/// once; ready replicas reach them within the deadline and never exceed them; a lone ready
/// revision takes all the traffic.
pub async fn observe_after_deploy(c: &Conformance<'_>) {
    let clause = "observe after apply";
    c.reset().await;
    let fleet = c.deploy_ready(&c.first, c.replicas, clause).await;
    assert_eq!(
        fleet.weight_of(&c.first.id),
        100,
        "driver contract ({clause}): the only revision, fully ready, must take all the traffic; observed: {fleet:?}"
    );
    c.reset().await;
}

/// Deploy is idempotent: the same `Deploy` again, before and after readiness, leaves the
/// same revisions with the same desired replicas (no extra replicas) and the same weights.
pub async fn deploy_is_idempotent(c: &Conformance<'_>) {
    let clause = "deploy is idempotent";
    c.reset().await;
    let action = deploy(&c.first, c.replicas);
    c.apply(&action, clause).await;
    c.apply(&action, clause).await;
    let fleet = c.observe(clause).await;
    assert_eq!(
        fleet.desired_of(&c.first.id),
        c.replicas,
        "driver contract ({clause}): deploying {} x{} twice must leave {} desired; observed: {fleet:?}",
        c.first.id,
        c.replicas,
        c.replicas
    );
    let ready = c.wait_ready(&c.first.id, c.replicas, clause).await;
    c.apply(&action, clause).await;
    let again = c.observe(clause).await;
    assert_eq!(
        summary(&ready),
        summary(&again),
        "driver contract ({clause}): deploying {} x{} again changed the fleet (revision, desired, weight)",
        c.first.id,
        c.replicas
    );
    c.wait_ready(&c.first.id, c.replicas, clause).await;
    c.reset().await;
}

/// Scale sets the replica count of a deployed revision, up and down, idempotently.
pub async fn scale_sets_replicas(c: &Conformance<'_>) {
    let clause = "scale sets replicas";
    c.reset().await;
    c.deploy_ready(&c.first, c.replicas, clause).await;
    for n in [c.replicas + 1, c.replicas] {
        let action = Action::Scale {
            revision: c.first.id.clone(),
            replicas: n,
        };
        c.apply(&action, clause).await;
        c.apply(&action, clause).await;
        let fleet = c.observe(clause).await;
        assert_eq!(
            fleet.desired_of(&c.first.id),
            n,
            "driver contract ({clause}): once scale {} to {n} returned (twice), observe must report {n} desired; observed: {fleet:?}",
            c.first.id
        );
        c.wait_ready(&c.first.id, n, clause).await;
    }
    c.reset().await;
}

/// Route is observed back: with weighted traffic, a split summing to 100 is what `observe`
/// reports (a 0 weight for an absent revision is accepted and ignored, a revision the route
/// leaves out gets 0), applying it twice changes nothing, and retiring a revision whose
/// traffic was routed away leaves the others' weights. Skipped without `weighted_traffic`
/// and `side_by_side` ([`capabilities_are_honoured`] covers that case).
pub async fn route_is_observed(c: &Conformance<'_>) {
    let caps = c.capabilities();
    if !(caps.weighted_traffic && caps.side_by_side) {
        return;
    }
    let clause = "route is observed back";
    let (a, b) = (&c.first.id, &c.second.id);
    let absent = RevisionId::new(ABSENT_REVISION);
    c.reset().await;
    c.deploy_ready(&c.first, c.replicas, clause).await;
    c.deploy_ready(&c.second, c.replicas, clause).await;

    let split = route(&[(a, 70), (b, 30), (&absent, 0)]);
    for _ in 0..2 {
        c.apply(&split, clause).await;
        let fleet = c.observe(clause).await;
        assert_eq!(
            (
                fleet.weight_of(a),
                fleet.weight_of(b),
                fleet.weight_of(&absent)
            ),
            (70, 30, 0),
            "driver contract ({clause}): after {} observe must report {a}=70 {b}=30 and nothing for {absent}; observed: {fleet:?}",
            split.describe()
        );
    }

    let all_b = route(&[(b, 100)]);
    c.apply(&all_b, clause).await;
    let fleet = c.observe(clause).await;
    assert_eq!(
        (fleet.weight_of(a), fleet.weight_of(b)),
        (0, 100),
        "driver contract ({clause}): after {} the revision it leaves out must get 0; observed: {fleet:?}",
        all_b.describe()
    );

    c.apply(&route(&[(a, 100), (b, 0)]), clause).await;
    c.apply(
        &Action::Retire {
            revision: b.clone(),
        },
        clause,
    )
    .await;
    let fleet = c
        .wait_for(clause, &format!("{b} gone after retire"), |f| {
            f.get(b).is_none()
        })
        .await;
    assert_eq!(
        fleet.weight_of(a),
        100,
        "driver contract ({clause}): retiring {b} (routed to 0) must leave {a} its 100; observed: {fleet:?}"
    );
    c.reset().await;
}

/// Retire succeeds for a revision that was never deployed, removes a deployed one (it is
/// gone from `observe` within the deadline), and succeeds again once it is gone.
pub async fn retire_is_idempotent(c: &Conformance<'_>) {
    let clause = "retire succeeds and is idempotent";
    c.reset().await;
    let absent = RevisionId::new(ABSENT_REVISION);
    c.apply(&Action::Retire { revision: absent }, clause).await;
    c.deploy_ready(&c.first, c.replicas, clause).await;
    let retire = Action::Retire {
        revision: c.first.id.clone(),
    };
    c.apply(&retire, clause).await;
    let id = &c.first.id;
    c.wait_for(clause, &format!("{id} gone after retire"), |f| {
        f.get(id).is_none()
    })
    .await;
    c.apply(&retire, clause).await;
    let fleet = c.observe(clause).await;
    assert!(
        fleet.get(id).is_none(),
        "driver contract ({clause}): {id} came back after a second retire: {fleet:?}"
    );
    c.reset().await;
}

/// Errors are classified: actions that are wrong on their face (weights not summing to
/// 100, an empty revision id) or that name a revision the target does not run (`Scale` to
/// more than 0, a `Route` giving it traffic) fail with [`ErrorKind::Permanent`] and change
/// nothing observable.
pub async fn errors_are_classified(c: &Conformance<'_>) {
    let clause = "invalid actions fail permanently";
    let caps = c.capabilities();
    let absent = RevisionId::new(ABSENT_REVISION);
    c.reset().await;
    c.deploy_ready(&c.first, c.replicas, clause).await;
    c.refused(
        &Action::Scale {
            revision: absent.clone(),
            replicas: c.replicas,
        },
        clause,
    )
    .await;
    c.refused(&route(&[(&c.first.id, 90)]), clause).await;
    if caps.weighted_traffic {
        c.refused(&route(&[(&c.first.id, 50), (&absent, 50)]), clause)
            .await;
    }
    let mut nameless = c.first.clone();
    nameless.id = RevisionId::new("");
    c.refused(&deploy(&nameless, c.replicas), clause).await;
    let fleet = c.observe(clause).await;
    assert!(
        fleet.get(&absent).is_none() && fleet.get(&RevisionId::new("")).is_none(),
        "driver contract ({clause}): a refused action left a revision behind: {fleet:?}"
    );
    c.reset().await;
}

/// Capabilities are honoured: what the driver declares it cannot do (`Route` without
/// weighted traffic, `SetFlag` without feature flags, a second revision without side by
/// side) is refused with a permanent error and changes nothing; what it declares works.
pub async fn capabilities_are_honoured(c: &Conformance<'_>) {
    let clause = "capabilities are honoured";
    let caps = c.capabilities();
    c.reset().await;
    c.deploy_ready(&c.first, c.replicas, clause).await;
    if !caps.weighted_traffic {
        c.refused(&route(&[(&c.first.id, 100)]), clause).await;
    }
    let flag = Action::SetFlag {
        flag: "conformance".into(),
        percent: 25,
    };
    if caps.feature_flags {
        c.apply(&flag, clause).await;
        c.apply(&flag, clause).await;
        let fleet = c.observe(clause).await;
        assert_eq!(
            fleet.flags.get("conformance"),
            Some(&25),
            "driver contract ({clause}): with feature_flags, observe must report the flag {} set; observed: {fleet:?}",
            flag.describe()
        );
    } else {
        c.refused(&flag, clause).await;
    }
    if caps.side_by_side {
        c.deploy_ready(&c.second, c.replicas, clause).await;
        let fleet = c.observe(clause).await;
        assert_eq!(
            fleet.desired_of(&c.first.id),
            c.replicas,
            "driver contract ({clause}): with side_by_side, deploying {} must leave {} running; observed: {fleet:?}",
            c.second.id,
            c.first.id
        );
    } else {
        c.refused(&deploy(&c.second, c.replicas), clause).await;
    }
    c.reset().await;
}

/// Every check, in order, leaving the target with neither revision.
pub async fn run_all(c: &Conformance<'_>) {
    observe_after_deploy(c).await;
    deploy_is_idempotent(c).await;
    scale_sets_replicas(c).await;
    route_is_observed(c).await;
    retire_is_idempotent(c).await;
    errors_are_classified(c).await;
    capabilities_are_honoured(c).await;
}
