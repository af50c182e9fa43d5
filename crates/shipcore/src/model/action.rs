use super::{Revision, RevisionId};
use serde::{Deserialize, Serialize};

/// Traffic split: percent per revision, summing to 100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightSet(pub Vec<(RevisionId, u8)>);

impl WeightSet {
    /// Sum of the weights.
    pub fn total(&self) -> u32 {
        self.0.iter().map(|(_, w)| *w as u32).sum()
    }
    /// Weight of one revision (0 if absent).
    pub fn of(&self, id: &RevisionId) -> u8 {
        self.0
            .iter()
            .find(|(r, _)| r == id)
            .map(|(_, w)| *w)
            .unwrap_or(0)
    }
}

/// Splits 100 percent in proportion to `shares` (raw platform weights, replica counts),
/// in their order: largest remainder, ties to the smaller revision id, so the result sums
/// to exactly 100 and does not depend on the input's order; all 0 when the shares sum to 0.
/// Drivers use it to report weights the way [`FleetState`](crate::model::FleetState) wants
/// them (ALB weights 0–999, Gateway API weights, HAProxy server weights).
///
/// ```
/// use shipcore::model::{percentages, RevisionId};
/// let p = percentages(&[(RevisionId::new("a"), 1), (RevisionId::new("b"), 2)]);
/// assert_eq!(p, [(RevisionId::new("a"), 33), (RevisionId::new("b"), 67)]);
/// let even = percentages(&[(RevisionId::new("y"), 1), (RevisionId::new("x"), 1), (RevisionId::new("z"), 1)]);
/// assert_eq!(even.iter().map(|(_, p)| *p).collect::<Vec<_>>(), [33, 34, 33]);
/// assert!(percentages(&[(RevisionId::new("a"), 0)]).iter().all(|(_, p)| *p == 0));
/// ```
pub fn percentages(shares: &[(RevisionId, u64)]) -> Vec<(RevisionId, u8)> {
    let total: u128 = shares.iter().map(|(_, w)| u128::from(*w)).sum();
    if total == 0 {
        return shares.iter().map(|(r, _)| (r.clone(), 0)).collect();
    }
    // (quotient, remainder) of each share times 100 over the total; u128 cannot overflow.
    let mut parts: Vec<(u128, u128)> = shares
        .iter()
        .map(|(_, w)| {
            let scaled = u128::from(*w) * 100;
            (scaled / total, scaled % total)
        })
        .collect();
    let given: u128 = parts.iter().map(|(q, _)| *q).sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| {
        parts[*b]
            .1
            .cmp(&parts[*a].1)
            .then_with(|| shares[*a].0.cmp(&shares[*b].0))
    });
    for i in order
        .into_iter()
        .take(100usize.saturating_sub(given as usize))
    {
        parts[i].0 += 1;
    }
    shares
        .iter()
        .zip(parts)
        .map(|((r, _), (q, _))| (r.clone(), u8::try_from(q).unwrap_or(100)))
        .collect()
}

/// One platform operation. Every action is *declarative and idempotent*: applying it twice
/// leaves the fleet as applying it once, because the engine retries and resumes.
///
/// What the engine sends a [`Driver`](crate::driver::Driver):
///
/// - [`Deploy`](Action::Deploy) for every `Scale` step, for a full promotion and for a
///   rollback's restore of stable: the whole [`Revision`] with the replica count, so the
///   driver can create the revision or resize it in one call. The engine never sends
///   [`Scale`](Action::Scale); it exists for drivers and tools that resize a revision they
///   already know (a driver must still accept it).
/// - [`Route`](Action::Route) for `SetWeight` and `Promote` steps (only on a driver with
///   `weighted_traffic`), always with weights summing to 100, and only once every revision
///   it gives traffic to has ready replicas.
/// - [`Retire`](Action::Retire) for `Retire` steps, after a full promotion (stable) and in a
///   rollback (candidate).
/// - [`SetFlag`](Action::SetFlag) for `SetFlag` steps and, at 0%, first thing in a rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Make `revision` exist with exactly `replicas` replicas (create or update).
    Deploy {
        /// What to run.
        revision: Revision,
        /// How many replicas.
        replicas: u32,
    },
    /// Set the replica count of an existing revision.
    Scale {
        /// Which revision.
        revision: RevisionId,
        /// How many replicas.
        replicas: u32,
    },
    /// Route traffic: weights per revision, summing to 100.
    Route {
        /// The split.
        weights: WeightSet,
    },
    /// Remove a revision and everything it runs. Retiring an absent revision succeeds.
    Retire {
        /// Which revision.
        revision: RevisionId,
    },
    /// Set a feature flag's rollout percentage.
    SetFlag {
        /// Flag name.
        flag: String,
        /// Percent of users who get the feature.
        percent: u8,
    },
}

impl Action {
    /// A short human description, as records and logs show it.
    ///
    /// ```
    /// use shipcore::model::{Action, Revision, RevisionId, WeightSet};
    /// let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2");
    /// let deploy = Action::Deploy { revision: v2, replicas: 3 };
    /// assert_eq!(deploy.describe(), "deploy web-v2 x3");
    /// let route = Action::Route {
    ///     weights: WeightSet(vec![(RevisionId::from("web-v1"), 75), (RevisionId::from("web-v2"), 25)]),
    /// };
    /// assert_eq!(route.describe(), "route web-v1=75% web-v2=25%");
    /// let retire = Action::Retire { revision: RevisionId::from("web-v1") };
    /// assert_eq!(retire.describe(), "retire web-v1");
    /// let flag = Action::SetFlag { flag: "new-checkout".into(), percent: 5 };
    /// assert_eq!(flag.describe(), "flag new-checkout to 5%");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            Action::Deploy { revision, replicas } => {
                format!("deploy {} x{}", revision.id, replicas)
            }
            Action::Scale { revision, replicas } => format!("scale {revision} to {replicas}"),
            Action::Route { weights } => {
                let parts: Vec<String> =
                    weights.0.iter().map(|(r, w)| format!("{r}={w}%")).collect();
                format!("route {}", parts.join(" "))
            }
            Action::Retire { revision } => format!("retire {revision}"),
            Action::SetFlag { flag, percent } => format!("flag {flag} to {percent}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_sum_to_100_or_0() {
        let ids = |ws: &[u64]| -> Vec<(RevisionId, u64)> {
            ws.iter()
                .enumerate()
                .map(|(i, w)| (RevisionId::new(format!("r{i}")), *w))
                .collect()
        };
        for ws in [
            vec![1, 1, 1],
            vec![1, 2],
            vec![70, 30],
            vec![0, 5],
            vec![3, 3, 3, 3, 3, 3, 3],
        ] {
            let p = percentages(&ids(&ws));
            assert_eq!(
                p.iter().map(|(_, p)| u32::from(*p)).sum::<u32>(),
                100,
                "{ws:?} {p:?}"
            );
        }
        assert_eq!(percentages(&ids(&[1, 1, 1]))[0].1, 34);
        assert_eq!(percentages(&ids(&[70, 30]))[1].1, 30);
        assert!(percentages(&ids(&[0, 0])).iter().all(|(_, p)| *p == 0));
    }

    #[test]
    fn percentages_do_not_depend_on_the_input_order_and_never_overflow() {
        let a = (RevisionId::new("a"), 1);
        let b = (RevisionId::new("b"), 1);
        let mut ab = percentages(&[a.clone(), b.clone()]);
        let mut ba = percentages(&[b, a]);
        ab.sort();
        ba.sort();
        assert_eq!(ab, ba);
        let huge = percentages(&[
            (RevisionId::new("x"), u64::MAX),
            (RevisionId::new("y"), u64::MAX),
        ]);
        assert_eq!(huge.iter().map(|(_, p)| *p).collect::<Vec<_>>(), [50, 50]);
    }
}
