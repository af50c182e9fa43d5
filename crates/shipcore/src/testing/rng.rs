//! A tiny seeded random number generator (SplitMix64) whose whole state is one `u64`, so a
//! simulator can serialize it with the rest of its state and resume the exact same sequence
//! in another process. Not for cryptography.

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// SplitMix64: a seeded generator whose whole state is one number, so it serializes with
/// the simulator's snapshot and replays exactly.
///
/// ```
/// use shipcore::testing::SimRng;
/// let mut a = SimRng::new(7);
/// let mut b = SimRng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// assert!((10..20).contains(&a.gen_range(10..20)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function: a good 64-bit mixer on its own (used to derive seeds).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SimRng {
    /// A generator from a seed; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Self {
        SimRng { state: seed }
    }

    /// The internal state (the generator is fully described by it).
    pub fn state(&self) -> u64 {
        self.state
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform in `[0, 1)`, with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in the half-open `range`; an empty range yields its start.
    pub fn gen_range(&mut self, range: Range<u64>) -> u64 {
        let span = range.end.saturating_sub(range.start);
        if span == 0 {
            return range.start;
        }
        // Rejection sampling: no modulo bias.
        let zone = u64::MAX - (u64::MAX % span);
        loop {
            let x = self.next_u64();
            if x < zone {
                return range.start + x % span;
            }
        }
    }

    /// Uniform in `[low, high)`; `low` if the interval is empty.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        if high <= low {
            return low;
        }
        low + (high - low) * self.next_f64()
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn gen_bool(&mut self, p: f64) -> bool {
        self.next_f64() < p.clamp(0.0, 1.0)
    }

    /// A normal sample (Box-Muller), `mean + std_dev * N(0, 1)`.
    pub fn normal(&mut self, mean: f64, std_dev: f64) -> f64 {
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        mean + std_dev * z
    }

    /// An independent generator derived from this one (advances this one by one step).
    pub fn fork(&mut self) -> SimRng {
        SimRng::new(self.next_u64())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_splitmix64_reference_sequence() {
        // Reference values of SplitMix64 seeded with 1234567 (from the public C reference).
        let mut r = SimRng::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
        assert_eq!(r.next_u64(), 9817491932198370423);
    }

    #[test]
    fn f64_is_in_unit_interval_with_mean_near_half() {
        let mut r = SimRng::new(42);
        let n = 20_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        let mean = sum / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn gen_range_covers_the_range_and_only_it() {
        let mut r = SimRng::new(9);
        let mut seen = [0u32; 6];
        for _ in 0..6_000 {
            let x = r.gen_range(10..16);
            assert!((10..16).contains(&x));
            seen[(x - 10) as usize] += 1;
        }
        for count in seen {
            assert!((800..1200).contains(&count), "{seen:?}");
        }
        assert_eq!(r.gen_range(5..5), 5);
        let (hi, lo) = (7, 3);
        assert_eq!(r.gen_range(hi..lo), 7);
    }

    #[test]
    fn normal_has_the_requested_mean_and_spread() {
        let mut r = SimRng::new(3);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal(10.0, 2.0)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!((mean - 10.0).abs() < 0.05, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.05, "sd {}", var.sqrt());
        assert!(xs.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut r = SimRng::new(11);
        r.next_u64();
        let json = serde_json::to_string(&r).unwrap();
        let mut back: SimRng = serde_json::from_str(&json).unwrap();
        assert_eq!(back.next_u64(), r.next_u64());
    }

    #[test]
    fn gen_bool_follows_probability() {
        let mut r = SimRng::new(5);
        let hits = (0..10_000).filter(|_| r.gen_bool(0.2)).count();
        assert!((1_800..2_200).contains(&hits), "{hits}");
        assert!(!(0..100).any(|_| r.gen_bool(0.0)));
        assert!((0..100).all(|_| r.gen_bool(1.0)));
    }
}
