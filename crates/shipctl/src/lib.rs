//! shipctl
pub mod cli;
pub mod control;
pub mod exit;
pub mod file;
pub mod locate;
pub mod output;
pub mod plan;
pub mod run;
pub mod schema;
pub mod setup;
pub mod state;
