//! Shared helpers for the validator tests: a scripted metrics source and contexts.
#![allow(dead_code, clippy::unwrap_used)]

use async_trait::async_trait;
use shipcore::metrics::{MetricQuery, MetricsError, MetricsSource, QueryResult, Sample, Series};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use shipcore::validator::ValidationContext;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Answers each expression with the next scripted answer; records every query.
#[derive(Default)]
pub struct Scripted {
    answers: Mutex<HashMap<String, VecDeque<Result<QueryResult, MetricsError>>>>,
    pub seen: Mutex<Vec<MetricQuery>>,
}

impl Scripted {
    pub fn new() -> Self {
        Self::default()
    }
    /// Queue an answer for `expr`.
    pub fn push(&self, expr: &str, answer: Result<QueryResult, MetricsError>) {
        self.answers
            .lock()
            .unwrap()
            .entry(expr.to_string())
            .or_default()
            .push_back(answer);
    }
    pub fn seen(&self) -> Vec<MetricQuery> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl MetricsSource for Scripted {
    async fn query(&self, q: &MetricQuery) -> Result<QueryResult, MetricsError> {
        self.seen.lock().unwrap().push(q.clone());
        self.answers
            .lock()
            .unwrap()
            .get_mut(&q.expr)
            .and_then(|d| d.pop_front())
            .unwrap_or_else(|| panic!("no scripted answer left for {:?}", q.expr))
    }
}

pub fn scalar(v: f64) -> QueryResult {
    QueryResult::Scalar(Sample {
        at: Timestamp(0),
        value: v,
    })
}

pub fn vector(v: f64) -> QueryResult {
    QueryResult::Vector(vec![Series {
        labels: BTreeMap::new(),
        samples: vec![Sample {
            at: Timestamp(0),
            value: v,
        }],
    }])
}

pub fn matrix(values: &[f64]) -> QueryResult {
    QueryResult::Matrix(vec![Series {
        labels: BTreeMap::new(),
        samples: values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                at: Timestamp(i as u64 * 1000),
                value: *v,
            })
            .collect(),
    }])
}

pub fn empty() -> QueryResult {
    QueryResult::Vector(vec![])
}

pub fn rev(id: &str, version: &str) -> Revision {
    Revision::new(id, version.parse().unwrap(), format!("web:{version}"))
}

/// Context for rollout `r1` judging `v2` (stable `v1` unless `stable` is false) at `now` ms.
pub fn ctx_at(now_ms: u64, stable: bool) -> ValidationContext {
    let target = Target::new("web", "production");
    let cand = rev("v2", "2.0.0");
    let st = rev("v1", "1.0.0");
    ValidationContext::new(
        "r1",
        &target,
        &cand,
        if stable { Some(&st) } else { None },
        Timestamp(now_ms),
    )
}

pub fn ctx(now_ms: u64) -> ValidationContext {
    ctx_at(now_ms, true)
}
