//! Where each value of a YAML document is: an index from field paths (`strategy.canary.steps[2]`,
//! the form [`shipcore::model::FieldError`] uses) to line and column, built from the parser's
//! events, so an error found after parsing still points into the file.

use serde_saphyr::granit_parser::{Event, Parser};

/// A line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

#[derive(Debug, Clone)]
struct Node {
    path: String,
    pos: Pos,
    key: bool,
    /// A scalar value's text.
    value: Option<String>,
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        expect_key: bool,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// A complex mapping key (a mapping or sequence used as a key): not indexed.
    Skip,
}

/// The paths of a document and where they start.
#[derive(Debug, Clone, Default)]
pub struct PathIndex {
    nodes: Vec<Node>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl PathIndex {
    /// Indexes `text`; a document the parser refuses gives the part before the error (the
    /// deserializer reports the syntax error itself).
    pub fn new(text: &str) -> Self {
        let mut nodes = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        while let Some(Ok((event, span))) = parser.next_event() {
            let pos = Pos {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            let starts = match &event {
                Event::Scalar(..) | Event::Alias(_) => Some(None),
                Event::MappingStart(..) => Some(Some(true)),
                Event::SequenceStart(..) => Some(Some(false)),
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    None
                }
                _ => None,
            };
            let Some(container) = starts else { continue };
            // Where this node sits: a mapping key, a mapping value, an item, the root.
            let path = match stack.last_mut() {
                None => Some(String::new()),
                Some(Frame::Skip) => None,
                Some(Frame::Map {
                    path,
                    key,
                    expect_key,
                }) => {
                    if *expect_key {
                        *expect_key = false;
                        match &event {
                            Event::Scalar(v, ..) => {
                                let p = join(path, v);
                                nodes.push(Node {
                                    path: p,
                                    pos,
                                    key: true,
                                    value: None,
                                });
                                *key = Some(v.to_string());
                            }
                            _ => *key = None,
                        }
                        if container.is_some() {
                            stack.push(Frame::Skip);
                        }
                        continue;
                    }
                    *expect_key = true;
                    key.as_ref().map(|k| join(path, k))
                }
                Some(Frame::Seq { path, next }) => {
                    let p = format!("{path}[{next}]");
                    *next += 1;
                    Some(p)
                }
            };
            if let Some(p) = &path {
                let value = match &event {
                    Event::Scalar(v, ..) => Some(v.to_string()),
                    _ => None,
                };
                nodes.push(Node {
                    path: p.clone(),
                    pos,
                    key: false,
                    value,
                });
            }
            match (container, path) {
                (Some(true), Some(path)) => stack.push(Frame::Map {
                    path,
                    key: None,
                    expect_key: true,
                }),
                (Some(false), Some(path)) => stack.push(Frame::Seq { path, next: 0 }),
                (Some(_), None) => stack.push(Frame::Skip),
                (None, _) => {}
            }
        }
        PathIndex { nodes }
    }

    /// Where the value at `path` starts (its key if the value has no position of its own).
    /// A path the file does not have (a default the library filled in) falls back to the
    /// nearest ancestor that it has.
    pub fn find(&self, path: &str) -> Option<Pos> {
        let mut p = path.to_string();
        loop {
            let exact = |key: bool| {
                self.nodes
                    .iter()
                    .find(|n| n.path == p && n.key == key)
                    .map(|n| n.pos)
            };
            if let Some(pos) = exact(false).or_else(|| exact(true)) {
                return Some(pos);
            }
            p = parent(&p)?;
        }
    }

    /// Where the key of `path` is (none for an item of a list, or a path not in the file).
    pub fn find_key(&self, path: &str) -> Option<Pos> {
        self.nodes
            .iter()
            .find(|n| n.key && n.path == path)
            .map(|n| n.pos)
    }

    /// The path of the first scalar value equal to `text` (where a name is used).
    pub fn path_of_value(&self, text: &str) -> Option<String> {
        self.value_within("", text).map(|(p, _)| p)
    }

    /// The path and position of the first scalar value equal to `text` at or under
    /// `prefix`.
    pub fn value_within(&self, prefix: &str, text: &str) -> Option<(String, Pos)> {
        self.nodes
            .iter()
            .find(|n| {
                !n.key
                    && n.value.as_deref() == Some(text)
                    && (prefix.is_empty()
                        || n.path == prefix
                        || n.path.starts_with(&format!("{prefix}."))
                        || n.path.starts_with(&format!("{prefix}[")))
            })
            .map(|n| (n.path.clone(), n.pos))
    }

    /// The path of the value at `pos`: the outermost value starting there (a mapping that
    /// starts with its first key) when `outer`, else the innermost.
    pub fn path_at(&self, pos: Pos, outer: bool) -> Option<String> {
        let here = self.nodes.iter().filter(|n| n.pos == pos && !n.key);
        let found = if outer {
            here.min_by_key(|n| depth(&n.path))
        } else {
            here.max_by_key(|n| depth(&n.path))
        };
        found.map(|n| n.path.clone()).or_else(|| {
            // Not the start of a value: the last value that starts before it.
            self.nodes
                .iter()
                .filter(|n| n.pos <= pos)
                .max_by_key(|n| n.pos)
                .map(|n| n.path.clone())
        })
    }
}

fn depth(path: &str) -> usize {
    path.matches(['.', '[']).count() + usize::from(!path.is_empty())
}

/// `a.b[2]` → `a.b`; `a.b` → `a`; `a` → ``; `` → none.
fn parent(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    match path.rfind(['.', '[']) {
        Some(i) => Some(path[..i].to_string()),
        None => Some(String::new()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DOC: &str = "\
target:
  service: web
strategy:
  canary:
    steps:
      - set_weight: 10
      - pause: 5m
      - set_weight: 150
gates: [{type: file, name: x, path: y}]
";

    fn at(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn paths_find_their_values() {
        let ix = PathIndex::new(DOC);
        assert_eq!(ix.find("target.service"), Some(at(2, 12)));
        assert_eq!(
            ix.find("strategy.canary.steps[2].set_weight"),
            Some(at(8, 21))
        );
        assert_eq!(ix.find("strategy.canary.steps[1]"), Some(at(7, 9)));
        assert_eq!(ix.find("gates[0].path"), Some(at(9, 37)));
        // Not in the file: the nearest ancestor that is.
        assert_eq!(ix.find("strategy.canary.traffic"), Some(at(5, 5)));
        assert_eq!(ix.find("nowhere.at.all"), Some(at(1, 1)));
    }

    #[test]
    fn positions_name_their_paths() {
        let ix = PathIndex::new(DOC);
        assert_eq!(
            ix.path_at(at(8, 21), false).unwrap(),
            "strategy.canary.steps[2].set_weight"
        );
        assert_eq!(ix.path_at(at(5, 5), true).unwrap(), "strategy.canary");
        assert_eq!(
            ix.path_at(at(6, 9), true).unwrap(),
            "strategy.canary.steps[0]"
        );
    }
}
