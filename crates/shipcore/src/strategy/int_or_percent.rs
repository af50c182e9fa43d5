//! A replica count written either as a number (`2`) or as a percentage of the replicas
//! (`"25%"`), as in Kubernetes' `maxSurge` / `maxUnavailable`.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A count (`2`) or a percentage of the replicas (`"25%"`).
///
/// Percentages resolve like Kubernetes: [`resolve_up`](Self::resolve_up) for a surge,
/// [`resolve_down`](Self::resolve_down) for unavailability.
///
/// ```
/// use shipcore::strategy::IntOrPercent;
/// let p: IntOrPercent = serde_json::from_str("\"25%\"").unwrap();
/// assert_eq!(p, IntOrPercent::Percent(25));
/// assert_eq!((p.resolve_up(10), p.resolve_down(10)), (3, 2));
/// let n: IntOrPercent = serde_json::from_str("2").unwrap();
/// assert_eq!(n.resolve_up(10), 2);
/// assert!(serde_json::from_str::<IntOrPercent>("\"a lot\"").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    /// An absolute number of replicas.
    Count(u32),
    /// A percentage of the desired replicas.
    Percent(u32),
}

impl IntOrPercent {
    /// The value for `replicas`, percentages rounded up (Kubernetes' `maxSurge`).
    pub fn resolve_up(self, replicas: u32) -> u32 {
        self.resolve(replicas, true)
    }

    /// The value for `replicas`, percentages rounded down (Kubernetes' `maxUnavailable`).
    pub fn resolve_down(self, replicas: u32) -> u32 {
        self.resolve(replicas, false)
    }

    fn resolve(self, replicas: u32, up: bool) -> u32 {
        match self {
            IntOrPercent::Count(n) => n,
            IntOrPercent::Percent(p) => {
                let product = u64::from(replicas) * u64::from(p);
                let v = if up {
                    product.div_ceil(100)
                } else {
                    product / 100
                };
                u32::try_from(v).unwrap_or(u32::MAX)
            }
        }
    }

    /// Parses `"3"` or `"25%"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "invalid count or percentage {text:?}: write a whole number like 2 or a percentage like \"25%\""
            )
        };
        match t.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<u32>()
                .map(IntOrPercent::Percent)
                .map_err(|_| bad()),
            None => t.parse::<u32>().map(IntOrPercent::Count).map_err(|_| bad()),
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Count(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for IntOrPercent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrPercent::Count(n) => s.serialize_u32(*n),
            IntOrPercent::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

struct IntOrPercentVisitor;

impl Visitor<'_> for IntOrPercentVisitor {
    type Value = IntOrPercent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number like 2 or a percentage like \"25%\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrPercent, E> {
        u32::try_from(v)
            .map(IntOrPercent::Count)
            .map_err(|_| E::custom(format!("{v} is too large for a replica count")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrPercent, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!("{v} is negative; a count cannot be"))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrPercent, E> {
        IntOrPercent::parse(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntOrPercentVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_like_kubernetes() {
        // maxSurge 25% of 10 = 2.5 -> 3; maxUnavailable 25% of 10 = 2.5 -> 2.
        let p = IntOrPercent::Percent(25);
        assert_eq!((p.resolve_up(10), p.resolve_down(10)), (3, 2));
        assert_eq!((p.resolve_up(1), p.resolve_down(1)), (1, 0));
        assert_eq!((p.resolve_up(0), p.resolve_down(0)), (0, 0));
        let big = IntOrPercent::Percent(u32::MAX);
        assert_eq!(big.resolve_up(u32::MAX), u32::MAX);
        assert_eq!(IntOrPercent::Count(7).resolve_down(3), 7);
    }

    #[test]
    fn parses_numbers_and_percent_strings() {
        let de = |s: &str| serde_json::from_str::<IntOrPercent>(s);
        assert_eq!(de("2").unwrap(), IntOrPercent::Count(2));
        assert_eq!(de("\"3\"").unwrap(), IntOrPercent::Count(3));
        assert_eq!(de("\"30%\"").unwrap(), IntOrPercent::Percent(30));
        assert_eq!(de("\" 5 % \"").unwrap(), IntOrPercent::Percent(5));
        let e = de("-1").unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
        let e = de("\"x%\"").unwrap_err().to_string();
        assert!(e.contains("\"25%\""), "{e}");
        assert!(de("1.5").is_err());
        assert!(de("99999999999").is_err());
    }

    #[test]
    fn serializes_back_to_the_same_text() {
        for text in ["4", "\"25%\""] {
            let v: IntOrPercent = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), text);
        }
    }
}
