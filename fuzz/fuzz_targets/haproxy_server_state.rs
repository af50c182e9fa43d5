//! HAProxy runtime API answers: `show servers state <backend>`, then `show stat` CSV, then
//! the backend name, separated by NUL bytes. Parsing must answer, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let state = parts.next().unwrap_or("");
    let stat = parts.next().unwrap_or("");
    let backend = parts.next().unwrap_or("web");
    if let Ok(slots) =
        shipcore_driver_compose::router::fuzz_parse_servers_state(state, stat, backend)
    {
        let _ = format!("{slots:?}");
    }
});
