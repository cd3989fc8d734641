//! Storage on other drives: each `[[mount]]` becomes an fstab line (`defaults` plus the
//! profile's options, pass 2), its mount point exists in the tree, and each service in
//! `required_by` gets `/etc/systemd/system/<svc>.service.d/pi-imager-mounts.conf` with
//! `RequiresMountsFor=`, so the site is never served from, nor written to, the SD card when
//! the drive is missing. [`drive_tree`] turns a `[mount.image]`'s content into a tree for
//! the image writer.
//!
//! The drive image's bytes are the `image` stage's; this module only says what goes in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::NodeContext;
use super::config_file::rewrite;
use super::edit::{EditError, Editor};
use super::fstab::{Entry, Fstab};
use crate::profile::Mount;
use crate::tree::{Content, Inode, Kind, Timestamp, Tree, TreeError, TreePath};

/// The name of the drop-in each required service gets.
pub const DROP_IN: &str = "pi-imager-mounts.conf";

/// The most entries a drive's content may have (a guard against a mistyped `content`
/// naming `/`).
const MAX_ENTRIES: usize = 1_000_000;

/// Why the mounts or a drive's tree could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The mount point exists in the image but is not a directory.
    #[error(
        "{path} in the image is not a directory, so the drive cannot be mounted there; choose another mount.path"
    )]
    NotADirectory {
        /// The mount point.
        path: String,
    },
    /// The drive's content folder could not be read.
    #[error("cannot read the drive's content {}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The content holds something a drive image cannot carry.
    #[error(
        "{} is a {kind}; a drive's content holds only folders, regular files and symbolic links",
        path.display()
    )]
    Unsupported {
        /// The entry.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The content has more entries than pi-imager copies.
    #[error(
        "the drive's content {} has more than {MAX_ENTRIES} entries; check mount.image.content", path.display()
    )]
    TooMany {
        /// The content folder.
        path: PathBuf,
    },
    /// A name in the content cannot be a path of the tree.
    #[error("{}: {source}", path.display())]
    Name {
        /// The entry.
        path: PathBuf,
        /// Why.
        source: TreeError,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// Writes fstab lines, mount points and `RequiresMountsFor=` drop-ins for every mount.
pub fn apply(root: &mut Editor, ctx: &NodeContext) -> Result<(), StorageError> {
    let mounts = ctx.profile.mounts();
    if mounts.is_empty() {
        return Ok(());
    }
    let text = root.read_text("/etc/fstab")?.unwrap_or_default();
    let mut fstab = Fstab::parse(&text);
    let mut required: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for mount in mounts {
        fstab.set(fstab_entry(mount));
        match root.inode(&mount.path)? {
            Some(inode) if !inode.is_dir() => {
                return Err(StorageError::NotADirectory {
                    path: mount.path.clone(),
                });
            }
            Some(_) => {}
            None => root.mkdir(&mount.path, 0o755, 0, 0)?,
        }
        for service in &mount.required_by {
            required.entry(service).or_default().push(&mount.path);
        }
    }
    rewrite(root, "/etc/fstab", &fstab.render(), 0o644)?;
    for (service, paths) in required {
        root.write(
            &format!("/etc/systemd/system/{service}.d/{DROP_IN}"),
            drop_in(&paths),
            0o644,
        )?;
    }
    Ok(())
}

/// The fstab entry of a mount.
pub fn fstab_entry(mount: &Mount) -> Entry {
    let mut options = vec!["defaults".to_owned()];
    options.extend(mount.options.iter().cloned());
    Entry {
        device: mount.device.to_string(),
        mount_point: mount.path.clone(),
        fstype: mount.fstype.clone(),
        options: options.join(","),
        dump: "0".into(),
        pass: "2".into(),
    }
}

/// The drop-in text requiring `paths` to be mounted.
pub fn drop_in(paths: &[&str]) -> String {
    let quoted: Vec<String> = paths.iter().map(|p| unit_path(p)).collect();
    format!(
        "# Written by pi-imager: this service must not start without its drive.\n[Unit]\nRequiresMountsFor={}\n",
        quoted.join(" ")
    )
}

/// A path as a unit file's list value: `%` doubled (specifiers), quoted when it has blanks.
fn unit_path(path: &str) -> String {
    let escaped = path.replace('%', "%%");
    if escaped.contains([' ', '\t', '"', '\\']) {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// The `[mount.image]` drive's content as a tree: root-owned, folders 0755, files 0644 or
/// 0755 by their owner's execute bit, every time `mtime`; the host's owners, times and
/// umask never reach it. `None` when the mount asks for no image; an empty tree when it
/// has no content.
pub fn drive_tree(mount: &Mount, mtime: Timestamp) -> Result<Option<Tree>, StorageError> {
    let Some(image) = &mount.image else {
        return Ok(None);
    };
    let mut tree = Tree::new(Inode::dir(0o755, mtime));
    if let Some(dir) = &image.content {
        let mut count = 0;
        copy_dir(&mut tree, dir, &TreePath::root(), mtime, &mut count, dir)?;
    }
    Ok(Some(tree))
}

fn copy_dir(
    tree: &mut Tree,
    dir: &Path,
    at: &TreePath,
    mtime: Timestamp,
    count: &mut usize,
    top: &Path,
) -> Result<(), StorageError> {
    let read = |source| StorageError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        *count += 1;
        if *count > MAX_ENTRIES {
            return Err(StorageError::TooMany {
                path: top.to_path_buf(),
            });
        }
        let host = entry.path();
        let name = entry.file_name();
        let path = at
            .join(std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()))
            .map_err(|source| StorageError::Name {
                path: host.clone(),
                source,
            })?;
        let meta = std::fs::symlink_metadata(&host).map_err(|source| StorageError::Read {
            path: host.clone(),
            source,
        })?;
        let file_type = meta.file_type();
        let inode = if file_type.is_dir() {
            Inode::dir(0o755, mtime)
        } else if file_type.is_file() {
            let mode = if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o100 != 0
            {
                0o755
            } else {
                0o644
            };
            Inode::new(
                Kind::File {
                    size: meta.len(),
                    content: Content::HostFile(host.clone()),
                },
                mode,
                mtime,
            )
        } else if file_type.is_symlink() {
            let target = std::fs::read_link(&host).map_err(|source| StorageError::Read {
                path: host.clone(),
                source,
            })?;
            Inode::symlink(
                std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()).to_vec(),
                mtime,
            )
        } else {
            return Err(StorageError::Unsupported {
                path: host,
                kind: "device, pipe or socket",
            });
        };
        let is_dir = inode.is_dir();
        tree.insert(path.clone(), inode)
            .map_err(|source| StorageError::Name {
                path: host.clone(),
                source,
            })?;
        if is_dir {
            copy_dir(tree, &host, &path, mtime, count, top)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Device, MountImage, Size};

    fn mount() -> Mount {
        Mount {
            path: "/var/www".into(),
            device: Device::Label("www".into()),
            fstype: "ext4".into(),
            options: vec!["noatime".into(), "nofail".into()],
            required_by: vec!["nginx.service".into()],
            image: None,
        }
    }

    #[test]
    fn fstab_line_and_drop_in() {
        let entry = fstab_entry(&mount());
        assert_eq!(entry.options, "defaults,noatime,nofail");
        assert_eq!(entry.pass, "2");
        assert_eq!(
            drop_in(&["/var/www", "/srv/my data", "/srv/100%"]),
            "# Written by pi-imager: this service must not start without its drive.\n[Unit]\nRequiresMountsFor=/var/www \"/srv/my data\" /srv/100%%\n"
        );
    }

    #[test]
    fn drive_tree_is_root_owned_with_normalised_modes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("html")).unwrap();
        std::fs::write(dir.path().join("html/index.html"), b"<p>hi</p>").unwrap();
        std::fs::write(dir.path().join("run.sh"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            dir.path().join("run.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        std::os::unix::fs::symlink("html/index.html", dir.path().join("index.html")).unwrap();
        let mut m = mount();
        assert!(drive_tree(&m, Timestamp::from_secs(5)).unwrap().is_none());
        m.image = Some(MountImage {
            size: Size::from_bytes(32 << 20),
            content: Some(dir.path().to_path_buf()),
        });
        let tree = drive_tree(&m, Timestamp::from_secs(5)).unwrap().unwrap();
        let get = |p: &str| tree.get(&TreePath::parse(p).unwrap()).unwrap().clone();
        assert_eq!(get("html").mode & 0o7777, 0o755);
        assert_eq!(get("html/index.html").mode & 0o7777, 0o644);
        assert_eq!(get("run.sh").mode & 0o7777, 0o755);
        assert_eq!((get("run.sh").uid, get("run.sh").gid), (0, 0));
        assert_eq!(get("run.sh").mtime, Timestamp::from_secs(5));
        assert!(matches!(get("index.html").kind, Kind::Symlink(ref t) if t == b"html/index.html"));
    }
}
