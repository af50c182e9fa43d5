//! The demo-service binary: parses flags and environment, binds, prints
//! `listening on IP:PORT`, serves until killed (or until `--crash-after-s`).

use demo_service::config::{Command, Config, USAGE};
use demo_service::server;
use std::io::Write;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cfg = match Config::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(Command::Run(c)) => c,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("demo-service: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let listener = match server::bind(&cfg).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "demo-service: cannot listen on {}:{}: {e}",
                cfg.bind, cfg.port
            );
            std::process::exit(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => {
            eprintln!("demo-service: no local address: {e}");
            std::process::exit(1);
        }
    }
    let _ = std::io::stdout().flush();
    if let Some(after) = cfg.crash_after {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            eprintln!(
                "demo-service: crashing as asked (--crash-after-s {})",
                after.as_secs_f64()
            );
            std::process::exit(3);
        });
    }
    let state = Arc::new(server::State::new(cfg));
    tokio::select! {
        _ = server::serve(listener, state) => {}
        _ = shutdown_signal() => eprintln!("demo-service: stopping on signal"),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
