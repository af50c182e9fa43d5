//! The binary on the simulator: real rollouts through `shipctl run`, exit codes, errors
//! pointing into the file, snapshots of `--help`, a plan and an error, and every example
//! file planned so none can rot.
#![allow(clippy::unwrap_used)]

mod common;
use common::{example, examples_dir, shipctl, snapshot};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn a_good_canary_succeeds_with_exit_code_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path())
        .arg("run")
        .arg(example("canary.yaml"))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("step 10: promote candidate"), "{stdout}");
    assert!(
        stdout.contains("rollout checkout-1.5.0: succeeded (all steps completed); exit code 0"),
        "{stdout}"
    );
    // Resume reads a copy of the file; relative paths stay relative to the original's folder.
    let base =
        std::fs::read_to_string(dir.path().join("rollouts/checkout-1.5.0/base_dir")).unwrap();
    assert_eq!(
        std::path::Path::new(&base).canonicalize().unwrap(),
        examples_dir().canonicalize().unwrap()
    );
    // The record and the journal are in the state directory.
    assert!(dir.path().join("records/checkout-1.5.0.json").exists());
    assert!(dir
        .path()
        .join("rollouts/checkout-1.5.0/journal.jsonl")
        .exists());
}

#[test]
fn a_bad_canary_rolls_back_with_exit_code_1_and_prints_the_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path())
        .arg("run")
        .arg(example("canary-bad.yaml"))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("ROLLING BACK: analysis failed"), "{stdout}");
    assert!(
        stdout.contains("-> route checkout-1.4.0=100% checkout-1.5.0=0%"),
        "{stdout}"
    );
    assert!(stdout.contains("-> retire checkout-1.5.0"), "{stdout}");
    assert!(stdout.contains("finished: rolled_back"), "{stdout}");
    assert!(stdout.contains("checkout-1.4.0           4 ready of 4 desired, 100% of traffic"));
    let record =
        std::fs::read_to_string(dir.path().join("records/checkout-1.5.0-bad.json")).unwrap();
    assert!(record.contains("\"rolled_back\""), "{record}");
}

const BAD_WEIGHT: &str = "\
target: {service: web, environment: production}
stable: {version: 1.0.0, artifact: web:1}
candidate: {version: 2.0.0, artifact: web:2}
replicas: 4
strategy:
  canary:
    steps:
      - set_weight: 10
      - pause: 1m
      - set_weight: 150
";

#[test]
fn a_bad_file_exits_2_naming_file_line_column_and_field_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rollout.yaml");
    std::fs::write(&file, BAD_WEIGHT).unwrap();
    let state = dir.path().join("state");
    let out = shipctl(&state).arg("run").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr).replace(&file.display().to_string(), "rollout.yaml");
    assert_eq!(
        stderr,
        "shipctl: rollout.yaml:10:21: strategy.canary.steps[2].set_weight: 150 is not within 1..=100\n"
    );
    snapshot("error-weight.txt", &stderr);
    assert!(!state.exists(), "nothing may be started or written");
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn unknown_fields_are_errors_naming_the_field_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    for (yaml, want) in [
        (
            BAD_WEIGHT.replace("    steps:", "    stepz:"),
            ":7:5: strategy.canary.stepz: unknown field `stepz`",
        ),
        (
            format!("{BAD_WEIGHT}replicaz: 3\n"),
            ":11:1: replicaz: unknown field `replicaz`",
        ),
        // Inside a tagged configuration (a gate), the key itself is pointed at.
        (
            format!("{BAD_WEIGHT}gates:\n  - type: file\n    name: runbook\n    pth: RUNBOOK.md\n"),
            ":14:5: gates[0].pth: unknown field `pth`",
        ),
        (
            BAD_WEIGHT.replace("version: 2.0.0", "version: two"),
            ":3:22: candidate.version: unexpected character",
        ),
    ] {
        std::fs::write(&file, &yaml).unwrap();
        let out = shipctl(&dir.path().join("s"))
            .arg("plan")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{yaml}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(want), "{stderr} lacks {want}");
    }
}

fn good() -> String {
    BAD_WEIGHT.replace("150", "50")
}

#[test]
fn library_checks_are_placed_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    for (yaml, want) in [
        // A gate's value, checked by shipcore's GateConfig::build.
        (
            format!(
                "{}gates:\n  - type: command\n    name: t\n    program: \"\"\n",
                good()
            ),
            ":14:14: gates[0].program:",
        ),
        // A validator named by a step but not defined.
        (
            good().replace("- pause: 1m", "- analysis: {validators: [nope]}"),
            "validator \"nope\" is not defined under `validators`",
        ),
        (
            good().replace("replicas: 4", "replicas: 4\nid: ../x"),
            ":5:5: id:",
        ),
        // The names ids are made of are named themselves, not the id made from them.
        (
            good().replace("service: web,", "service: 'web app',"),
            ":1:19: target.service: \"web app\" must start",
        ),
        // The strategy's plan context is the file's top level.
        (
            good().replace("replicas: 4", "replicas: 0"),
            ":4:11: replicas: must be at least 1",
        ),
        (
            good().replace(
                "version: 1.0.0, artifact: web:1",
                "version: 2.0.0, artifact: web:2",
            ),
            ":3:12: candidate: revision web-2.0.0 is already the stable revision",
        ),
    ] {
        std::fs::write(&file, &yaml).unwrap();
        let out = shipctl(&dir.path().join("s"))
            .arg("plan")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{yaml}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(want), "{stderr} lacks {want}");
    }
}

#[test]
fn help_lists_the_commands_and_the_exit_codes() {
    let out = assert_cmd::Command::cargo_bin("shipctl")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    snapshot("help.txt", &text(&out.stdout));
}

#[test]
fn plan_prints_steps_and_rollback_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path())
        .arg("plan")
        .arg(example("canary.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    snapshot("plan-canary.txt", &text(&out.stdout));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "plan wrote to the state dir"
    );

    // After a run, the simulator's platform is on disk: plan leaves it byte for byte.
    let run = shipctl(dir.path())
        .arg("run")
        .arg(example("canary-bad.yaml"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let sim = dir.path().join("sim.json");
    let before = std::fs::read(&sim).unwrap();
    let out = shipctl(dir.path())
        .arg("plan")
        .arg(example("canary.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout)
        .contains("checkout-1.4.0           4 ready of 4 desired, 100% of traffic"));
    assert_eq!(
        std::fs::read(&sim).unwrap(),
        before,
        "plan changed the platform"
    );
}

#[test]
fn every_example_file_parses_and_plans() {
    let mut n = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        n += 1;
        let dir = tempfile::tempdir().unwrap();
        let out = shipctl(dir.path()).arg("plan").arg(&path).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        assert!(text(&out.stdout).contains("Dry run: nothing was applied."));
    }
    assert!(n >= 7, "only {n} example files");
}

/// Files for a driver behind a cargo feature (in a folder named after it) parse everywhere;
/// a shipctl built without that driver refuses to plan them with exit 2, saying which
/// feature to build with. With the feature, tests/e2e_k8s.rs plans the `k8s` ones on the
/// driver's fake apiserver; the `ecs` ones need AWS or moto (tests/e2e_ecs.rs), the
/// `compose` ones a container engine (tests/e2e_compose.rs).
#[test]
fn feature_gated_example_files_parse_and_name_their_feature() {
    let mut n = 0;
    for (driver, built) in [
        ("k8s", cfg!(feature = "k8s")),
        ("ecs", cfg!(feature = "ecs")),
        ("compose", cfg!(feature = "compose")),
    ] {
        for entry in std::fs::read_dir(examples_dir().join(driver)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml")
                || path.file_name().unwrap() == "compose.yaml"
            {
                continue;
            }
            n += 1;
            let loaded = shipctl::file::Loaded::read(&path).unwrap();
            assert_eq!(loaded.file.driver.name(), driver, "{}", path.display());
            if built {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let out = shipctl(dir.path()).arg("plan").arg(&path).output().unwrap();
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
            assert!(
                stderr.contains(&format!(": driver.{driver}: "))
                    && stderr.contains(&format!("`--features {driver}`")),
                "{}: {stderr}",
                path.display()
            );
        }
    }
    assert!(n >= 4, "only {n} feature-gated example files");
}

#[test]
fn json_output_is_one_event_per_line_then_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path())
        .args(["--output", "json", "run"])
        .arg(example("canary-bad.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines[0]["event"], "started");
    assert!(lines.iter().any(|l| l["event"] == "rollback_started"));
    let last = lines.last().unwrap();
    assert_eq!(last["shipctl"], "finished");
    assert_eq!(last["phase"], "rolled_back");
    assert_eq!(last["exit_code"], 1);
}

#[test]
fn no_color_and_pipes_get_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path())
        .arg("run")
        .arg(example("canary-bad.yaml"))
        .output()
        .unwrap();
    assert!(!text(&out.stdout).contains('\x1b'));
}

#[test]
fn schema_is_json_schema_of_the_file() {
    let out = assert_cmd::Command::cargo_bin("shipctl")
        .unwrap()
        .arg("schema")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["$schema"].as_str().unwrap().contains("json-schema.org"));
    assert!(v["properties"]["strategy"].is_object());
}

#[test]
fn control_commands_without_a_run_say_so_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path())
        .args(["promote", "web-9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no shipctl run is listening for rollout web-9"),
        "{stderr}"
    );
    let out = shipctl(dir.path())
        .args(["abort", "../etc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a rollout id"));
}

#[test]
fn a_blocking_gate_exits_4_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    std::fs::write(
        &file,
        format!(
            "{}gates:\n  - {{type: command, name: tests-green, program: \"false\"}}\n",
            good()
        ),
    )
    .unwrap();
    let state = dir.path().join("s");
    let out = shipctl(&state).arg("run").arg(&file).output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("gate tests-green: BLOCKED"), "{stdout}");
    assert!(stdout.contains("web-1.0.0                4 ready of 4 desired, 100% of traffic"));
    assert!(!stdout.contains("-> deploy web-2.0.0"), "{stdout}");
}

#[test]
fn a_frozen_rollout_stops_the_run_with_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    let yaml = std::fs::read_to_string(example("recreate.yaml")).unwrap()
        + "driver: {sim: {candidate_failures: [{failure: crash_loop}]}}\n";
    std::fs::write(&file, yaml).unwrap();
    let out = shipctl(&dir.path().join("s"))
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("rollout ledger-worker-5.1.0: frozen"),
        "{stdout}"
    );
}

#[test]
fn the_compose_example_parses_and_names_the_feature_it_needs() {
    // The Compose e2e run's file (tests/e2e_compose.rs runs it on real parts).
    let e2e =
        shipctl::file::Loaded::read(&examples_dir().join("compose/rolling-haproxy.yaml")).unwrap();
    match &e2e.file.driver {
        shipctl::file::DriverFile::Compose(c) => {
            assert_eq!(
                c.compose_bin.as_deref(),
                Some(std::path::Path::new("docker-compose"))
            );
            assert_eq!(c.haproxy.as_ref().unwrap().backend, "app");
        }
        other => panic!("not compose: {}", other.name()),
    }
    let path = examples_dir().join("compose/rollout.yaml");
    let loaded = shipctl::file::Loaded::read(&path).unwrap();
    assert_eq!(loaded.file.driver.name(), "compose");
    if cfg!(feature = "compose") {
        return; // planning needs a running Compose (scripts/ci/e2e-compose.sh)
    }
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path()).arg("plan").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(":27:5: driver.compose: this shipctl was built without the Compose driver"),
        "{stderr}"
    );
}

#[test]
fn a_prometheus_source_is_configured_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    let with = |url: &str| {
        format!(
            "{}validators:\n  - {{type: metric_threshold, name: errors, query: 'rate(x[1m])', critical: 0.05}}\n\
             metrics:\n  prometheus:\n    url: {url}\n    timeout: 5s\n",
            good().replace("- pause: 1m", "- analysis: {validators: [errors]}")
        )
    };
    // Planning queries nothing: a source that is not running is fine.
    std::fs::write(&file, with("http://127.0.0.1:9")).unwrap();
    let out = shipctl(&dir.path().join("s"))
        .arg("plan")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Credentials in the URL are refused by metrics-prom, at the field.
    std::fs::write(&file, with("http://user:secret@127.0.0.1:9")).unwrap();
    let out = shipctl(&dir.path().join("s"))
        .arg("plan")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(":15:10: metrics.prometheus.url:"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn history_and_report_read_the_records_of_earlier_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path()).arg("history").output().unwrap();
    assert!(text(&out.stdout).contains("no deployments recorded"));
    for f in ["canary-bad.yaml", "canary.yaml", "rolling.yaml"] {
        shipctl(dir.path())
            .arg("run")
            .arg(example(f))
            .output()
            .unwrap();
    }
    let out = shipctl(dir.path())
        .args(["history", "--service", "checkout"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = text(&out.stdout);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows[0].starts_with("ID "));
    assert!(table.contains("checkout-1.5.0-bad"), "{table}");
    assert!(table.contains("rolled_back"), "{table}");
    assert!(!table.contains("api-3.2.0"), "{table}");

    let out = shipctl(dir.path())
        .args(["report", "checkout-1.5.0-bad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(
        md.starts_with("# Ship report: checkout 1.5.0 to production"),
        "{md}"
    );
    assert!(md.contains("## Comparison per phase"), "{md}");
    assert!(
        md.contains("# DEPLOY.md: checkout 1.5.0 to production"),
        "{md}"
    );

    let out = shipctl(dir.path())
        .args(["report", "api-3.2.0", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["previousVersion"], "3.1.0");

    // The page a person opens: the timeline of the rolled-back canary, from its journal.
    let out = shipctl(dir.path())
        .args(["report", "checkout-1.5.0-bad", "--format", "html"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("checkout 1.5.0 to production"));
    assert!(page.contains(r#"id="lane-weights""#), "the traffic lane");
    assert!(
        page.contains(r#"id="marker-rollback-1""#),
        "the rollback marker"
    );
    assert!(
        page.contains(r#"class="threshold threshold-critical""#),
        "a threshold"
    );
    assert!(!page.contains("<script"), "no JavaScript");

    let out = shipctl(dir.path())
        .args(["history", "--html"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(page.contains(r#"id="dora-table""#), "{page}");
    for id in ["checkout-1.5.0-bad", "checkout-1.5.0", "api-3.2.0"] {
        assert!(
            page.contains(&format!(r#"href="{id}.html""#)),
            "{id}: {page}"
        );
    }

    let out = shipctl(dir.path())
        .args(["report", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no record of rollout nope"));
}

#[test]
fn a_state_dir_too_deep_for_a_socket_is_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("d".repeat(90));
    let out = shipctl(&deep)
        .arg("run")
        .arg(example("canary.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("more than the 107 a Unix socket path may have"),
        "{stderr}"
    );
    assert!(
        !text(&out.stdout).contains("started"),
        "{}",
        text(&out.stdout)
    );
    assert!(!deep.exists(), "the state directory was written");
}

#[test]
fn the_simulated_drivers_capabilities_are_the_files_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    // Without router weights, a canary is a replica-ratio canary...
    std::fs::write(
        &file,
        format!("{}driver: {{sim: {{weighted_traffic: false}}}}\n", good()),
    )
    .unwrap();
    let out = shipctl(dir.path()).arg("run").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("-> route"),
        "{}",
        text(&out.stdout)
    );
    // ...and the next file, which does not say so, has them again.
    let next = good()
        .replace(
            "stable: {version: 1.0.0, artifact: web:1}",
            "stable: observed",
        )
        .replace(
            "{version: 2.0.0, artifact: web:2}",
            "{version: 3.0.0, artifact: web:3}",
        );
    std::fs::write(&file, next).unwrap();
    let out = shipctl(dir.path()).arg("plan").arg(&file).output().unwrap();
    let plan = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        plan.contains("driver capabilities: weighted_traffic"),
        "{plan}"
    );
    // `observed` found 2.0.0 serving, with its version and artifact from the first run.
    assert!(
        plan.contains("stable:    web-2.0.0 (version 2.0.0, artifact web:2)"),
        "{plan}"
    );
}

/// The steps section of `shipctl plan` for `yaml`, or the exit code and stderr.
fn plan_steps(yaml: &str) -> Result<String, (Option<i32>, String)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = shipctl(&dir.path().join("s"))
        .arg("plan")
        .arg(&file)
        .output()
        .unwrap();
    if out.status.code() != Some(0) {
        return Err((
            out.status.code(),
            text(&out.stderr).replace(&file.display().to_string(), "r.yaml"),
        ));
    }
    let stdout = text(&out.stdout);
    let start = stdout.find("steps (").unwrap();
    let end = stdout.find("on failure").unwrap();
    Ok(stdout[start..end].to_string())
}

const SEVERITY_CANARY: &str = "\
target: {service: web, environment: production}
stable: {version: 1.0.0, artifact: web:1}
candidate: {version: 2.0.0, artifact: web:2}
replicas: 4
strategy:
  canary:
    steps:
      - set_weight: 10
      - pause: 2m
      - set_weight: 50
      - analysis: {validators: [error-rate], policy: {interval: 1m, count: 3}}
validators:
  - {type: metric_threshold, name: error-rate, query: 'error_rate{revision=\"{{revision}}\"}', critical: 0.05}
monitoring: {validators: [error-rate]}
";

#[test]
fn severity_presets_pace_each_phase_and_watch_after_the_rollout() {
    for (severity, pause, count) in [("P0", "10m", 60), ("P1", "15m", 240), ("P2", "30m", 1440)] {
        let steps = plan_steps(&format!("{SEVERITY_CANARY}severity: {severity}\n")).unwrap();
        let lines: Vec<&str> = steps.lines().skip(1).map(str::trim).collect();
        assert_eq!(
            lines,
            [
                "1. scale candidate to 1",
                "2. set candidate weight 10%",
                // The file's own pause for this phase is kept.
                "3. pause 2m",
                "4. scale candidate to 2",
                "5. set candidate weight 50%",
                "6. analysis [error-rate] x3 every 1m",
                // The preset's pause ends the judged 50% phase.
                &format!("7. pause {pause}"),
                "8. scale candidate to 4",
                "9. promote candidate (all traffic)",
                // The preset's post-deploy monitoring: its window, every minute.
                &format!("10. analysis [error-rate] x{count} every 1m"),
                "11. retire stable after 30s",
            ],
            "{severity}: {steps}"
        );
    }
    // Without a severity nothing is added, and the window must be given.
    let steps = plan_steps(&SEVERITY_CANARY.replace(
        "monitoring: {validators: [error-rate]}",
        "monitoring: {validators: [error-rate], window: 30m}",
    ))
    .unwrap();
    assert!(
        !steps.contains("pause 1") && !steps.contains("pause 3"),
        "{steps}"
    );
    assert!(
        steps.contains("analysis [error-rate] x30 every 1m"),
        "{steps}"
    );
    // A feature flag's percentages are phases too.
    let flag = plan_steps(&format!(
        "{}severity: P0\n",
        SEVERITY_CANARY.replace(
            "  canary:\n    steps:\n      - set_weight: 10\n      - pause: 2m\n      - set_weight: 50\n      - analysis: {validators: [error-rate], policy: {interval: 1m, count: 3}}\n",
            "  feature_flag: {flag: new-checkout, percentages: [20, 100]}\n"
        )
    ));
    match flag {
        Ok(steps) => assert!(steps.contains("pause 10m"), "{steps}"),
        Err((_, e)) => panic!("{e}"),
    }
}

#[test]
fn a_severity_without_monitoring_validators_is_refused_naming_the_field() {
    let yaml = format!(
        "{}severity: P1\n",
        SEVERITY_CANARY.replace("monitoring: {validators: [error-rate]}\n", "")
    );
    let (code, stderr) = plan_steps(&yaml).unwrap_err();
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains(
            "monitoring: missing: severity P1 watches the candidate for 4h after the rollout"
        ),
        "{stderr}"
    );
}
