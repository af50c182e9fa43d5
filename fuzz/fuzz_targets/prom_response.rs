//! Prometheus HTTP API answers: the first byte picks the HTTP status, the rest is the
//! body. Classifying must answer (a result or an error of some kind), never panic; reading
//! values out of a result must too.
#![no_main]

use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 12] = [200, 204, 206, 302, 400, 401, 403, 404, 422, 429, 500, 503];

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(first) % STATUSES.len()];
    let body = String::from_utf8_lossy(body);
    match metrics_prom::fuzz_interpret(status, &body) {
        Ok(result) => {
            let _ = result.single_value();
            let _ = result.all_values();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
