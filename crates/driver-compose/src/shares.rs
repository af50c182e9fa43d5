//! Traffic shares per revision: what the last `Route` set (kept in a small JSON file so a
//! resumed rollout in a new process sees it), and the shares in force, which fall back to
//! following ready replicas when no routed revision can serve.

use serde::{Deserialize, Serialize};
use shipcore::driver::DriverError;
use shipcore::model::{percentages, RevisionId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Shares per revision, percent.
pub type Shares = BTreeMap<RevisionId, u8>;

/// A revision that has containers, and how many are ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Which revision.
    pub revision: RevisionId,
    /// Containers (any state).
    pub containers: u32,
    /// Ready containers.
    pub ready: u32,
}

/// Splits 100 in proportion to `counts` (largest remainder, ties to the smaller id); all
/// zero when the counts are.
pub fn proportional(counts: &[(RevisionId, u32)]) -> Shares {
    let shares: Vec<(RevisionId, u64)> = counts
        .iter()
        .map(|(r, c)| (r.clone(), u64::from(*c)))
        .collect();
    percentages(&shares).into_iter().collect()
}

/// The shares in force. When some live revision with a positive stored share has a ready
/// container, the stored shares hold (live revisions not named get 0). Otherwise (no
/// `Route` yet, or every routed revision is gone or down) traffic follows ready replicas,
/// so a proxy never sends everything to nowhere; while nothing is ready at all (a first
/// deploy) it follows containers, so the proxy already has them weighted and sends them
/// traffic as soon as its own health checks pass, with no later sync needed.
pub fn effective(stored: &Shares, live: &[Live]) -> Shares {
    let routed = live
        .iter()
        .any(|l| l.ready > 0 && stored.get(&l.revision).copied().unwrap_or(0) > 0);
    if routed {
        let mut s: Shares = stored
            .iter()
            .filter(|(_, w)| **w > 0)
            .map(|(r, w)| (r.clone(), *w))
            .collect();
        for l in live {
            s.entry(l.revision.clone()).or_insert(0);
        }
        s
    } else {
        let any_ready = live.iter().any(|l| l.ready > 0);
        proportional(
            &live
                .iter()
                .map(|l| {
                    let n = if any_ready { l.ready } else { l.containers };
                    (l.revision.clone(), n)
                })
                .collect::<Vec<_>>(),
        )
    }
}

/// Before a revision that has no containers is deployed beside others: when no `Route`
/// covers the live revisions, the traffic they get now (by ready replicas, or by containers
/// when none is ready) is written down, so the newcomer starts with 0% until a `Route`
/// gives it traffic. `None` when nothing needs writing.
pub fn freeze_for_newcomer(
    stored: &Shares,
    live: &[Live],
    newcomer: &RevisionId,
) -> Option<Shares> {
    let others: Vec<&Live> = live
        .iter()
        .filter(|l| &l.revision != newcomer && l.containers > 0)
        .collect();
    if others.is_empty()
        || live
            .iter()
            .any(|l| &l.revision == newcomer && l.containers > 0)
    {
        return None;
    }
    let covered = others
        .iter()
        .any(|l| stored.get(&l.revision).copied().unwrap_or(0) > 0);
    if covered {
        return None;
    }
    let any_ready = others.iter().any(|l| l.ready > 0);
    let counts: Vec<(RevisionId, u32)> = others
        .iter()
        .map(|l| {
            (
                l.revision.clone(),
                if any_ready { l.ready } else { l.containers },
            )
        })
        .collect();
    let mut s = proportional(&counts);
    s.insert(newcomer.clone(), 0);
    Some(s)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    shares: BTreeMap<String, u8>,
}

/// The stored shares of one project and service: a JSON file replaced atomically.
#[derive(Debug, Clone)]
pub struct ShareStore {
    path: PathBuf,
}

impl ShareStore {
    /// A store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ShareStore { path: path.into() }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored shares (empty when nothing was stored).
    pub fn load(&self) -> Result<Shares, DriverError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Shares::new()),
            Err(e) => {
                return Err(DriverError::transient(
                    "load traffic shares",
                    format!("reading {}: {e}", self.path.display()),
                ))
            }
        };
        let f: StoreFile = serde_json::from_str(&text).map_err(|e| {
            DriverError::permanent(
                "load traffic shares",
                format!(
                    "{} is not a shares file ({e}); remove it to start over",
                    self.path.display()
                ),
            )
        })?;
        Ok(f.shares
            .into_iter()
            .map(|(r, w)| (RevisionId::new(r), w))
            .collect())
    }

    /// Replaces the stored shares durably: writes a temporary file (mode 0600), `fsync`s it,
    /// renames it over the store and `fsync`s the folder, so a power loss leaves the old
    /// shares or the new ones, never an empty file.
    pub fn save(&self, shares: &Shares) -> Result<(), DriverError> {
        let err = |e: std::io::Error| {
            DriverError::transient(
                "save traffic shares",
                format!("writing {}: {e}", self.path.display()),
            )
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let f = StoreFile {
            shares: shares
                .iter()
                .map(|(r, w)| (r.as_str().to_string(), *w))
                .collect(),
        };
        let text = serde_json::to_string_pretty(&f)
            .map_err(|e| DriverError::permanent("save traffic shares", e.to_string()))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(&tmp)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, text.as_bytes())?;
                f.sync_all()
            })
            .map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> RevisionId {
        RevisionId::new(s)
    }
    fn live(r: &str, containers: u32, ready: u32) -> Live {
        Live {
            revision: id(r),
            containers,
            ready,
        }
    }
    fn shares(pairs: &[(&str, u8)]) -> Shares {
        pairs.iter().map(|(r, w)| (id(r), *w)).collect()
    }

    #[test]
    fn proportional_sums_to_100() {
        for counts in [
            vec![1, 1, 1],
            vec![3, 1],
            vec![7, 2, 1],
            vec![1],
            vec![0, 5],
        ] {
            let c: Vec<(RevisionId, u32)> = counts
                .iter()
                .enumerate()
                .map(|(i, n)| (id(&format!("r{i}")), *n))
                .collect();
            let s = proportional(&c);
            assert_eq!(
                s.values().map(|v| u32::from(*v)).sum::<u32>(),
                100,
                "{counts:?} → {s:?}"
            );
        }
        assert_eq!(
            proportional(&[(id("a"), 1), (id("b"), 1), (id("c"), 1)]),
            shares(&[("a", 34), ("b", 33), ("c", 33)])
        );
        assert_eq!(proportional(&[(id("a"), 0)]), shares(&[("a", 0)]));
    }

    #[test]
    fn stored_shares_hold_while_a_routed_revision_serves() {
        let stored = shares(&[("v1", 90), ("v2", 10)]);
        let l = [live("v1", 3, 3), live("v2", 1, 0), live("v3", 1, 1)];
        assert_eq!(
            effective(&stored, &l),
            shares(&[("v1", 90), ("v2", 10), ("v3", 0)])
        );
    }

    #[test]
    fn without_routes_or_when_routed_revisions_are_down_traffic_follows_ready_replicas() {
        assert_eq!(
            effective(&Shares::new(), &[live("v1", 3, 3), live("v2", 1, 1)]),
            shares(&[("v1", 75), ("v2", 25)])
        );
        let stored = shares(&[("v1", 100), ("v2", 0)]);
        assert_eq!(
            effective(&stored, &[live("v1", 2, 0), live("v2", 2, 2)]),
            shares(&[("v1", 0), ("v2", 100)]),
            "all of v1 is down: v2 serves rather than nobody"
        );
        assert_eq!(effective(&Shares::new(), &[]), Shares::new());
    }

    #[test]
    fn a_first_deploy_with_nothing_ready_yet_is_weighted_by_containers() {
        // The router gets these weights at the deploy's own sync; if they were 0 (by ready
        // replicas) the proxy would send nothing until some later action synced it again.
        assert_eq!(
            effective(&Shares::new(), &[live("v1", 3, 0)]),
            shares(&[("v1", 100)])
        );
        assert_eq!(
            effective(&Shares::new(), &[live("v1", 3, 0), live("v2", 1, 0)]),
            shares(&[("v1", 75), ("v2", 25)])
        );
    }

    #[test]
    fn a_newcomer_starts_dark_beside_serving_revisions() {
        let l = [live("v1", 3, 3)];
        assert_eq!(
            freeze_for_newcomer(&Shares::new(), &l, &id("v2")),
            Some(shares(&[("v1", 100), ("v2", 0)]))
        );
        // Already covered by a Route: nothing to write, v2 gets 0 by absence.
        assert_eq!(
            freeze_for_newcomer(&shares(&[("v1", 100)]), &l, &id("v2")),
            None
        );
        // First deploy: nothing else runs, it follows replicas.
        assert_eq!(freeze_for_newcomer(&Shares::new(), &[], &id("v1")), None);
        // Scaling a revision that already runs is not a newcomer.
        assert_eq!(
            freeze_for_newcomer(
                &Shares::new(),
                &[live("v1", 3, 3), live("v2", 1, 0)],
                &id("v2")
            ),
            None
        );
        // None ready yet: by containers.
        assert_eq!(
            freeze_for_newcomer(
                &Shares::new(),
                &[live("v1", 2, 0), live("v0", 2, 0)],
                &id("v2")
            ),
            Some(shares(&[("v0", 50), ("v1", 50), ("v2", 0)]))
        );
    }

    #[test]
    fn the_store_round_trips_and_reports_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShareStore::new(dir.path().join("sub/p.web.shares.json"));
        assert!(store.load().unwrap().is_empty());
        let s = shares(&[("v1", 40), ("v2", 60)]);
        store.save(&s).unwrap();
        assert_eq!(ShareStore::new(store.path()).load().unwrap(), s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the shares file is private");
        }
        std::fs::write(store.path(), "{").unwrap();
        let e = store.load().unwrap_err();
        assert!(!e.is_transient());
        assert!(e.message.contains("remove it"), "{e}");
    }
}

#[cfg(test)]
mod doc_examples {
    use super::proportional;

    #[test]
    fn proportional_splits_100_by_largest_remainder() {
        use shipcore::model::RevisionId;
        let s = proportional(&[(RevisionId::new("a"), 1), (RevisionId::new("b"), 2)]);
        assert_eq!(s.values().copied().collect::<Vec<_>>(), [33, 67]);
    }
}
