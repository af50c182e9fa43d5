//! Traffic weights between shipcore's percentages and an ALB forward action: a `Route` is
//! checked (sums to 100, names only deployed revisions, fits ALB's limits of weights 0..=999
//! and 5 target groups) before any call; weights read back are normalised to percent.

use shipcore::driver::DriverError;
use shipcore::model::{percentages, RevisionId, WeightSet};
use std::collections::BTreeMap;

/// ALB's largest target group weight.
pub const MAX_WEIGHT: i32 = 999;
/// ALB's most target groups in one forward action.
pub const MAX_TARGET_GROUPS: usize = 5;

/// The weights of a `Route` as ALB target group weights per deployed revision: revisions
/// with weight 0 are left out of the forward action (ALB then sends them nothing).
///
/// # Errors
/// Permanent, before anything is called: weights not summing to 100, a revision listed
/// twice, traffic for a revision that is not deployed, more than [`MAX_TARGET_GROUPS`]
/// revisions with traffic.
pub fn plan_route(
    weights: &WeightSet,
    deployed: &[RevisionId],
) -> Result<Vec<(RevisionId, i32)>, DriverError> {
    let op = "route";
    if weights.total() != 100 {
        return Err(DriverError::permanent(
            op,
            format!("weights must sum to 100, these sum to {}", weights.total()),
        ));
    }
    let mut out: Vec<(RevisionId, i32)> = Vec::new();
    for (i, (rev, w)) in weights.0.iter().enumerate() {
        if weights.0[..i].iter().any(|(r, _)| r == rev) {
            return Err(DriverError::permanent(op, format!("{rev} is listed twice")));
        }
        if *w == 0 {
            continue;
        }
        if !deployed.contains(rev) {
            return Err(DriverError::permanent(
                op,
                format!("{rev} gets {w}% but is not deployed on this target"),
            ));
        }
        out.push((rev.clone(), i32::from(*w)));
    }
    check_forward(&out).map_err(|m| DriverError::permanent(op, m))?;
    Ok(out)
}

/// ALB's own limits on a forward action: 1..=5 target groups, weights 0..=999.
///
/// # Errors
/// What breaks the limit.
pub fn check_forward<T: std::fmt::Display>(groups: &[(T, i32)]) -> Result<(), String> {
    if groups.len() > MAX_TARGET_GROUPS {
        return Err(format!(
            "{} target groups with traffic; an ALB forward action takes at most {MAX_TARGET_GROUPS}",
            groups.len()
        ));
    }
    if let Some((t, w)) = groups.iter().find(|(_, w)| !(0..=MAX_WEIGHT).contains(w)) {
        return Err(format!(
            "{t} has weight {w}; ALB weights are 0..={MAX_WEIGHT}"
        ));
    }
    Ok(())
}

/// Raw ALB weights as percentages summing to 100 (largest remainder, ties to the smaller
/// id), or all 0 when they sum to 0.
///
/// ```
/// use shipcore::model::RevisionId;
/// use shipcore_driver_ecs::weights::to_percent;
/// let p = to_percent(&[(RevisionId::new("a"), 1), (RevisionId::new("b"), 2)]);
/// assert_eq!(p.values().copied().collect::<Vec<_>>(), [33, 67]);
/// ```
pub fn to_percent(raw: &[(RevisionId, i32)]) -> BTreeMap<RevisionId, u8> {
    // A negative weight (which ALB refuses) counts as 0.
    let shares: Vec<(RevisionId, u64)> = raw
        .iter()
        .map(|(r, w)| (r.clone(), u64::try_from(*w).unwrap_or(0)))
        .collect();
    percentages(&shares).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> RevisionId {
        RevisionId::new(s)
    }
    fn ws(pairs: &[(&str, u8)]) -> WeightSet {
        WeightSet(pairs.iter().map(|(r, w)| (id(r), *w)).collect())
    }

    #[test]
    fn routes_are_checked_before_any_call() {
        let deployed = [id("a"), id("b")];
        assert_eq!(
            plan_route(&ws(&[("a", 90), ("b", 10), ("absent", 0)]), &deployed).unwrap(),
            vec![(id("a"), 90), (id("b"), 10)]
        );
        assert_eq!(
            plan_route(&ws(&[("b", 100), ("a", 0)]), &deployed).unwrap(),
            vec![(id("b"), 100)]
        );
        for bad in [
            ws(&[("a", 90)]),
            ws(&[("a", 50), ("absent", 50)]),
            ws(&[("a", 50), ("a", 50)]),
        ] {
            let e = plan_route(&bad, &deployed).unwrap_err();
            assert!(!e.is_transient(), "{e}");
        }
        let six: Vec<RevisionId> = (0..6).map(|i| id(&format!("r{i}"))).collect();
        let split = WeightSet(
            six.iter()
                .map(|r| (r.clone(), if r.as_str() == "r0" { 50 } else { 10 }))
                .collect(),
        );
        let e = plan_route(&split, &six).unwrap_err();
        assert!(e.message.contains("at most 5"), "{e}");
    }

    #[test]
    fn alb_limits() {
        assert!(check_forward(&[("tg", 1000)])
            .unwrap_err()
            .contains("0..=999"));
        assert!(check_forward(&[("tg", -1)]).is_err());
        assert!(check_forward(&[("a", 999), ("b", 0)]).is_ok());
    }

    #[test]
    fn weights_read_back_are_percent() {
        let p = to_percent(&[(id("a"), 900), (id("b"), 100)]);
        assert_eq!((p[&id("a")], p[&id("b")]), (90, 10));
        let thirds = to_percent(&[(id("a"), 1), (id("b"), 1), (id("c"), 1)]);
        assert_eq!(thirds.values().map(|v| u32::from(*v)).sum::<u32>(), 100);
        assert!(to_percent(&[(id("a"), 0)]).values().all(|v| *v == 0));
    }
}
