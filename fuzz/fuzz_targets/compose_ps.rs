//! `docker compose ps --format json` output (lines of objects or one array): parsing and
//! every accessor the driver uses must answer, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipcore_driver_compose::internals::parse_ps;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(containers) = parse_ps(&text) else {
        return;
    };
    for c in &containers {
        let _ = c.revision_of("web");
        let _ = c.artifact();
        let _ = c.number();
        let _ = c.is_running();
        for p in &c.publishers {
            let _ = c.published(p.target_port);
        }
        let _ = c.published(8080);
    }
});
