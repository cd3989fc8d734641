//! The digests a build is named and checked by: the profile's (what the ids come from),
//! the profile's inputs (what a lock must still match) and a directory tree's (overlays).
//!
//! Digests are of meaning, not of bytes on disk: the profile is parsed and written back in a
//! canonical form, so comments, key order, whitespace and the file's mtime change nothing;
//! a tree digest covers names, types, modes and contents, never host owners or times.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fetch::{hash_file, hex};

/// Keys that change where the build fetches from but never what the image holds.
const NOT_IN_PROFILE_DIGEST: &[&str] = &["mirrors"];

/// The profile's digest: SHA-256 of its canonical JSON form (keys sorted, comments and
/// layout gone), without the keys that cannot change the image.
pub fn profile_digest(text: &str) -> Result<[u8; 32], toml::de::Error> {
    let mut table: toml::Table = toml::from_str(text)?;
    for key in NOT_IN_PROFILE_DIGEST {
        table.remove(*key);
    }
    Ok(canonical_digest(&table))
}

/// The digest of what a lock pins the resolution of: the base's location and rewrites, the
/// repositories and the package requests. A profile whose inputs digest differs from its
/// lock's no longer matches it. `base.sha256` is left out: it is checked against the lock
/// on its own, so writing the pinned digest into the profile keeps the lock valid.
pub fn inputs_digest(text: &str) -> Result<[u8; 32], toml::de::Error> {
    let table: toml::Table = toml::from_str(text)?;
    let mut inputs = toml::Table::new();
    if let Some(toml::Value::Table(base)) = table.get("base") {
        let mut base = base.clone();
        base.remove("sha256");
        inputs.insert("base".to_owned(), toml::Value::Table(base));
    }
    for key in ["repository", "packages"] {
        if let Some(value) = table.get(key) {
            inputs.insert(key.to_owned(), value.clone());
        }
    }
    Ok(canonical_digest(&inputs))
}

fn canonical_digest(table: &toml::Table) -> [u8; 32] {
    // toml's Table is ordered by key, so the JSON text is canonical.
    let json = serde_json::to_string(table).unwrap_or_default();
    Sha256::digest(json.as_bytes()).into()
}

/// The digest of directory trees, in order: each entry's relative path, type, executable
/// bit (what an overlay keeps of a mode) and contents or link target. Host owners, times and
/// other mode bits do not reach the image, so they do not reach the digest either.
pub fn trees_digest(roots: &[&Path]) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    for (index, root) in roots.iter().enumerate() {
        hasher.update(format!("tree {index}\n").as_bytes());
        walk(root, Path::new(""), &mut hasher)?;
    }
    Ok(hasher.finalize().into())
}

fn walk(root: &Path, rel: &Path, hasher: &mut Sha256) -> std::io::Result<()> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = fs_err::read_dir(&dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let rel = rel.join(entry.file_name());
        let path = entry.path();
        let meta = fs_err::symlink_metadata(&path)?;
        let name = rel.to_string_lossy();
        if meta.file_type().is_symlink() {
            let target = fs_err::read_link(&path)?;
            hasher.update(format!("l {name} -> {}\n", target.to_string_lossy()).as_bytes());
        } else if meta.is_dir() {
            hasher.update(format!("d {name}\n").as_bytes());
            walk(root, &rel, hasher)?;
        } else {
            use std::os::unix::fs::PermissionsExt;
            let exec = meta.permissions().mode() & 0o111 != 0;
            let (digest, _) = hash_file(&path)?;
            hasher.update(format!("f {name} {} {}\n", u8::from(exec), hex(&digest)).as_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_comments_do_not_change_the_profile_digest() {
        let a = "[image]\nname = \"blog\"\nboard = \"pi3\"\n";
        let b = "# a comment\n[image]\nboard = 'pi3'   # trailing\nname = \"blog\"\n";
        assert_eq!(profile_digest(a).unwrap(), profile_digest(b).unwrap());
        let c = "[image]\nname = \"blog\"\nboard = \"pi2\"\n";
        assert_ne!(profile_digest(a).unwrap(), profile_digest(c).unwrap());
    }

    #[test]
    fn mirrors_change_neither_digest_and_hostnames_only_the_profile_digest() {
        let a = "[packages]\ninstall = [\"nginx\"]\n[system]\nhostname = \"a\"\n";
        let b = "[packages]\ninstall = [\"nginx\"]\n[system]\nhostname = \"b\"\n[mirrors]\n\"http://example.org/d\" = \"repo\"\n";
        assert_eq!(inputs_digest(a).unwrap(), inputs_digest(b).unwrap());
        assert_ne!(profile_digest(a).unwrap(), profile_digest(b).unwrap());
        let c = "[packages]\ninstall = [\"nginx\", \"php-fpm\"]\n";
        assert_ne!(inputs_digest(a).unwrap(), inputs_digest(c).unwrap());
        let d = "[base]\nfile = \"x.img\"\nsha256 = \"00\"\n";
        let e = "[base]\nfile = \"x.img\"\n";
        assert_eq!(inputs_digest(d).unwrap(), inputs_digest(e).unwrap());
    }

    #[test]
    fn tree_digest_sees_contents_names_and_exec_bits_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::create_dir(root.join("etc")).unwrap();
        fs_err::write(root.join("etc/motd"), "hello\n").unwrap();
        let first = trees_digest(&[root]).unwrap();
        std::fs::set_permissions(
            root.join("etc/motd"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert_eq!(trees_digest(&[root]).unwrap(), first);
        std::fs::set_permissions(
            root.join("etc/motd"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_ne!(trees_digest(&[root]).unwrap(), first);
        std::fs::set_permissions(
            root.join("etc/motd"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        fs_err::write(root.join("etc/motd"), "hello!\n").unwrap();
        assert_ne!(trees_digest(&[root]).unwrap(), first);
    }
}
