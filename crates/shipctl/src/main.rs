//! `shipctl`: see `shipctl --help` and the crate docs.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(shipctl::cli::main())
}
