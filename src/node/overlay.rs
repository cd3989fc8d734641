//! Overlays (`[files] overlays`): directory trees on the build host copied onto the root
//! filesystem in order, so a later overlay (and every overlay, since they come last) can
//! replace what came before.
//!
//! Only the *shape* of an overlay comes from the host: every entry is owned by root:root,
//! directories get 0755, files 0755 or 0644 by their executable bit, and all get the build's
//! time, so the host's uid, gid, mtime and umask never reach the image. Other owners and
//! modes are declared in the overlay's `overlay.toml` (`[[entry]] path, mode, owner,
//! group`), names resolved in the image's own `/etc/passwd` and `/etc/group`. Symbolic links
//! are copied as links, never followed on the host. This module does not hash overlays
//! (the lock does) and copies no special files (devices, fifos, sockets).

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{EditError, Editor, NodeContext, users};
use crate::tree::{Content, Inode, Kind, TreePath};

/// The overlay's metadata file, at its top; it is not copied.
pub const MANIFEST: &str = "overlay.toml";
/// The largest `overlay.toml` read (a real one is a few lines).
const MAX_MANIFEST: u64 = 1 << 20;

/// Why an overlay could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// A host file or directory of the overlay cannot be read.
    #[error("cannot read overlay entry {}: {source}", path.display())]
    Read {
        /// The host path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A name the image's paths cannot hold as text.
    #[error("overlay entry {} has a name that is not UTF-8; rename it", path.display())]
    NotUtf8 {
        /// The host path.
        path: PathBuf,
    },
    /// A device, fifo or socket.
    #[error("overlay entry {} is not a file, directory or symbolic link; overlays copy only those", path.display())]
    Unsupported {
        /// The host path.
        path: PathBuf,
    },
    /// The tree refused an entry.
    #[error("cannot copy overlay entry {} into the image: {source}", path.display())]
    Place {
        /// The host path.
        path: PathBuf,
        /// Why.
        source: EditError,
    },
    /// An `overlay.toml` entry could not be applied to the tree.
    #[error("{}: cannot set the attributes of `{entry}` in the image: {source}", manifest.display())]
    Attributes {
        /// The manifest's host path.
        manifest: PathBuf,
        /// The entry's path.
        entry: String,
        /// Why.
        source: EditError,
    },
    /// `overlay.toml` is not valid.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest's host path.
        path: PathBuf,
        /// What is wrong, for the user.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    entry: Vec<Entry>,
}

/// One `[[entry]]` of `overlay.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    path: String,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

/// Copies every overlay of the profile onto `root`, in order.
pub fn apply(root: &mut Editor, ctx: &NodeContext) -> Result<(), OverlayError> {
    for dir in ctx.profile.overlays() {
        apply_overlay(root, dir)?;
    }
    Ok(())
}

/// Copies one overlay directory onto `root` and applies its `overlay.toml`.
pub fn apply_overlay(root: &mut Editor, dir: &Path) -> Result<(), OverlayError> {
    let manifest_path = dir.join(MANIFEST);
    let manifest = read_manifest(&manifest_path)?;
    let copied = copy_tree(root, dir)?;
    if let Some(manifest) = manifest {
        for entry in &manifest.entry {
            apply_entry(root, &manifest_path, entry, &copied)?;
        }
    }
    Ok(())
}

fn read_manifest(path: &Path) -> Result<Option<Manifest>, OverlayError> {
    let read_err = |source| OverlayError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    let message = if !meta.is_file() {
        Some("overlay.toml must be a regular file".to_owned())
    } else if meta.len() > MAX_MANIFEST {
        Some(format!(
            "overlay.toml has {} bytes; it may have at most 1 MiB",
            meta.len()
        ))
    } else {
        None
    };
    if let Some(message) = message {
        return Err(OverlayError::Manifest {
            path: path.to_path_buf(),
            message,
        });
    }
    let bytes = fs_err::read(path).map_err(read_err)?;
    let text = String::from_utf8(bytes).map_err(|_| OverlayError::Manifest {
        path: path.to_path_buf(),
        message: "overlay.toml is not UTF-8 text".to_owned(),
    })?;
    parse_manifest(&text, path).map(Some)
}

fn parse_manifest(text: &str, path: &Path) -> Result<Manifest, OverlayError> {
    toml::from_str(text).map_err(|e| OverlayError::Manifest {
        path: path.to_path_buf(),
        message: format!(
            "not a valid overlay manifest ([[entry]] with path, mode, owner, group): {}",
            e.message()
        ),
    })
}

/// Copies the overlay's entries (sorted, depth first) and returns their tree paths.
fn copy_tree(root: &mut Editor, dir: &Path) -> Result<BTreeSet<TreePath>, OverlayError> {
    let mut copied = BTreeSet::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((host_dir, rel_dir)) = pending.pop() {
        let read_err = |source| OverlayError::Read {
            path: host_dir.clone(),
            source,
        };
        let mut names: Vec<std::ffi::OsString> = fs_err::read_dir(&host_dir)
            .map_err(read_err)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(read_err)?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut subdirs = Vec::new();
        for name in names {
            let host = host_dir.join(&name);
            if rel_dir.is_empty() && name == MANIFEST {
                continue;
            }
            let Some(name) = name.to_str() else {
                return Err(OverlayError::NotUtf8 { path: host });
            };
            let rel = format!("{rel_dir}/{name}");
            let place_err = |source| OverlayError::Place {
                path: host.clone(),
                source,
            };
            let meta = fs_err::symlink_metadata(&host).map_err(|source| OverlayError::Read {
                path: host.clone(),
                source,
            })?;
            let mtime = root.mtime();
            let file_type = meta.file_type();
            if file_type.is_dir() {
                root.mkdir(&rel, 0o755, 0, 0).map_err(place_err)?;
                subdirs.push((host.clone(), rel.clone()));
            } else if file_type.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                let kind = Kind::File {
                    size: meta.len(),
                    content: Content::HostFile(host.clone()),
                };
                root.put(&rel, Inode::new(kind, mode, mtime))
                    .map_err(place_err)?;
            } else if file_type.is_symlink() {
                let target = fs_err::read_link(&host).map_err(|source| OverlayError::Read {
                    path: host.clone(),
                    source,
                })?;
                let inode = Inode::symlink(target.as_os_str().as_bytes().to_vec(), mtime);
                root.put(&rel, inode).map_err(place_err)?;
            } else {
                return Err(OverlayError::Unsupported { path: host });
            }
            if let Ok(path) = TreePath::parse(&rel) {
                copied.insert(path);
            }
        }
        // Reversed so the stack visits subdirectories in name order.
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(copied)
}

/// Applies one `[[entry]]` to a path the overlay copied.
fn apply_entry(
    root: &mut Editor,
    manifest: &Path,
    entry: &Entry,
    copied: &BTreeSet<TreePath>,
) -> Result<(), OverlayError> {
    let err = |message: String| OverlayError::Manifest {
        path: manifest.to_path_buf(),
        message,
    };
    let path = TreePath::parse(entry.path.trim_start_matches('/'))
        .ok()
        .filter(|p| copied.contains(p))
        .ok_or_else(|| {
            err(format!(
                "entry path `{}` is not a file or directory of this overlay",
                entry.path
            ))
        })?;
    let mode = match &entry.mode {
        Some(text) => Some(
            u32::from_str_radix(text, 8)
                .ok()
                .filter(|m| *m <= 0o7777 && !text.is_empty())
                .ok_or_else(|| {
                    err(format!(
                        "entry `{}`: mode `{text}` is not an octal mode such as \"0640\"",
                        entry.path
                    ))
                })?,
        ),
        None => None,
    };
    let place = |source| OverlayError::Attributes {
        manifest: manifest.to_path_buf(),
        entry: entry.path.clone(),
        source,
    };
    let uid = match &entry.owner {
        Some(name) => Some(users::uid_of(root, name).map_err(place)?.ok_or_else(|| {
            err(format!(
                "entry `{}`: owner `{name}` is not in the image's /etc/passwd",
                entry.path
            ))
        })?),
        None => None,
    };
    let gid = match &entry.group {
        Some(name) => Some(users::gid_of(root, name).map_err(place)?.ok_or_else(|| {
            err(format!(
                "entry `{}`: group `{name}` is not in the image's /etc/group",
                entry.path
            ))
        })?),
        None => None,
    };
    let text_path = path.to_string();
    let resolved = root
        .tree()
        .resolve(&path, false)
        .ok()
        .and_then(|p| root.tree().get(&p).cloned());
    let Some(mut inode) = resolved else {
        return Err(err(format!(
            "entry `{}` was replaced before its attributes could be set",
            entry.path
        )));
    };
    if let Some(mode) = mode {
        if matches!(inode.kind, Kind::Symlink(_)) {
            return Err(err(format!(
                "entry `{}` is a symbolic link, which has no mode of its own",
                entry.path
            )));
        }
        inode.mode = mode;
    }
    inode.uid = uid.unwrap_or(inode.uid);
    inode.gid = gid.unwrap_or(inode.gid);
    root.put(&text_path, inode).map_err(place)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::sample_base::{Fixture, bookworm};
    use proptest::prelude::*;
    use std::os::unix::fs::PermissionsExt;

    fn overlay(dir: &Path) {
        let o = dir.join("overlays/common");
        std::fs::create_dir_all(o.join("etc/ssl/private")).unwrap();
        std::fs::create_dir_all(o.join("usr/local/bin")).unwrap();
        std::fs::create_dir_all(o.join("lib/systemd/system")).unwrap();
        std::fs::write(o.join("etc/motd"), "blog\n").unwrap();
        std::fs::write(o.join("etc/ssl/private/site.key"), "KEY").unwrap();
        std::fs::write(o.join("usr/local/bin/hello"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            o.join("usr/local/bin/hello"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::set_permissions(o.join("etc/motd"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::fs::write(o.join("lib/systemd/system/x.service"), "[Unit]\n").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", o.join("etc/outside")).unwrap();
        // A link to a host directory: copied as a link, its host contents never read.
        let host = dir.join("host-secrets");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("secret"), "host").unwrap();
        std::os::unix::fs::symlink(&host, o.join("etc/hostdir")).unwrap();
        std::fs::write(
            o.join(MANIFEST),
            "[[entry]]\npath = \"etc/ssl/private\"\nmode = \"0710\"\nowner = \"root\"\ngroup = \"ssl-cert\"\n\n[[entry]]\npath = \"/etc/ssl/private/site.key\"\nmode = \"0640\"\ngroup = \"ssl-cert\"\n",
        )
        .unwrap();
    }

    fn fixture(manifest: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.img"), b"img").unwrap();
        overlay(dir.path());
        if let Some(text) = manifest {
            std::fs::write(dir.path().join("overlays/common").join(MANIFEST), text).unwrap();
        }
        Fixture::in_dir(
            dir,
            bookworm(),
            "[files]\noverlays = [\"overlays/common\"]\n",
        )
    }

    fn run(fx: &mut Fixture) -> Result<(), String> {
        fx.apply(|root, _boot, ctx, _| apply(root, ctx).map_err(|e| e.to_string()))
    }

    #[test]
    fn host_attributes_never_reach_the_image() {
        let mut fx = fixture(None);
        run(&mut fx).unwrap();
        let motd = fx.inode("/etc/motd");
        assert_eq!(
            (motd.mode, motd.uid, motd.gid, motd.mtime.secs),
            (0o644, 0, 0, 1_700_000_000)
        );
        assert_eq!(fx.inode("/usr/local/bin/hello").mode, 0o755);
        assert_eq!(fx.inode("/usr/local/bin").mode, 0o755);
        // Merged /usr: lib/... lands in usr/lib through the image's own link.
        assert!(fx.exists("/usr/lib/systemd/system/x.service"));
        assert_eq!(fx.link("/etc/outside"), "/etc/shadow");
        assert!(fx.link("/etc/hostdir").ends_with("host-secrets"));
        assert!(
            !fx.root_changed
                .iter()
                .any(|p| p.to_string().contains("secret"))
        );
        assert!(!fx.exists("/overlay.toml"));
        let private = fx.inode("/etc/ssl/private");
        assert_eq!((private.mode, private.uid, private.gid), (0o710, 0, 110));
        let key = fx.inode("/etc/ssl/private/site.key");
        assert_eq!((key.mode, key.gid), (0o640, 110));
        assert_eq!(fx.text("/etc/ssl/private/site.key"), "KEY");
    }

    #[test]
    fn bad_manifests_name_the_file() {
        for (text, needle) in [
            ("[[entry]]\npath = \"etc/nope\"\n", "etc/nope"),
            ("[[entry]]\npath = \"etc/motd\"\nmode = \"0999\"\n", "0999"),
            (
                "[[entry]]\npath = \"etc/motd\"\nowner = \"mallory\"\n",
                "mallory",
            ),
            ("[[entry]]\npath = \"../etc/motd\"\n", "../etc/motd"),
            (
                "[[entry]]\npath = \"etc/motd\"\ncolour = \"red\"\n",
                "colour",
            ),
            (
                "[[entry]]\npath = \"etc/outside\"\nmode = \"0600\"\n",
                "symbolic link",
            ),
        ] {
            let mut fx = fixture(Some(text));
            let err = run(&mut fx).unwrap_err();
            assert!(
                err.contains("overlay.toml") && err.contains(needle),
                "{err}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn hostile_manifests_never_panic(text in "(\\[\\[entry\\]\\]\n|path = \"[a-z/.]{0,12}\"\n|mode = \"[0-9]{0,6}\"\n|owner = \"[a-z]{0,5}\"\n|group = \"(ssl-cert|root|x)\"\n|[ -~\n]{0,20})*") {
            let _ = parse_manifest(&text, Path::new("overlay.toml"));
            // And applied to a tree: an error or a change, never a panic.
            let mut fx = fixture(Some(&text));
            if let Err(e) = run(&mut fx) {
                prop_assert!(e.contains("overlay.toml"), "{}", e);
            }
        }
    }
}
