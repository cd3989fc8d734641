//! Which Raspberry Pi OS generation a base image is, and the conventions that differ by
//! generation (where the boot partition is mounted, which network configuration system it
//! runs).
//!
//! The generation is read from the root tree's os-release `VERSION_CODENAME`, falling back
//! to the major number in `/etc/debian_version` (Raspbian Jessie's os-release has no
//! codename). This module only answers questions; it changes no file.

use crate::base::OsRelease;
use crate::profile::{Generation, Keyword, Renderer};
use crate::tree::{Kind, Tree, TreePath};

/// `/etc/debian_version` is a line of text; a larger file is not read.
const MAX_DEBIAN_VERSION: u64 = 4096;

/// Why the generation could not be told.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    /// Neither os-release nor debian_version names a generation pi-imager knows.
    #[error(
        "the base image's Raspberry Pi OS generation cannot be told (os-release VERSION_CODENAME: {codename}, /etc/debian_version: {debian_version}); set `generation` in the profile's [base] to one of {known}"
    )]
    Unknown {
        /// The codename found, or `none`.
        codename: String,
        /// The debian_version text found, or `none`.
        debian_version: String,
        /// The generations pi-imager knows.
        known: String,
    },
}

/// The base's generation: the profile's override when given, else what the tree says.
pub fn detect(
    root: &Tree,
    profile_override: Option<Generation>,
) -> Result<Generation, GenerationError> {
    if let Some(generation) = profile_override {
        return Ok(generation);
    }
    let codename = OsRelease::from_tree(root)
        .and_then(|r| r.get("VERSION_CODENAME").map(str::to_owned))
        .filter(|c| !c.is_empty());
    if let Some(generation) = codename.as_deref().and_then(Generation::from_keyword) {
        return Ok(generation);
    }
    let debian_version = read_small(root, "etc/debian_version");
    if let Some(generation) = debian_version.as_deref().and_then(from_debian_version) {
        return Ok(generation);
    }
    Err(GenerationError::Unknown {
        codename: codename.map_or_else(|| "none".to_owned(), |c| format!("`{c}`")),
        debian_version: debian_version
            .map_or_else(|| "none".to_owned(), |v| format!("`{}`", v.trim())),
        known: Generation::KEYWORDS.join(", "),
    })
}

/// The generation `/etc/debian_version` names: `8.0` is jessie, `bookworm/sid` bookworm.
pub fn from_debian_version(text: &str) -> Option<Generation> {
    let text = text.lines().next()?.trim();
    let major = text.split(['.', '/']).next()?;
    match major {
        "8" => Some(Generation::Jessie),
        "9" => Some(Generation::Stretch),
        "10" => Some(Generation::Buster),
        "11" => Some(Generation::Bullseye),
        "12" => Some(Generation::Bookworm),
        "13" => Some(Generation::Trixie),
        name => Generation::from_keyword(name),
    }
}

/// Where the generation mounts the boot partition.
pub fn boot_mount_point(generation: Generation) -> &'static str {
    match generation {
        Generation::Jessie | Generation::Stretch | Generation::Buster | Generation::Bullseye => {
            "/boot"
        }
        Generation::Bookworm | Generation::Trixie => "/boot/firmware",
    }
}

/// The network configuration system the generation runs out of the box.
pub fn default_renderer(generation: Generation) -> Renderer {
    match generation {
        Generation::Jessie | Generation::Stretch | Generation::Buster | Generation::Bullseye => {
            Renderer::Dhcpcd
        }
        Generation::Bookworm | Generation::Trixie => Renderer::NetworkManager,
    }
}

fn read_small(root: &Tree, path: &str) -> Option<String> {
    let path = TreePath::parse(path).ok()?;
    let inode = root.lookup(&path).ok()?;
    match &inode.kind {
        Kind::File { size, content } => content
            .read_to_vec(*size, MAX_DEBIAN_VERSION)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Inode, Timestamp};

    fn tree(files: &[(&str, &str)]) -> Tree {
        let t = Timestamp::from_secs(0);
        let mut tree = Tree::new(Inode::dir(0o755, t));
        tree.insert(TreePath::parse("etc").unwrap(), Inode::dir(0o755, t))
            .unwrap();
        for (path, text) in files {
            tree.insert(
                TreePath::parse(path).unwrap(),
                Inode::file(text.as_bytes().to_vec(), 0o644, t),
            )
            .unwrap();
        }
        tree
    }

    #[test]
    fn codename_wins_then_debian_version() {
        let bookworm = tree(&[(
            "etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n",
        )]);
        assert_eq!(detect(&bookworm, None).unwrap(), Generation::Bookworm);
        let jessie = tree(&[
            (
                "etc/os-release",
                "VERSION=\"8 (jessie)\"\nVERSION_ID=\"8\"\n",
            ),
            ("etc/debian_version", "8.0\n"),
        ]);
        assert_eq!(detect(&jessie, None).unwrap(), Generation::Jessie);
        let testing = tree(&[("etc/debian_version", "trixie/sid\n")]);
        assert_eq!(detect(&testing, None).unwrap(), Generation::Trixie);
    }

    #[test]
    fn the_override_wins_and_unknown_says_what_to_set() {
        let sid = tree(&[
            ("etc/os-release", "VERSION_CODENAME=forky\n"),
            ("etc/debian_version", "forky/sid\n"),
        ]);
        assert_eq!(
            detect(&sid, Some(Generation::Trixie)).unwrap(),
            Generation::Trixie
        );
        let message = detect(&sid, None).unwrap_err().to_string();
        assert!(message.contains("`forky`"), "{message}");
        assert!(message.contains("`generation` in the profile's [base]"));
        let empty = tree(&[]);
        assert!(
            detect(&empty, None)
                .unwrap_err()
                .to_string()
                .contains("none")
        );
    }

    #[test]
    fn debian_version_majors() {
        for (text, generation) in [
            ("9.13", Generation::Stretch),
            ("10.4\n", Generation::Buster),
            ("11.11", Generation::Bullseye),
            ("12.7", Generation::Bookworm),
            ("13.1", Generation::Trixie),
        ] {
            assert_eq!(from_debian_version(text), Some(generation));
        }
        assert_eq!(from_debian_version("7.11"), None);
        assert_eq!(from_debian_version(""), None);
    }

    #[test]
    fn conventions_by_generation() {
        assert_eq!(boot_mount_point(Generation::Bullseye), "/boot");
        assert_eq!(boot_mount_point(Generation::Trixie), "/boot/firmware");
        assert_eq!(default_renderer(Generation::Jessie), Renderer::Dhcpcd);
        assert_eq!(
            default_renderer(Generation::Bookworm),
            Renderer::NetworkManager
        );
    }
}
