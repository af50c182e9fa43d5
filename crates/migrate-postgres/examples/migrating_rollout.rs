//! A rollout with an expand and a contract migration from a directory of `.sql` files,
//! journaled to a file, on the simulated fleet: what an engine process embedding the
//! directory migrator does. The kill -9 test of tests/rollout.rs runs it as the engine
//! process it kills in the middle of a migration (`cargo test` builds it).
//!
//!   cargo run -p shipcore-migrate-postgres --example migrating_rollout -- URL DIR
//!
//! `DIR/m` holds the migrations (`expand/`, `contract/`), `DIR/j` gets the journal.
#![allow(clippy::unwrap_used)]

use shipcore::engine::{RolloutSpec, Runner};
use shipcore::journal::FileJournal;
use shipcore::model::{Plan, Revision, Role, Step, Target};
use shipcore::testing::SimWorld;
use shipcore_migrate_postgres::PgDirConfig;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(dir)) = (args.next(), args.next()) else {
        eprintln!("usage: migrating_rollout DATABASE_URL DIR (DIR/m: migrations, DIR/j: journal)");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let target = Target::new("web", "production");
    let v1 = Revision::new("web-v1", "1.0.0".parse().unwrap(), "demo:1");
    let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "demo:2");
    let world = SimWorld::new(7);
    world.driver.seed_stable(&target, &v1, 2);
    let plan = Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::SetWeight { percent: 50 },
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Duration::from_secs(30),
            },
        ],
    }
    .with_expand("db")
    .with_contract("db");
    let spec = RolloutSpec::new("web-2", target, Some(v1), v2, plan);
    let migrator = PgDirConfig::new(&url, dir.join("m"))
        .name("db")
        .build()
        .unwrap();
    let journal = Arc::new(FileJournal::open(dir.join("j")).unwrap());
    let mut runner = Runner::builder(world.driver_arc(), world.clock_arc(), journal)
        .migrator(Arc::new(migrator))
        .build();
    let report = runner.start(spec).await.unwrap();
    println!("{}: {:?}", report.status.phase, report.status.reason);
}
