//! Allocation-free formatting for the measurement path: numbers in messages ([`Num`]) and
//! semantic versions in template variables and labels ([`push_version`]). Both give exactly
//! the text of the `core::fmt` code they replace (tested against it), only cheaper: `{:.4}`
//! on an `f64` runs the exact (Grisu/Dragon) float formatter, and `semver::Version`'s
//! `Display` goes through padding support and three `write!` calls.

use std::fmt;

/// Beyond this magnitude [`Num`] leaves the work to `format!("{:.4}")` (the fast path keeps
/// the scaled value within a `u64`).
const FAST_LIMIT: f64 = 1e15;

/// A number for messages: at most 4 decimals (rounded half to even on the exact binary
/// value, as `{:.4}` does), trailing zeros and a trailing dot dropped, `-0` written `0`,
/// non-finite values as `NaN`, `inf`, `-inf`. Width and precision flags are ignored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Num(pub(crate) f64);

impl Num {
    /// Appends the text to `out`.
    pub(crate) fn push_to(self, out: &mut String) {
        let mut buf = [0u8; 32];
        match fixed(self.0, &mut buf) {
            Some(s) => out.push_str(s),
            None => out.push_str(&slow(self.0)),
        }
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        match fixed(self.0, &mut buf) {
            Some(s) => f.write_str(s),
            None => f.write_str(&slow(self.0)),
        }
    }
}

/// The text of `v` written at the end of `buf`, or `None` beyond the fast path.
fn fixed(v: f64, buf: &mut [u8; 32]) -> Option<&str> {
    let q = scaled(v)?;
    if q == 0 {
        return Some("0");
    }
    // Sign, up to 15 integer digits, a dot and 4 decimals.
    let mut at = buf.len();
    let mut frac = q % 10_000;
    let mut digits = 4;
    while digits > 0 && frac % 10 == 0 && frac != 0 {
        frac /= 10;
        digits -= 1;
    }
    if frac != 0 {
        for _ in 0..digits {
            at -= 1;
            buf[at] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        at -= 1;
        buf[at] = b'.';
    }
    at = write_digits(&mut buf[..at], q / 10_000);
    if v.is_sign_negative() {
        at -= 1;
        buf[at] = b'-';
    }
    // Only ASCII digits, '.' and '-' were written.
    std::str::from_utf8(&buf[at..]).ok()
}

/// Writes `n` in decimal at the end of `buf`; returns where it starts.
fn write_digits(buf: &mut [u8], mut n: u64) -> usize {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return at;
        }
    }
}

/// `|v| * 10^4` rounded half to even, exactly, when `v` is finite and below [`FAST_LIMIT`].
fn scaled(v: f64) -> Option<u64> {
    let a = v.abs();
    if !a.is_finite() || a >= FAST_LIMIT {
        return None;
    }
    let bits = a.to_bits();
    let exp = (bits >> 52) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    // a = m * 2^e exactly.
    let (m, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    let n = m as u128 * 10_000; // below 2^67
    let q = if e >= 0 {
        // An integer below FAST_LIMIT: e is small.
        n << e
    } else {
        let shift = (-e) as u32;
        if shift >= 68 {
            // n < 2^67 <= half of the divisor: rounds to 0.
            0
        } else {
            let q = n >> shift;
            let r = n & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            if r > half || (r == half && q & 1 == 1) {
                q + 1
            } else {
                q
            }
        }
    };
    u64::try_from(q).ok()
}

/// The reference formatting (used beyond the fast path).
fn slow(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Appends `v` as `semver::Version`'s `Display` writes it without flags:
/// `major.minor.patch[-pre][+build]`.
fn push_version(out: &mut String, v: &semver::Version) {
    let mut buf = [0u8; 20];
    for (i, n) in [v.major, v.minor, v.patch].into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let at = write_digits(&mut buf, n);
        for &b in &buf[at..] {
            out.push(b as char);
        }
    }
    if !v.pre.is_empty() {
        out.push('-');
        out.push_str(v.pre.as_str());
    }
    if !v.build.is_empty() {
        out.push('+');
        out.push_str(v.build.as_str());
    }
}

/// `v` as `semver::Version`'s `Display` writes it, sized exactly.
pub(crate) fn version_string(v: &semver::Version) -> String {
    let mut out = String::with_capacity(
        20 + usize::from(!v.pre.is_empty())
            + v.pre.len()
            + usize::from(!v.build.is_empty())
            + v.build.len(),
    );
    push_version(&mut out, v);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(v: f64) {
        let want = slow(v);
        assert_eq!(Num(v).to_string(), want, "{v:?} ({:#x})", v.to_bits());
        let mut pushed = String::from("x");
        Num(v).push_to(&mut pushed);
        assert_eq!(pushed[1..], want, "{v:?}");
    }

    #[test]
    fn num_matches_the_reference_on_special_values() {
        for v in [
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324,
            -5e-324,
            0.00005,
            -0.00005,
            0.000049999,
            0.00015,
            0.03125,
            -0.03125,
            0.09375,
            0.99995,
            9.99995,
            99_999.999_95,
            0.1,
            0.2,
            0.3,
            1.0 / 3.0,
            0.05,
            12.3456,
            100.0,
            -100.0,
            999_999_999_999_999.9,
            1e15,
            -1e15,
            1e15 - 0.125,
            4_503_599_627_370_496.5,
            9_007_199_254_740_993.0,
            1.8446744073709552e19,
            1e300,
        ] {
            check(v);
        }
    }

    #[test]
    fn num_matches_the_reference_on_exact_ties_and_near_them() {
        // j / 2^k are exact; j / 32 * 10^4 ends in .5 for odd j: ties, rounded to even.
        for k in 0..=20 {
            let d = (1u64 << k) as f64;
            for j in 0..4_000u64 {
                let v = j as f64 / d;
                check(v);
                check(-v);
                check(f64::from_bits(v.to_bits() + 1));
                check(f64::from_bits(v.to_bits().saturating_sub(1)));
            }
        }
        for k in 0..200_000u64 {
            let v = (k as f64 + 0.5) / 10_000.0;
            check(v);
            check(-v);
            check(k as f64 / 10_000.0);
        }
    }

    #[test]
    fn num_matches_the_reference_on_random_values() {
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..200_000 {
            // Any bit pattern, then values of every magnitude from 1e-12 to 1e17.
            check(f64::from_bits(next()));
            let mantissa = (next() % 1_000_000_007) as f64;
            let scale = 10f64.powi((next() % 30) as i32 - 21);
            check(mantissa * scale);
            check(-(mantissa * scale));
            let bits = (next() % 0x4350_0000_0000_0000) | 0x3c00_0000_0000_0000;
            check(f64::from_bits(bits));
        }
    }

    #[test]
    fn versions_print_as_semver_displays_them() {
        for s in [
            "0.0.0",
            "1.2.3",
            "10.200.3000",
            "18446744073709551615.0.18446744073709551615",
            "2.0.0-rc.1",
            "2.0.0+build.5",
            "2.0.0-alpha.beta.1+sha.0beeca7",
            "1.0.0-x-y-z.--",
        ] {
            let v: semver::Version = s.parse().unwrap();
            assert_eq!(version_string(&v), v.to_string());
            assert_eq!(version_string(&v), s);
        }
    }
}
