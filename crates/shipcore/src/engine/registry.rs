//! The runner's validators and gates by name: a short list searched in order. A rollout
//! names a handful, so a scan beats a tree, and a runner with one validator (one of
//! thousands in a process) holds one small vector instead of a tree node.

/// Things registered under unique names; registering a name again replaces the first.
pub(super) struct Registry<T> {
    entries: Vec<(String, T)>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            entries: Vec::new(),
        }
    }
}

impl<T> Registry<T> {
    /// Registers `value` under `name`, replacing what was there.
    pub(super) fn insert(&mut self, name: &str, value: T) {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((name.to_string(), value)),
        }
    }

    /// What is registered under `name`.
    pub(super) fn get(&self, name: &str) -> Option<&T> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Gives back the room left over from registering.
    pub(super) fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    /// Whether nothing is registered.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The registered names, sorted, joined with ", " (for error messages).
    pub(super) fn known(&self) -> String {
        let mut names: Vec<&str> = self.entries.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_registered_again_replaces_the_first_and_names_are_listed_sorted() {
        let mut r = Registry::default();
        assert!(r.is_empty());
        r.insert("smoke", 1);
        r.insert("error-rate", 2);
        r.insert("smoke", 3);
        assert_eq!(r.get("smoke"), Some(&3));
        assert_eq!(r.get("error-rate"), Some(&2));
        assert_eq!(r.get("latency"), None);
        assert_eq!(r.known(), "error-rate, smoke");
    }
}
