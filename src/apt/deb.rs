//! Reading a `.deb` into a [`DebPackage`]: its control files and its data entries, with
//! every regular file's bytes already staged in the [`ContentStore`].
//!
//! The whole archive is read and checked before anything uses it: the `ar` members
//! (`debian-binary` = `2.x`, one `control.tar[.gz|.xz|.zst]`, one
//! `data.tar[.gz|.xz|.zst|.bz2]`, dpkg's `_`-prefixed extras ignored), the tar streams, and
//! every path. Paths are normalised as dpkg normalises them: leading `/` and `./` are
//! dropped, so `/etc/x` and `./etc/x` both mean the image's `/etc/x` (dpkg strips the slash
//! the same way rather than refusing it); any `..` component is refused, because dpkg would
//! follow it out of its `--root`. A hard link must name a regular file that came earlier in
//! the same archive. Decompressed sizes are capped ([`DebLimits`]), declared sizes are
//! checked against what the member can still hold, and every error names the `.deb` and the
//! member. Applying the package to a tree is `unpack`'s job; parsing `control` fields beyond
//! the few needed here belongs to the deb822 reader.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::ar::{self, ArError, ArMember};
use super::compression::{CapExceeded, CappedReader, Compression};
use super::content::{ContentError, ContentStore};
use super::control_files::{ControlFile, ControlFiles};
use super::tar::{TarError, TarHeader, TarKind, TarReader};
use crate::image::io::{ImageFile, ReadAt};
use crate::tree::{Content, TreeError, TreePath};

/// Caps on what one `.deb` may decompress to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebLimits {
    /// The most bytes `control.tar` may decompress to.
    pub max_control: u64,
    /// The most bytes `data.tar` may decompress to.
    pub max_data: u64,
    /// The most entries `data.tar` may hold (the largest Debian packages have about
    /// 100,000), so a stream of empty entries cannot fill memory with metadata.
    pub max_entries: usize,
}

impl Default for DebLimits {
    fn default() -> Self {
        Self {
            max_control: 64 << 20,
            max_data: 8 << 30,
            max_entries: 1 << 20,
        }
    }
}

/// Why a `.deb` could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// The file could not be opened.
    #[error("{deb}: cannot open the package: {source}")]
    Open {
        /// The package file.
        deb: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The `ar` container is broken.
    #[error("{deb}: {source}")]
    Ar {
        /// The package file.
        deb: PathBuf,
        /// The error.
        source: ArError,
    },
    /// The first member is not `debian-binary`, or holds no `2.x` version.
    #[error("{deb}: not a Debian binary package ({reason})")]
    NotADeb {
        /// The package file.
        deb: PathBuf,
        /// What was found.
        reason: String,
    },
    /// A member dpkg does not know (including an unknown compression suffix).
    #[error(
        "{deb}: member `{member}` is not one dpkg reads (control.tar and data.tar may be plain or .gz, .xz, .zst; data.tar also .bz2)"
    )]
    UnknownMember {
        /// The package file.
        deb: PathBuf,
        /// The member.
        member: String,
    },
    /// A member that must appear once appears again.
    #[error("{deb}: member `{member}` appears twice")]
    DuplicateMember {
        /// The package file.
        deb: PathBuf,
        /// The member.
        member: String,
    },
    /// A required member is missing.
    #[error("{deb}: the package has no `{member}` member")]
    MissingMember {
        /// The package file.
        deb: PathBuf,
        /// The missing member.
        member: &'static str,
    },
    /// Decompressed data larger than allowed.
    #[error(
        "{deb}: member `{member}` decompresses to more than {limit} bytes; refusing it as a decompression bomb"
    )]
    TooLarge {
        /// The package file.
        deb: PathBuf,
        /// The member.
        member: String,
        /// The cap.
        limit: u64,
    },
    /// The member's compressed stream or tar structure is broken.
    #[error("{deb}: member `{member}`: {source}")]
    Tar {
        /// The package file.
        deb: PathBuf,
        /// The member.
        member: String,
        /// The error.
        source: TarError,
    },
    /// A path that cannot be placed in the tree (`..`, NUL, over-long names).
    #[error("{deb}: member `{member}`: entry `{path}` is refused: {source}")]
    BadPath {
        /// The package file.
        deb: PathBuf,
        /// The member.
        member: String,
        /// The path as stored.
        path: String,
        /// Why.
        source: TreeError,
    },
    /// An entry that is well-formed tar but not acceptable in a package.
    #[error("{deb}: member `{member}`: entry `{path}`: {reason}")]
    BadEntry {
        /// The package file.
        deb: PathBuf,
        /// The member.
        member: String,
        /// The path as stored.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A file's data could not be read or stored.
    #[error("{deb}: member `{member}`: entry `{path}`: {source}")]
    Content {
        /// The package file.
        deb: PathBuf,
        /// The member.
        member: String,
        /// The path as stored.
        path: String,
        /// The error.
        source: ContentError,
    },
    /// More data entries than allowed.
    #[error("{deb}: member `{member}` holds more than {limit} entries; refusing it")]
    TooManyEntries {
        /// The package file.
        deb: PathBuf,
        /// The member.
        member: String,
        /// The limit.
        limit: usize,
    },
    /// `control.tar` has no `control` file.
    #[error("{deb}: control.tar holds no `control` file")]
    MissingControl {
        /// The package file.
        deb: PathBuf,
    },
}

/// What a data entry is, with what only that type has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataKind {
    /// A directory.
    Dir,
    /// A regular file whose bytes are staged.
    File {
        /// Its length.
        size: u64,
        /// Where its bytes are.
        content: Content,
        /// Its MD5, computed while staging.
        md5: [u8; 16],
    },
    /// A symbolic link to this target, as stored.
    Symlink(Vec<u8>),
    /// Another name of an earlier regular file of the same archive.
    HardLink(TreePath),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One entry of `data.tar`, its path normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEntry {
    /// Where it goes (the root for `./`).
    pub path: TreePath,
    /// What it is.
    pub kind: DataKind,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Owner id as stored.
    pub uid: u32,
    /// Group id as stored.
    pub gid: u32,
    /// Owner name as stored (may be empty).
    pub uname: Vec<u8>,
    /// Group name as stored (may be empty).
    pub gname: Vec<u8>,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// A read and checked `.deb`.
#[derive(Debug, Clone)]
pub struct DebPackage {
    /// The package file, for messages.
    pub file: PathBuf,
    /// The control files.
    pub control: ControlFiles,
    /// The data entries in archive order.
    pub entries: Vec<DataEntry>,
    /// The compression of `control.tar`.
    pub control_compression: Compression,
    /// The compression of `data.tar`.
    pub data_compression: Compression,
}

impl DebPackage {
    /// Opens and reads the `.deb` at `path`, staging contents in `store`.
    pub fn open(path: &Path, store: &ContentStore, limits: &DebLimits) -> Result<Self, DebError> {
        let file = ImageFile::open(path).map_err(|source| DebError::Open {
            deb: path.to_path_buf(),
            source,
        })?;
        Self::read(path, &file, store, limits)
    }

    /// Reads a `.deb` from `src`; `name` is used in messages.
    pub fn read<R: ReadAt + ?Sized>(
        name: &Path,
        src: &R,
        store: &ContentStore,
        limits: &DebLimits,
    ) -> Result<Self, DebError> {
        let deb = name.to_path_buf();
        let members = ar::read_members(src).map_err(|source| DebError::Ar {
            deb: deb.clone(),
            source,
        })?;
        let (control_member, control_compression, data_member, data_compression) =
            pick_members(&deb, src, &members)?;
        let control = read_control(&deb, src, control_member, control_compression, limits)?;
        let entries = read_data(&deb, src, data_member, data_compression, store, limits)?;
        Ok(Self {
            file: deb,
            control,
            entries,
            control_compression,
            data_compression,
        })
    }
}

type Picked<'a> = (&'a ArMember, Compression, &'a ArMember, Compression);

/// Checks the member sequence as dpkg does and picks the two tar members.
fn pick_members<'a, R: ReadAt + ?Sized>(
    deb: &Path,
    src: &R,
    members: &'a [ArMember],
) -> Result<Picked<'a>, DebError> {
    let not_deb = |reason: String| DebError::NotADeb {
        deb: deb.to_path_buf(),
        reason,
    };
    let first = members
        .first()
        .ok_or_else(|| not_deb("the archive is empty".into()))?;
    if first.name != "debian-binary" {
        return Err(not_deb(format!(
            "the first member is `{}`, not `debian-binary`",
            first.name
        )));
    }
    let mut version = vec![0u8; usize::try_from(first.size.min(64)).unwrap_or(0)];
    src.read_exact_at(&mut version, first.offset)
        .map_err(|e| not_deb(format!("debian-binary cannot be read: {e}")))?;
    if !version.starts_with(b"2.") {
        return Err(not_deb(format!(
            "debian-binary says `{}`, and only format 2.x exists",
            String::from_utf8_lossy(&version).trim_end()
        )));
    }
    let mut control = None;
    let mut data = None;
    for member in members.get(1..).unwrap_or(&[]) {
        if member.name.starts_with('_') {
            continue;
        }
        let (slot, compression) =
            if let Some(c) = Compression::for_member(&member.name, "control.tar") {
                (&mut control, c)
            } else if let Some(c) = Compression::for_member(&member.name, "data.tar") {
                (&mut data, c)
            } else {
                return Err(DebError::UnknownMember {
                    deb: deb.to_path_buf(),
                    member: member.name.clone(),
                });
            };
        if slot.is_some() {
            return Err(DebError::DuplicateMember {
                deb: deb.to_path_buf(),
                member: member.name.clone(),
            });
        }
        *slot = Some((member, compression));
    }
    let missing = |member| DebError::MissingMember {
        deb: deb.to_path_buf(),
        member,
    };
    let (cm, cc) = control.ok_or_else(|| missing("control.tar"))?;
    let (dm, dc) = data.ok_or_else(|| missing("data.tar"))?;
    Ok((cm, cc, dm, dc))
}

/// Reads the bytes of one member through positioned reads.
struct MemberReader<'a, R: ?Sized> {
    src: &'a R,
    pos: u64,
    end: u64,
}

impl<R: ReadAt + ?Sized> Read for MemberReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        if n == 0 {
            return Ok(0);
        }
        self.src.read_exact_at(&mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A tar reader over a member, decompressed and capped at `cap` bytes.
fn open_tar<'a, R: ReadAt + ?Sized>(
    deb: &Path,
    src: &'a R,
    member: &ArMember,
    compression: Compression,
    cap: u64,
) -> Result<TarReader<CappedReader<Box<dyn Read + 'a>>>, DebError> {
    let raw = MemberReader {
        src,
        pos: member.offset,
        end: member.offset.saturating_add(member.size),
    };
    let decoder = compression
        .decoder(io::BufReader::with_capacity(64 << 10, raw))
        .map_err(|e| DebError::Tar {
            deb: deb.to_path_buf(),
            member: member.name.clone(),
            source: TarError::Io {
                offset: 0,
                source: e,
            },
        })?;
    // A plain tar cannot hold more than the member; a compressed one no more than the cap.
    let limit = if compression == Compression::None {
        member.size.min(cap)
    } else {
        cap
    };
    Ok(TarReader::new(CappedReader::new(decoder, cap), limit))
}

fn is_cap(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<CapExceeded>())
}

/// Turns a tar error into a [`DebError`], recognising the decompression cap.
/// An entry declaring more than the cap leaves room for is reported as the bomb it is,
/// unless the member is a plain tar, where the member's own size was the bound.
fn tar_error(
    deb: &Path,
    member: &ArMember,
    cap: u64,
    compression: Compression,
    source: TarError,
) -> DebError {
    let too_large = match &source {
        TarError::Io { source: e, .. } => is_cap(e),
        TarError::SizeTooLarge { .. } => compression != Compression::None || member.size > cap,
        _ => false,
    };
    if too_large {
        return DebError::TooLarge {
            deb: deb.to_path_buf(),
            member: member.name.clone(),
            limit: cap,
        };
    }
    DebError::Tar {
        deb: deb.to_path_buf(),
        member: member.name.clone(),
        source,
    }
}

fn read_control<R: ReadAt + ?Sized>(
    deb: &Path,
    src: &R,
    member: &ArMember,
    compression: Compression,
    limits: &DebLimits,
) -> Result<ControlFiles, DebError> {
    let cap = limits.max_control;
    let mut tar = open_tar(deb, src, member, compression, cap)?;
    let mut files: Vec<ControlFile> = Vec::new();
    let bad_entry = |header: &TarHeader, reason: &str| DebError::BadEntry {
        deb: deb.to_path_buf(),
        member: member.name.clone(),
        path: String::from_utf8_lossy(&header.path).into_owned(),
        reason: reason.to_string(),
    };
    while let Some(header) = tar
        .next_header()
        .map_err(|e| tar_error(deb, member, cap, compression, e))?
    {
        let path = TreePath::parse(&header.path).map_err(|source| DebError::BadPath {
            deb: deb.to_path_buf(),
            member: member.name.clone(),
            path: String::from_utf8_lossy(&header.path).into_owned(),
            source,
        })?;
        if path.is_root() && header.kind == TarKind::Dir {
            continue;
        }
        if header.kind != TarKind::File || path.depth() != 1 {
            return Err(bad_entry(
                &header,
                "control.tar may hold only plain files at its top level",
            ));
        }
        let name = String::from_utf8_lossy(path.file_name().unwrap_or_default()).into_owned();
        if files.iter().any(|f| f.name == name) {
            return Err(bad_entry(&header, "the control file appears twice"));
        }
        // The cap bounds the size, so this allocation is bounded too.
        let mut bytes = Vec::with_capacity(usize::try_from(header.size).unwrap_or(0));
        tar.data().read_to_end(&mut bytes).map_err(|e| {
            tar_error(
                deb,
                member,
                cap,
                compression,
                TarError::Io {
                    offset: 0,
                    source: e,
                },
            )
        })?;
        files.push(ControlFile {
            name,
            mode: header.mode,
            bytes,
        });
    }
    let control = ControlFiles { files };
    if control.get("control").is_none() {
        return Err(DebError::MissingControl {
            deb: deb.to_path_buf(),
        });
    }
    Ok(control)
}

fn read_data<R: ReadAt + ?Sized>(
    deb: &Path,
    src: &R,
    member: &ArMember,
    compression: Compression,
    store: &ContentStore,
    limits: &DebLimits,
) -> Result<Vec<DataEntry>, DebError> {
    let cap = limits.max_data;
    let mut tar = open_tar(deb, src, member, compression, cap)?;
    let mut entries = Vec::new();
    // Regular files seen so far, for hard links (a link must follow its target).
    let mut files: HashMap<TreePath, usize> = HashMap::new();
    while let Some(header) = tar
        .next_header()
        .map_err(|e| tar_error(deb, member, cap, compression, e))?
    {
        if entries.len() >= limits.max_entries {
            return Err(DebError::TooManyEntries {
                deb: deb.to_path_buf(),
                member: member.name.clone(),
                limit: limits.max_entries,
            });
        }
        let shown = || String::from_utf8_lossy(&header.path).into_owned();
        let bad_path = |source| DebError::BadPath {
            deb: deb.to_path_buf(),
            member: member.name.clone(),
            path: shown(),
            source,
        };
        let bad_entry = |reason: String| DebError::BadEntry {
            deb: deb.to_path_buf(),
            member: member.name.clone(),
            path: shown(),
            reason,
        };
        let path = TreePath::parse(&header.path).map_err(bad_path)?;
        if path.is_root() && header.kind != TarKind::Dir {
            return Err(bad_entry("only a directory can stand for the root".into()));
        }
        let kind = match header.kind {
            TarKind::Dir => DataKind::Dir,
            TarKind::File => {
                let stored = store
                    .store(&mut tar.data(), header.size)
                    .map_err(|source| match &source {
                        ContentError::Read { source: e, .. } if is_cap(e) => DebError::TooLarge {
                            deb: deb.to_path_buf(),
                            member: member.name.clone(),
                            limit: cap,
                        },
                        _ => DebError::Content {
                            deb: deb.to_path_buf(),
                            member: member.name.clone(),
                            path: shown(),
                            source,
                        },
                    })?;
                files.insert(path.clone(), entries.len());
                DataKind::File {
                    size: stored.size,
                    content: stored.content,
                    md5: stored.md5,
                }
            }
            TarKind::Symlink => {
                if header.link.is_empty() {
                    return Err(bad_entry("the symbolic link has an empty target".into()));
                }
                DataKind::Symlink(header.link.clone())
            }
            TarKind::HardLink => {
                let target = TreePath::parse(&header.link).map_err(bad_path)?;
                if !files.contains_key(&target) {
                    return Err(bad_entry(format!(
                        "hard link to `{}`, which is not a regular file earlier in the archive",
                        String::from_utf8_lossy(&header.link)
                    )));
                }
                DataKind::HardLink(target)
            }
            TarKind::CharDevice => DataKind::CharDevice {
                major: header.dev_major,
                minor: header.dev_minor,
            },
            TarKind::BlockDevice => DataKind::BlockDevice {
                major: header.dev_major,
                minor: header.dev_minor,
            },
            TarKind::Fifo => DataKind::Fifo,
        };
        if !matches!(kind, DataKind::File { .. }) {
            // A later non-file entry at the same path ends that path's life as a link target.
            files.remove(&path);
        }
        entries.push(DataEntry {
            path,
            kind,
            mode: header.mode,
            uid: header.uid,
            gid: header.gid,
            uname: header.uname,
            gname: header.gname,
            mtime: header.mtime,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::ar::tests::member;
    use crate::apt::tar::tests::archive;

    fn deb(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = ar::AR_MAGIC.to_vec();
        for (name, data) in members {
            out.extend(member(name, data));
        }
        out
    }

    fn read(bytes: &[u8]) -> Result<DebPackage, DebError> {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::new(dir.path());
        DebPackage::read(Path::new("t.deb"), bytes, &store, &DebLimits::default())
    }

    #[test]
    fn member_sequence_follows_dpkg() {
        let control = archive(&[("./", b'5', b""), ("./control", b'0', b"Package: t\n")]);
        let data = archive(&[
            ("./", b'5', b""),
            ("./f", b'0', b"data"),
            ("./l", b'1', b"./f"),
            ("./s", b'2', b"/f"),
        ]);
        let good = deb(&[
            ("debian-binary", b"2.0\n"),
            ("_gpgorigin", b"sig"),
            ("control.tar", &control),
            ("data.tar", &data),
        ]);
        let pkg = read(&good).unwrap();
        assert_eq!(pkg.control.field("Package").as_deref(), Some("t"));
        assert_eq!(pkg.entries.len(), 4);
        assert_eq!(
            pkg.entries[2].kind,
            DataKind::HardLink(TreePath::parse("f").unwrap())
        );
        assert_eq!(pkg.entries[3].kind, DataKind::Symlink(b"/f".to_vec()));

        let swapped = deb(&[("control.tar", &control), ("debian-binary", b"2.0\n")]);
        assert!(matches!(read(&swapped), Err(DebError::NotADeb { .. })));
        let twice = deb(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &control),
            ("control.tar.gz", &control),
        ]);
        assert!(matches!(
            read(&twice),
            Err(DebError::DuplicateMember { .. })
        ));
        let no_data = deb(&[("debian-binary", b"2.0\n"), ("control.tar", &control)]);
        assert!(matches!(
            read(&no_data),
            Err(DebError::MissingMember {
                member: "data.tar",
                ..
            })
        ));
        let no_control_file = archive(&[("./md5sums", b'0', b"")]);
        let bad = deb(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &no_control_file),
            ("data.tar", &data),
        ]);
        assert!(matches!(read(&bad), Err(DebError::MissingControl { .. })));
        let nested = archive(&[("./control", b'0', b"x"), ("./sub/x", b'0', b"")]);
        let bad = deb(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &nested),
            ("data.tar", &data),
        ]);
        assert!(matches!(read(&bad), Err(DebError::BadEntry { .. })));
    }
}
