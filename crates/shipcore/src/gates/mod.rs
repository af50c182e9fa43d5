//! Concrete [`Gate`](crate::gate::Gate)s for the pre-rollout checklist and for checks inside a
//! rollout: a command, an HTTP endpoint, a file, manual approval, deploy windows and freezes,
//! and a per-service lock; plus [`check_all`] and the [`GateConfig`] that builds them.
//!
//! ```
//! use shipcore::gates::GateConfig;
//! let cfg: GateConfig = serde_json::from_str(
//!     r#"{"type": "file", "name": "runbook", "path": "RUNBOOK.md"}"#).unwrap();
//! let gate = cfg.build().unwrap();
//! assert_eq!(gate.name(), "runbook");
//! ```

mod approval;
mod checklist;
mod command;
mod config;
mod file;
mod file_lock;
mod http;
mod lock;
mod severity;
mod window;

pub use approval::{ApprovalConfig, ApprovalGate, TimeoutAction};
pub use checklist::{check_all, ChecklistEntry, ChecklistResult};
pub(crate) use command::kill_group;
pub use command::{
    CommandConfig, CommandGate, CommandRun, COMMAND_MAX_TAIL_BYTES, COMMAND_MAX_TIMEOUT,
};
pub use config::{ConfigError, GateConfig};
pub use file::{FileConfig, FileGate};
pub use file_lock::FileLock;
pub use http::{HttpConfig, HttpGate, JsonExpect};
pub use lock::{
    LockConfig, LockError, LockGate, LockHolder, LockKey, LockOutcome, Refresh, RolloutLock,
};
pub use severity::Severity;
pub use window::{
    DeployWindow, Freeze, FreezePeriod, Weekday, WindowConfig, WindowPreset, WindowRule,
};
