//! The `tracing` spans a run opens: one `rollout` span for the whole run (started or
//! resumed, through an `Engine` or a `Runner`), naming the rollout, and a `step` span per
//! step inside it.

#![allow(clippy::unwrap_used)]
use shipcore::prelude::*;
use shipcore::testing::SimWorld;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// A span as the subscriber saw it: its name, its fields as recorded (at creation or
/// later), and its parent's name.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: String,
    fields: BTreeMap<String, String>,
    parent: Option<String>,
}

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(u64, Seen)>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").replace('"', ""),
        );
    }
}

impl<S> Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut seen = Seen {
            name: attrs.metadata().name().to_string(),
            parent: ctx
                .span(id)
                .and_then(|s| s.parent())
                .map(|p| p.name().to_string()),
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        self.0.lock().unwrap().push((id.into_u64(), seen));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, seen)) = spans.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }
}

impl Spans {
    fn named(&self, name: &str) -> Vec<Seen> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

/// Spans opened on this thread from now until the guard drops.
fn capture() -> (Spans, tracing::subscriber::DefaultGuard) {
    let spans = Spans::default();
    let guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    (spans, guard)
}

fn spec(world: &SimWorld) -> RolloutSpec {
    let target = Target::new("web", "production");
    let v1 = Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1");
    let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2");
    world.driver.seed_stable(&target, &v1, 1);
    let plan = Plan {
        strategy: "blue_green".into(),
        replicas: 1,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 1,
            },
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Default::default(),
            },
        ],
    };
    RolloutSpec::new("web-2", target, Some(v1), v2, plan)
}

#[tokio::test(flavor = "current_thread")]
async fn an_engine_run_has_one_rollout_span_with_its_steps_inside() {
    let (spans, _guard) = capture();
    let world = SimWorld::new(1);
    let engine = Engine::builder(world.driver_arc(), world.clock_arc()).build();
    let journal = Arc::new(MemoryJournal::new());
    let report = engine
        .start(spec(&world), journal.clone())
        .unwrap()
        .finished()
        .await
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);

    let rollouts = spans.named("rollout");
    assert_eq!(rollouts.len(), 1, "{rollouts:?}");
    let r = &rollouts[0];
    assert_eq!(r.fields["id"], "web-2");
    assert_eq!(r.fields["service"], "web");
    assert_eq!(r.fields["env"], "production");
    assert_eq!(r.parent, None, "the engine's task adds no span around it");
    let steps = spans.named("step");
    assert_eq!(steps.len(), 3, "{steps:?}");
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step.fields["index"], i.to_string());
        assert_eq!(step.parent.as_deref(), Some("rollout"));
    }

    // Resumed: a second `rollout` span, told the rollout's id once the journal is read.
    let resumed = engine.resume(journal).unwrap().finished().await.unwrap();
    assert_eq!(resumed.status.phase, Phase::Succeeded);
    let rollouts = spans.named("rollout");
    assert_eq!(rollouts.len(), 2, "{rollouts:?}");
    let r = &rollouts[1];
    assert_eq!(r.fields["id"], "web-2");
    assert_eq!(r.fields["service"], "web");
    assert_eq!(r.fields["env"], "production");
    assert_eq!(r.fields["resumed"], "true");
}

#[tokio::test(flavor = "current_thread")]
async fn a_runner_opens_the_same_span_as_an_engine() {
    let (spans, _guard) = capture();
    let world = SimWorld::new(1);
    let mut runner = Runner::builder(
        world.driver_arc(),
        world.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .build();
    let report = runner.start(spec(&world)).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    let rollouts = spans.named("rollout");
    assert_eq!(rollouts.len(), 1, "{rollouts:?}");
    assert_eq!(rollouts[0].fields["id"], "web-2");
    assert_eq!(spans.named("step").len(), 3);
}
