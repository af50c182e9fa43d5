//! The demo service's settings, from command-line flags and environment variables (a flag
//! wins over its variable), so that a "good v1" and a "bad v2" are one binary run twice.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Usage text printed by `--help`.
pub const USAGE: &str = "\
demo-service: a small HTTP service for shipcore's examples and end-to-end tests

Routes: /health (JSON; 503 until ready), /metrics (Prometheus text), and the application
routes /, /api/items, /api/echo (faults below apply only to these).

Flags (environment variable in brackets; a flag wins):
  --bind IP             address to listen on [BIND] (default 127.0.0.1; 0.0.0.0 in containers)
  --port N              port, 0 = any free one [PORT] (default 8080)
  --version TEXT        version reported by /health and in the `version` label [VERSION] (default 1.0.0)
  --error-rate R        share of application requests answered 500, 0..1 or N% [ERROR_RATE] (default 0)
  --latency-ms N        added latency of application requests, ms [LATENCY_MS] (default 0)
  --ready-delay-s S     /health answers 503 \"starting\" for S seconds [READY_DELAY_S] (default 0)
  --crash-after-s S     exit with status 3 after S seconds [CRASH_AFTER_S] (default never)
  --faults-after-s S    errors and latency start only S seconds after start [FAULTS_AFTER_S] (default 0)
  --seed N              seed of the error draw [SEED] (default 1)
  --database-url URL    PostgreSQL database for /api/users [DATABASE_URL] (default none: no such route)
  --dependency NAME=STATUS   a dependency reported by /health, repeatable
                        [DEPENDENCIES=name=status,name=status] (any status but healthy makes /health 503)
  --help                this text

On start it prints one line `listening on IP:PORT` to standard output.";

/// Everything the service needs to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port (0: any free port; the chosen one is printed).
    pub port: u16,
    /// Version string for `/health` and the metrics' `version` label.
    pub version: String,
    /// Share of application requests answered with 500, in `0..=1`.
    pub error_rate: f64,
    /// Latency added to application requests.
    pub latency: Duration,
    /// `/health` answers 503 until this long after start.
    pub ready_delay: Duration,
    /// The process exits (status 3) this long after start.
    pub crash_after: Option<Duration>,
    /// Injected errors and latency start this long after start.
    pub faults_after: Duration,
    /// Seed of the error draw.
    pub seed: u64,
    /// Dependencies reported by `/health`: name → status.
    pub dependencies: BTreeMap<String, String>,
    /// The PostgreSQL database `/api/users` reads (`None`: the route does not exist).
    pub database_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            version: "1.0.0".into(),
            error_rate: 0.0,
            latency: Duration::ZERO,
            ready_delay: Duration::ZERO,
            crash_after: None,
            faults_after: Duration::ZERO,
            seed: 1,
            dependencies: BTreeMap::new(),
            database_url: None,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run the service.
    Run(Config),
    /// Print [`USAGE`].
    Help,
}

/// A flag or variable has a bad value; names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    /// The flag (or variable) at fault.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// The flags that take a value, with their environment variable.
const FLAGS: &[(&str, &str)] = &[
    ("--bind", "BIND"),
    ("--port", "PORT"),
    ("--version", "VERSION"),
    ("--error-rate", "ERROR_RATE"),
    ("--latency-ms", "LATENCY_MS"),
    ("--ready-delay-s", "READY_DELAY_S"),
    ("--crash-after-s", "CRASH_AFTER_S"),
    ("--faults-after-s", "FAULTS_AFTER_S"),
    ("--seed", "SEED"),
    ("--database-url", "DATABASE_URL"),
];

impl Config {
    /// Parses flags (without the program name) over environment variables read by `env`.
    ///
    /// ```
    /// use demo_service::config::{Command, Config};
    /// let args = ["--version", "2.0.0", "--error-rate", "10%"].map(String::from);
    /// let Command::Run(c) = Config::parse(args, |_| None).unwrap() else { panic!() };
    /// assert_eq!((c.version.as_str(), c.error_rate), ("2.0.0", 0.1));
    /// ```
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Command, ConfigError> {
        let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
        for (flag, var) in FLAGS {
            if let Some(v) = env(var) {
                values.insert(flag, v);
            }
        }
        let mut deps_from_flags: Vec<String> = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Ok(Command::Help);
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let known = FLAGS.iter().map(|(f, _)| *f).find(|f| *f == name);
            if known.is_none() && name != "--dependency" {
                return Err(bad(&arg, "unknown flag (see --help)"));
            }
            let value = match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(bad(&name, "needs a value")),
            };
            match known {
                Some(flag) => {
                    values.insert(flag, value);
                }
                None => deps_from_flags.push(value),
            }
        }
        let mut c = Config::default();
        for (flag, v) in &values {
            c.set(flag, v.trim())?;
        }
        let deps: Vec<String> = if deps_from_flags.is_empty() {
            env("DEPENDENCIES")
                .map(|s| {
                    s.split(',')
                        .filter(|p| !p.trim().is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            deps_from_flags
        };
        for d in deps {
            let (name, status) = d
                .split_once('=')
                .ok_or_else(|| bad("--dependency", format!("{d:?} is not NAME=STATUS")))?;
            if name.trim().is_empty() || status.trim().is_empty() {
                return Err(bad("--dependency", format!("{d:?} is not NAME=STATUS")));
            }
            c.dependencies
                .insert(name.trim().to_string(), status.trim().to_string());
        }
        Ok(Command::Run(c))
    }

    fn set(&mut self, flag: &str, v: &str) -> Result<(), ConfigError> {
        match flag {
            "--bind" => {
                self.bind = v
                    .parse()
                    .map_err(|_| bad(flag, format!("{v:?} is not an IP address")))?
            }
            "--port" => {
                self.port = v
                    .parse()
                    .map_err(|_| bad(flag, format!("{v:?} is not a port (0..65535)")))?
            }
            "--version" => {
                if v.is_empty() {
                    return Err(bad(flag, "must not be empty"));
                }
                self.version = v.to_string();
            }
            "--error-rate" => self.error_rate = parse_rate(flag, v)?,
            "--latency-ms" => {
                let ms: u64 = v
                    .parse()
                    .map_err(|_| bad(flag, format!("{v:?} is not a whole number of ms")))?;
                self.latency = Duration::from_millis(ms);
            }
            "--ready-delay-s" => self.ready_delay = parse_secs(flag, v)?,
            "--crash-after-s" => self.crash_after = Some(parse_secs(flag, v)?),
            "--faults-after-s" => self.faults_after = parse_secs(flag, v)?,
            "--seed" => {
                self.seed = v
                    .parse()
                    .map_err(|_| bad(flag, format!("{v:?} is not an unsigned integer")))?
            }
            "--database-url" => {
                if !v.starts_with("postgres://") && !v.starts_with("postgresql://") {
                    return Err(bad(flag, "must be a postgres:// URL"));
                }
                self.database_url = Some(v.to_string());
            }
            _ => return Err(bad(flag, "unknown flag")),
        }
        Ok(())
    }
}

fn parse_rate(flag: &str, v: &str) -> Result<f64, ConfigError> {
    let (num, scale) = match v.strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (v, 1.0),
    };
    let r: f64 = num
        .parse()
        .map_err(|_| bad(flag, format!("{v:?} is not a number or percentage")))?;
    let r = r / scale;
    if !(0.0..=1.0).contains(&r) {
        return Err(bad(flag, format!("{v:?} is outside 0..1 (0%..100%)")));
    }
    Ok(r)
}

fn parse_secs(flag: &str, v: &str) -> Result<Duration, ConfigError> {
    let s: f64 = v
        .parse()
        .map_err(|_| bad(flag, format!("{v:?} is not a number of seconds")))?;
    if !(0.0..=1e9).contains(&s) {
        return Err(bad(
            flag,
            format!("{v:?} must be between 0 and 1e9 seconds"),
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match Config::parse(args.iter().map(|s| s.to_string()), |k| env.get(k).cloned())? {
            Command::Run(c) => Ok(c),
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults_without_flags_or_env() {
        assert_eq!(run(&[], &[]).unwrap(), Config::default());
    }

    #[test]
    fn flags_win_over_environment() {
        let c = run(
            &[
                "--port",
                "9001",
                "--latency-ms=300",
                "--crash-after-s",
                "2.5",
            ],
            &[
                ("PORT", "9000"),
                ("VERSION", "2.0.0"),
                ("ERROR_RATE", "0.1"),
            ],
        )
        .unwrap();
        assert_eq!(c.port, 9001);
        assert_eq!(c.version, "2.0.0");
        assert_eq!(c.error_rate, 0.1);
        assert_eq!(c.latency, Duration::from_millis(300));
        assert_eq!(c.crash_after, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn dependencies_from_flags_or_env() {
        let c = run(
            &["--dependency", "db=healthy", "--dependency=cache=down"],
            &[],
        )
        .unwrap();
        assert_eq!(
            c.dependencies.get("cache").map(String::as_str),
            Some("down")
        );
        assert_eq!(c.dependencies.len(), 2);
        let c = run(&[], &[("DEPENDENCIES", "db=healthy, queue=healthy")]).unwrap();
        assert_eq!(
            c.dependencies.get("queue").map(String::as_str),
            Some("healthy")
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        let e = run(&["--error-rate", "150%"], &[]).unwrap_err();
        assert_eq!(e.field, "--error-rate");
        assert!(e.problem.contains("outside"), "{e}");
        assert_eq!(run(&["--port", "x"], &[]).unwrap_err().field, "--port");
        assert_eq!(
            run(&[], &[("BIND", "localhost")]).unwrap_err().field,
            "--bind"
        );
        assert_eq!(
            run(&["--ready-delay-s", "-1"], &[]).unwrap_err().field,
            "--ready-delay-s"
        );
        assert_eq!(run(&["--port"], &[]).unwrap_err().problem, "needs a value");
        assert_eq!(
            run(&["--frobnicate", "1"], &[]).unwrap_err().field,
            "--frobnicate"
        );
        assert_eq!(
            run(&["--dependency", "db"], &[]).unwrap_err().field,
            "--dependency"
        );
    }

    #[test]
    fn database_url_from_flag_or_env() {
        let c = run(&[], &[("DATABASE_URL", "postgres://app@127.0.0.1/app")]).unwrap();
        assert_eq!(
            c.database_url.as_deref(),
            Some("postgres://app@127.0.0.1/app")
        );
        assert_eq!(run(&[], &[]).unwrap().database_url, None);
        let e = run(&["--database-url", "mysql://x"], &[]).unwrap_err();
        assert_eq!(e.field, "--database-url");
    }

    #[test]
    fn help_is_a_command() {
        let got = Config::parse(["--help".to_string()], |_| None).unwrap();
        assert_eq!(got, Command::Help);
    }
}
