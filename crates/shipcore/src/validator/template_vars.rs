//! The template variables of a validation context: a copy-on-write map that also remembers
//! the templates rendered with it, so a validator asking the same query every interval
//! renders it once per rollout.

use crate::template::{self, Placement, RenderError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

/// Template variables of a [`ValidationContext`](super::ValidationContext), name to value. It dereferences to the
/// `BTreeMap<String, String>` it holds, so it reads (and is passed to
/// [`render_template`](crate::metrics::render_template)) as one. Clones share the map until
/// one of them changes it, so changing one context's variables never changes another's.
///
/// ```
/// use shipcore::model::{Revision, Target};
/// use shipcore::time::Timestamp;
/// use shipcore::validator::ValidationContext;
/// let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2");
/// let ctx = ValidationContext::new("r1", &Target::new("web", "prod"), &v2, None, Timestamp(0));
/// let mut other = ctx.clone();
/// other.vars.insert("addr".into(), "127.0.0.1:80".into());
/// assert_eq!(ctx.vars.get("version").map(String::as_str), Some("2.0.0"));
/// assert!(!ctx.vars.contains_key("addr") && other.vars.contains_key("addr"));
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TemplateVars(Arc<Vars>);

/// The map, and what was rendered with it.
#[derive(Default)]
struct Vars {
    map: BTreeMap<String, String>,
    /// Templates rendered with `map`, with where they went and what they gave: at most
    /// [`RENDERED_KEPT`]. Emptied whenever `map` changes.
    rendered: Mutex<Vec<Rendered>>,
}

/// One remembered rendering.
struct Rendered {
    placement: Placement,
    template: Box<str>,
    out: Box<str>,
}

/// How many renderings one set of variables keeps (a rollout has a few validators).
const RENDERED_KEPT: usize = 8;

impl Clone for Vars {
    /// The map; the copy remembers nothing rendered (it is about to change).
    fn clone(&self) -> Self {
        Vars {
            map: self.map.clone(),
            rendered: Mutex::default(),
        }
    }
}

impl PartialEq for Vars {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl Eq for Vars {}

impl TemplateVars {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// The map itself (copied only if it is shared).
    pub fn into_map(self) -> BTreeMap<String, String> {
        match Arc::try_unwrap(self.0) {
            Ok(vars) => vars.map,
            Err(shared) => shared.map.clone(),
        }
    }

    /// [`template::render`] of `template` with these variables. The same template and
    /// placement rendered again with the same variables gives the remembered text (a
    /// rendering is a pure function of the three); errors are not remembered.
    pub(crate) fn render(
        &self,
        template: &str,
        placement: Placement,
    ) -> Result<String, RenderError> {
        let kept = |rendered: &[Rendered]| {
            rendered
                .iter()
                .find(|r| r.placement == placement && *r.template == *template)
                .map(|r| String::from(&*r.out))
        };
        let lock = || self.0.rendered.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(out) = kept(&lock()) {
            return Ok(out);
        }
        let out = template::render(template, &self.0.map, placement)?;
        let mut rendered = lock();
        if rendered.len() < RENDERED_KEPT && kept(&rendered).is_none() {
            rendered.push(Rendered {
                placement,
                template: template.into(),
                out: out.as_str().into(),
            });
        }
        Ok(out)
    }
}

impl Deref for TemplateVars {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0.map
    }
}

impl DerefMut for TemplateVars {
    /// Copies the map first if another handle shares it, and forgets what was rendered.
    fn deref_mut(&mut self) -> &mut Self::Target {
        let vars = Arc::make_mut(&mut self.0);
        vars.rendered
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        &mut vars.map
    }
}

impl From<BTreeMap<String, String>> for TemplateVars {
    fn from(map: BTreeMap<String, String>) -> Self {
        TemplateVars(Arc::new(Vars {
            map,
            rendered: Mutex::default(),
        }))
    }
}

impl From<TemplateVars> for BTreeMap<String, String> {
    fn from(vars: TemplateVars) -> Self {
        vars.into_map()
    }
}

impl FromIterator<(String, String)> for TemplateVars {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        TemplateVars::from(iter.into_iter().collect::<BTreeMap<_, _>>())
    }
}

impl<'a> IntoIterator for &'a TemplateVars {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.map.iter()
    }
}

impl PartialEq<BTreeMap<String, String>> for TemplateVars {
    fn eq(&self, other: &BTreeMap<String, String>) -> bool {
        self.0.map == *other
    }
}

impl std::fmt::Debug for TemplateVars {
    /// Exactly the map's `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.map.fmt(f)
    }
}

impl Serialize for TemplateVars {
    /// Exactly the map's serialization.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TemplateVars {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(deserializer).map(TemplateVars::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> TemplateVars {
        [("service".to_string(), "web".to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn a_remembered_rendering_is_the_rendering() {
        let v = vars();
        let q = r#"error_rate{service="{{service}}"}"#;
        let first = v.render(q, Placement::PromQl).unwrap();
        assert_eq!(first, r#"error_rate{service="web"}"#);
        assert_eq!(v.0.rendered.lock().unwrap().len(), 1);
        assert_eq!(v.render(q, Placement::PromQl).unwrap(), first);
        assert_eq!(v.0.rendered.lock().unwrap().len(), 1, "kept once");
        // Another placement of the same text is rendered by its own rules.
        let path = v.render("/{{service}}", Placement::UrlPath).unwrap();
        assert_eq!(path, "/web");
        assert_eq!(v.0.rendered.lock().unwrap().len(), 2);
    }

    #[test]
    fn changing_the_map_forgets_what_was_rendered() {
        let mut v = vars();
        let q = r#"error_rate{service="{{service}}"}"#;
        v.render(q, Placement::PromQl).unwrap();
        let shared = v.clone();
        v.insert("service".into(), "api".into());
        assert_eq!(
            v.render(q, Placement::PromQl).unwrap(),
            r#"error_rate{service="api"}"#
        );
        assert_eq!(
            shared.render(q, Placement::PromQl).unwrap(),
            r#"error_rate{service="web"}"#,
            "the clone that shared the map keeps its own"
        );
        let mut alone = vars();
        alone.render(q, Placement::PromQl).unwrap();
        alone.insert("service".into(), "db".into()); // not shared: changed in place
        assert_eq!(
            alone.render(q, Placement::PromQl).unwrap(),
            r#"error_rate{service="db"}"#
        );
    }

    #[test]
    fn errors_are_not_remembered_and_the_memory_is_bounded() {
        let v = vars();
        assert!(v.render("{{missing}}", Placement::PromQl).is_err());
        assert!(v.0.rendered.lock().unwrap().is_empty());
        for i in 0..RENDERED_KEPT + 4 {
            let t = format!("m{i}{{service=\"{{{{service}}}}\"}}");
            assert_eq!(
                v.render(&t, Placement::PromQl).unwrap(),
                format!("m{i}{{service=\"web\"}}")
            );
        }
        assert_eq!(v.0.rendered.lock().unwrap().len(), RENDERED_KEPT);
    }
}
