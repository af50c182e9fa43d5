//! `shipctl completions SHELL`: scripts every shell accepts, naming every command.
#![allow(clippy::unwrap_used)]

fn completions(shell: &str) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("shipctl")
        .unwrap()
        .args(["completions", shell])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

const COMMANDS: [&str; 15] = [
    "plan",
    "run",
    "schema",
    "status",
    "promote",
    "abort",
    "pause",
    "resume",
    "retry",
    "history",
    "report",
    "approve",
    "completions",
    "version",
    "next",
];

#[test]
fn bash_completions_name_every_command_and_bash_accepts_the_script() {
    let (code, script) = completions("bash");
    assert_eq!(code, Some(0));
    for cmd in COMMANDS {
        assert!(
            script.contains(&format!("shipctl__{cmd}")) || script.contains(&format!("__{cmd})")),
            "bash completions do not mention {cmd}"
        );
    }
    assert!(script.contains("--state-dir") && script.contains("--tag"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipctl.bash");
    std::fs::write(&path, &script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "bash -n refused the script: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Sourced, it registers the completion function for shipctl.
    let sourced = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p shipctl", path.display()))
        .output()
        .unwrap();
    let registered = String::from_utf8_lossy(&sourced.stdout);
    assert!(registered.contains("shipctl"), "{registered}");
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_shell_is_bad_input() {
    for (shell, marker) in [
        ("zsh", "#compdef shipctl"),
        ("fish", "complete -c shipctl"),
        ("elvish", "edit:completion:arg-completer[shipctl]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, script) = completions(shell);
        assert_eq!(code, Some(0), "{shell}");
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        assert!(script.contains("promote"), "{shell}");
    }
    let (code, _) = completions("tcsh");
    assert_eq!(code, Some(2));
}
