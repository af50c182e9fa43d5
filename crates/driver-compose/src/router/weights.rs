//! From revision shares to per-endpoint proxy weights: each revision's share is split over
//! its ready endpoints, then scaled so the largest weight is the proxy's maximum, keeping
//! every positive share at weight 1 or more.

use super::RevisionRoute;
use std::net::SocketAddr;

/// Weights for every endpoint in `table`, at most `max` (HAProxy: 256). A revision with
/// share `p` and `n` ready endpoints gives each of its endpoints (ready or not) `p / n`
/// (`n` counts all its endpoints while none is ready), scaled; share 0 gives 0. Splits finer than `1/max` per endpoint (1% over ten endpoints
/// beside 99% on one) cannot be expressed: the small side keeps weight 1.
///
/// ```
/// use shipcore_driver_compose::router::{endpoint_weights, Endpoint, RevisionRoute};
/// use shipcore::model::RevisionId;
/// let ep = |p: u16| Endpoint { addr: ([127, 0, 0, 1], p).into(), ready: true };
/// let table = [
///     RevisionRoute { revision: RevisionId::new("v1"), share: 90, endpoints: vec![ep(1), ep(2), ep(3)] },
///     RevisionRoute { revision: RevisionId::new("v2"), share: 10, endpoints: vec![ep(4)] },
/// ];
/// let w = endpoint_weights(&table, 256);
/// // v1: 30 per endpoint, v2: 10 → scaled so 30 → 256.
/// assert_eq!(w.iter().map(|(_, w)| *w).collect::<Vec<_>>(), [256, 256, 256, 85]);
/// ```
pub fn endpoint_weights(table: &[RevisionRoute], max: u32) -> Vec<(SocketAddr, u32)> {
    let per = |r: &RevisionRoute| {
        let ready = r.endpoints.iter().filter(|e| e.ready).count();
        // Split over the ready endpoints; over all of them while none is known ready.
        let n = if ready > 0 { ready } else { r.endpoints.len() }.max(1);
        f64::from(r.share) / n as f64
    };
    let top = table.iter().map(per).fold(0.0_f64, f64::max);
    let mut out = Vec::new();
    for r in table {
        let w = if r.share == 0 || top <= 0.0 {
            0
        } else {
            ((per(r) / top) * f64::from(max))
                .round()
                .clamp(1.0, f64::from(max)) as u32
        };
        out.extend(r.endpoints.iter().map(|e| (e.addr, w)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Endpoint;
    use super::*;
    use shipcore::model::RevisionId;

    fn route(rev: &str, share: u8, ready: usize, total: usize, base: u16) -> RevisionRoute {
        RevisionRoute {
            revision: RevisionId::new(rev),
            share,
            endpoints: (0..total)
                .map(|i| Endpoint {
                    addr: ([127, 0, 0, 1], base + i as u16).into(),
                    ready: i < ready,
                })
                .collect(),
        }
    }

    /// Share of traffic each revision gets when only ready endpoints take it.
    fn effective(table: &[RevisionRoute], w: &[(SocketAddr, u32)]) -> Vec<f64> {
        let weight_of =
            |a: &SocketAddr| w.iter().find(|(x, _)| x == a).map(|(_, w)| *w).unwrap_or(0);
        let sums: Vec<u32> = table
            .iter()
            .map(|r| {
                r.endpoints
                    .iter()
                    .filter(|e| e.ready)
                    .map(|e| weight_of(&e.addr))
                    .sum()
            })
            .collect();
        let total: u32 = sums.iter().sum();
        sums.iter()
            .map(|s| 100.0 * f64::from(*s) / f64::from(total))
            .collect()
    }

    #[test]
    fn shares_are_kept_within_a_percent_over_many_splits() {
        for p in [1u8, 5, 10, 25, 33, 50, 67, 90, 99] {
            for (n1, n2) in [(1, 1), (3, 1), (1, 3), (3, 3), (5, 2), (10, 1)] {
                let table = [
                    route("v1", 100 - p, n1, n1, 1000),
                    route("v2", p, n2, n2, 2000),
                ];
                let w = endpoint_weights(&table, 256);
                assert!(w.iter().all(|(_, w)| *w >= 1 && *w <= 256));
                let eff = effective(&table, &w);
                let per = [f64::from(100 - p) / n1 as f64, f64::from(p) / n2 as f64];
                let spread = per[0].max(per[1]) / per[0].min(per[1]);
                if spread <= 128.0 {
                    assert!(
                        (eff[1] - f64::from(p)).abs() < 1.0,
                        "p={p} n=({n1},{n2}) got {eff:?} from {w:?}"
                    );
                } else {
                    // Beyond HAProxy's 1..256 resolution the small side keeps weight 1.
                    assert!(w.iter().any(|(_, w)| *w == 1), "p={p} n=({n1},{n2}): {w:?}");
                    assert!(
                        eff[0] > 0.0 && eff[1] > 0.0,
                        "both revisions still get traffic: {eff:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_share_is_zero_weight_and_unready_endpoints_get_the_ready_split() {
        let table = [route("v1", 100, 2, 3, 1000), route("v2", 0, 1, 1, 2000)];
        let w = endpoint_weights(&table, 256);
        assert_eq!(
            w.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
            [256, 256, 256, 0]
        );
        assert!(endpoint_weights(&[route("v1", 0, 1, 1, 1)], 256)
            .iter()
            .all(|(_, w)| *w == 0));
        assert!(endpoint_weights(&[], 256).is_empty());
        // None ready yet: the share is split over all of them.
        let table = [route("v1", 75, 0, 2, 1000), route("v2", 25, 0, 1, 2000)];
        let w: Vec<u32> = endpoint_weights(&table, 256)
            .iter()
            .map(|(_, w)| *w)
            .collect();
        assert_eq!(w, [256, 256, 171]);
    }
}
