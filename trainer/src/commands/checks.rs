//! Checks of numeric flags, each error naming the flag, its value and what it takes.

use anyhow::{Result, bail};

use crate::limits::{MAX_RENDERS, MAX_SCENES};

/// `value >= min`, or an error saying why smaller makes no sense.
pub fn at_least(flag: &str, value: usize, min: usize, why: &str) -> Result<()> {
    if value < min {
        bail!("{flag} {value}: must be at least {min} ({why})");
    }
    Ok(())
}

/// `value <= max`, or an error stating the limit.
pub fn at_most(flag: &str, value: usize, max: usize, why: &str) -> Result<()> {
    if value > max {
        bail!("{flag} {value}: at most {max} ({why})");
    }
    Ok(())
}

/// `--synth-count`: at least one scene (`why` says what needs them) and at most
/// [`MAX_SCENES`], the scenes held in memory.
pub fn synth_count(count: usize, why: &str) -> Result<()> {
    at_least("--synth-count", count, 1, why)?;
    at_most("--synth-count", count, MAX_SCENES, "scenes held in memory")
}

/// `layouts x samples` renders of one measurement, within [`MAX_RENDERS`].
pub fn renders(flags: (&str, &str), layouts: usize, samples: usize) -> Result<()> {
    let total = layouts.saturating_mul(samples);
    if total > MAX_RENDERS {
        bail!(
            "{} {layouts} x {} {samples} = {total} renders: at most {MAX_RENDERS} for one \
             measurement; ask for fewer layouts or samples",
            flags.0,
            flags.1
        );
    }
    Ok(())
}

/// A finite number above 0.
pub fn positive(flag: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        bail!("{flag} {value}: give a finite number above 0");
    }
    Ok(())
}

/// A finite number of at least 0.
pub fn non_negative(flag: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        bail!("{flag} {value}: give a finite number of at least 0");
    }
    Ok(())
}

/// Seeds `first .. first + count` must all be seeds (no wrap past 2^64 - 1).
pub fn seed_range(flag: &str, first: u64, count: usize) -> Result<()> {
    let last = (count as u64)
        .checked_sub(1)
        .and_then(|n| first.checked_add(n));
    if count > 0 && last.is_none() {
        bail!(
            "{flag} {first} with {count} samples: their seeds would pass the largest seed, \
             18446744073709551615, and wrap around to 0; give {flag} {} or less",
            u64::MAX - (count as u64 - 1)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_out_of_range_name_their_flag() {
        assert!(at_least("--rounds", 1, 1, "").is_ok());
        let e = at_least("--rounds", 0, 1, "a run needs a round").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--rounds 0: must be at least 1 (a run needs a round)"
        );
        assert!(at_most("--count", 10, 10, "").is_ok());
        assert!(
            at_most("--count", 11, 10, "x")
                .unwrap_err()
                .to_string()
                .contains("at most 10")
        );
        for bad in [f64::NAN, f64::INFINITY, -1e-3, 0.0] {
            let e = positive("--lr", bad).unwrap_err().to_string();
            assert!(e.starts_with("--lr "), "{e}");
        }
        assert!(positive("--lr", 1e-4).is_ok());
        assert!(non_negative("--mask-temper", 0.0).is_ok());
        assert!(non_negative("--mask-temper", f64::NAN).is_err());
    }

    #[test]
    fn measurements_are_bounded() {
        assert!(renders(("--layouts", "--samples"), 8, 10).is_ok());
        let e = renders(("--layouts", "--samples"), 100_000, 100).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--layouts 100000 x --samples 100 = 10000000 renders: at most 100000"),
            "{e}"
        );
    }

    #[test]
    fn seeds_may_not_wrap() {
        assert!(seed_range("--seed", u64::MAX, 1).is_ok());
        assert!(seed_range("--seed", u64::MAX - 2, 3).is_ok());
        let e = seed_range("--seed", u64::MAX, 3).unwrap_err().to_string();
        assert!(e.contains("wrap around"), "{e}");
        assert!(e.contains("--seed 18446744073709551613 or less"), "{e}");
        assert!(seed_range("--seed", 0, usize::MAX).is_ok());
    }
}
