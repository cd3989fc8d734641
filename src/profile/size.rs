//! Sizes with units: `512MiB`, `8GB`, `3GiB`, `1.5GB`.
//!
//! SI units (`kB`, `MB`, `GB`, `TB`) are powers of 1000, binary units (`KiB` … `TiB`) powers
//! of 1024; unit letters are case-insensitive, so `8gb` is `8GB`. A bare number is refused:
//! a profile that says `card_size = "8"` almost certainly did not mean eight bytes.

use std::fmt;

use serde::Serialize;

/// A size in bytes, as written with a unit in the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Size(u64);

impl Size {
    /// A size of `bytes` bytes.
    pub const fn from_bytes(bytes: u64) -> Self {
        Self(bytes)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `512MiB`, `8GB`, `1.5 GiB`; the error says what is wrong with the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let unit = unit.trim();
        if number.is_empty() {
            return Err(format!(
                "`{text}` is not a size; write a number and a unit, such as `512MiB` or `8GB`"
            ));
        }
        let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
            "" => {
                return Err(format!(
                    "`{text}` has no unit; write `{number}B`, `{number}MiB`, `{number}GB`, …"
                ));
            }
            "b" => 1,
            "k" | "kb" => 1000,
            "m" | "mb" => 1000_u64.pow(2),
            "g" | "gb" => 1000_u64.pow(3),
            "t" | "tb" => 1000_u64.pow(4),
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            _ => {
                return Err(format!(
                    "`{unit}` is not a size unit; use B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
                ));
            }
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty()
            || fraction.contains('.')
            || (number.contains('.') && fraction.is_empty())
        {
            return Err(format!("`{number}` is not a number"));
        }
        if fraction.len() > 6 {
            return Err(format!("`{number}` has more than six decimals"));
        }
        let too_big = || format!("`{text}` is too large");
        let whole: u64 = whole.parse().map_err(|_| too_big())?;
        let scale = 10_u64.pow(u32::try_from(fraction.len()).unwrap_or(6));
        let fraction_value: u64 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| too_big())?
        };
        let whole_bytes = whole.checked_mul(multiplier).ok_or_else(too_big)?;
        let fraction_bytes = u128::from(fraction_value) * u128::from(multiplier);
        if fraction_bytes % u128::from(scale) != 0 {
            return Err(format!("`{text}` is not a whole number of bytes"));
        }
        let fraction_bytes =
            u64::try_from(fraction_bytes / u128::from(scale)).map_err(|_| too_big())?;
        whole_bytes
            .checked_add(fraction_bytes)
            .map(Size)
            .ok_or_else(too_big)
    }
}

impl fmt::Display for Size {
    /// The shortest exact spelling: `8GB`, `512MiB`, or bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 8] = [
            (1 << 40, "TiB"),
            (1_000_000_000_000, "TB"),
            (1 << 30, "GiB"),
            (1_000_000_000, "GB"),
            (1 << 20, "MiB"),
            (1_000_000, "MB"),
            (1 << 10, "KiB"),
            (1000, "kB"),
        ];
        for (unit, name) in UNITS {
            if self.0 >= unit && self.0.is_multiple_of(unit) {
                return write!(f, "{}{name}", self.0 / unit);
            }
        }
        write!(f, "{}B", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units() {
        assert_eq!(Size::parse("512MiB"), Ok(Size(512 << 20)));
        assert_eq!(Size::parse("8GB"), Ok(Size(8_000_000_000)));
        assert_eq!(Size::parse("8gb"), Ok(Size(8_000_000_000)));
        assert_eq!(Size::parse("3GiB"), Ok(Size(3 << 30)));
        assert_eq!(Size::parse("1.5GB"), Ok(Size(1_500_000_000)));
        assert_eq!(Size::parse("16 KiB"), Ok(Size(16384)));
        assert_eq!(Size::parse("100B"), Ok(Size(100)));
    }

    #[test]
    fn refusals() {
        assert!(Size::parse("8").unwrap_err().contains("no unit"));
        assert!(Size::parse("GB").unwrap_err().contains("not a size"));
        assert!(
            Size::parse("8 parsecs")
                .unwrap_err()
                .contains("not a size unit")
        );
        assert!(Size::parse("1.5B").unwrap_err().contains("whole number"));
        assert!(Size::parse("1..5GB").is_err());
        assert!(
            Size::parse("99999999999999999999TiB")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            Size::parse("20000000TiB")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn display_is_exact() {
        assert_eq!(Size(8_000_000_000).to_string(), "8GB");
        assert_eq!(Size(512 << 20).to_string(), "512MiB");
        assert_eq!(Size(1_500_000_000).to_string(), "1500MB");
        assert_eq!(Size(1234).to_string(), "1234B");
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,24}") {
            let _ = Size::parse(&text);
        }

        #[test]
        fn display_round_trips(bytes in any::<u64>()) {
            let size = Size(bytes);
            prop_assert_eq!(Size::parse(&size.to_string()), Ok(size));
        }
    }
}
