//! SHA-256 digests as the manifest writes them: 64 lowercase hexadecimal digits.
//!
//! One spelling only: uppercase or short digests are refused when parsing, so two
//! manifests that say the same thing are the same bytes. This module does not hash
//! anything itself; `describe` does.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum(pub [u8; 32]);

impl Checksum {
    /// The digest of `bytes`, computed at once (for small inputs such as a profile).
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// The 64-digit lowercase hexadecimal form.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl From<[u8; 32]> for Checksum {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({self})")
    }
}

/// Why a text is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SHA-256 digest: 64 lowercase hexadecimal digits are expected")]
pub struct BadChecksum(pub String);

impl FromStr for Checksum {
    type Err = BadChecksum;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadChecksum(s.chars().take(80).collect());
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            let (Some(hi), Some(lo)) = (
                pair.first().copied().and_then(digit),
                pair.get(1).copied().and_then(digit),
            ) else {
                return Err(bad());
            };
            *byte = hi << 4 | lo;
        }
        Ok(Self(out))
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_round_trips() {
        let c = Checksum::of(b"abc");
        let hex = c.to_hex();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex.parse::<Checksum>().unwrap(), c);
        assert!(hex.to_ascii_uppercase().parse::<Checksum>().is_err());
        assert!(hex[1..].parse::<Checksum>().is_err());
        assert!(format!("{}g", &hex[1..]).parse::<Checksum>().is_err());
        assert!("é".repeat(32).parse::<Checksum>().is_err());
    }
}
