//! Which mke2fs the host has, and whether it can read a tar archive.
//!
//! `mke2fs -d` takes a tar archive since e2fsprogs 1.47.1 (Debian bookworm ships 1.47.0;
//! bookworm-backports has newer). The version is read from `mke2fs -V`; nothing else
//! about the host is probed here.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::Mke2fsError;

/// An e2fsprogs release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch number.
    pub patch: u32,
}

/// The first release whose `mke2fs -d` reads tar archives.
pub const MIN_VERSION: Version = Version {
    major: 1,
    minor: 47,
    patch: 1,
};

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Version {
    /// Reads the version from `mke2fs -V` output (`mke2fs 1.47.2 (1-Jan-2025)`); a
    /// missing patch number reads as 0, a suffix such as `-rc1` is ignored.
    pub fn parse_banner(output: &str) -> Option<Self> {
        let word = output
            .split_whitespace()
            .skip_while(|w| *w != "mke2fs")
            .nth(1)?;
        let mut numbers = word.split('.').map(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        let major = numbers.next()??;
        let minor = numbers.next()??;
        let patch = numbers.next().flatten().unwrap_or(0);
        Some(Self {
            major,
            minor,
            patch,
        })
    }
}

/// Finds `name` on `PATH`, then in `/usr/sbin` and `/sbin`, where Debian keeps e2fsprogs
/// and which an unprivileged user's `PATH` often lacks.
pub(super) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `mke2fs -V` and checks the version can read tar archives (1.47.1 or later).
pub fn check_version() -> Result<Version, Mke2fsError> {
    let program = find_program("mke2fs").ok_or(Mke2fsError::NotFound { program: "mke2fs" })?;
    check_version_of(&program)
}

/// [`check_version`] for a given program path.
pub(super) fn check_version_of(program: &Path) -> Result<Version, Mke2fsError> {
    let output = Command::new(program)
        .arg("-V")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Mke2fsError::Spawn {
            program: program.to_path_buf(),
            source,
        })?;
    // mke2fs prints its banner on standard error.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let version = Version::parse_banner(&text).ok_or_else(|| Mke2fsError::VersionUnreadable {
        output: text.trim().to_string(),
    })?;
    if version < MIN_VERSION {
        return Err(Mke2fsError::TooOld { found: version });
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_versions_parse_and_compare() {
        let v = Version::parse_banner(
            "mke2fs 1.47.2 (1-Jan-2025)\n\tUsing EXT2FS Library version 1.47.2",
        )
        .unwrap();
        assert_eq!(v.to_string(), "1.47.2");
        assert!(v >= MIN_VERSION);
        let old = Version::parse_banner("mke2fs 1.47.0 (5-Feb-2023)").unwrap();
        assert!(old < MIN_VERSION);
        assert_eq!(
            Version::parse_banner("mke2fs 1.48-rc1 (x)").unwrap().patch,
            0
        );
        assert!(Version::parse_banner("something else").is_none());
        let err = Mke2fsError::TooOld { found: old }.to_string();
        assert!(err.contains("bookworm-backports"), "{err}");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_banner_parses_or_fails_without_panicking(text in ".{0,80}") {
            let _ = Version::parse_banner(&text);
            let _ = Version::parse_banner(&format!("mke2fs {text}"));
        }

        #[test]
        fn any_uuid_text_parses_or_fails_without_panicking(text in "[0-9a-fA-F-é]{0,40}") {
            let _ = text.parse::<crate::image::mke2fs::FsUuid>();
        }
    }
}
