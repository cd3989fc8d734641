//! The files of a package's `control.tar`: `control` itself, `conffiles`, `md5sums`, the
//! maintainer scripts and whatever else dpkg keeps in `/var/lib/dpkg/info`.
//!
//! Only what unpacking needs is parsed here (a field of `control`, the conffile list, the
//! md5sums lines); full deb822 parsing of `control` belongs to the deb822 reader.

use crate::tree::{TreeError, TreePath};

/// One file of `control.tar`, as dpkg keeps it in `/var/lib/dpkg/info/<pkg>.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    /// Its name (`control`, `md5sums`, `postinst`, …).
    pub name: String,
    /// Its permission bits (maintainer scripts are executable).
    pub mode: u32,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The files of `control.tar`, in archive order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControlFiles {
    /// The files.
    pub files: Vec<ControlFile>,
}

/// The lines of an `md5sums` file: each path with its MD5.
pub type Md5Sums = Vec<(TreePath, [u8; 16])>;

/// One line of `conffiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conffile {
    /// The conffile's path.
    pub path: TreePath,
    /// dpkg's `remove-on-upgrade` flag.
    pub remove_on_upgrade: bool,
}

impl ControlFiles {
    /// The control file called `name`.
    pub fn get(&self, name: &str) -> Option<&ControlFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The `control` file's bytes.
    pub fn control(&self) -> &[u8] {
        self.get("control").map_or(&[], |f| f.bytes.as_slice())
    }

    /// The value of field `name` in `control` (case-insensitive name; continuation lines
    /// joined with newlines, as dpkg-deb --field prints them).
    pub fn field(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(self.control());
        let mut value: Option<String> = None;
        for line in text.lines() {
            // Only the first paragraph is the package's.
            if line.is_empty() {
                break;
            }
            let continuation = line.starts_with([' ', '\t']);
            match (&mut value, continuation) {
                (Some(v), true) => {
                    v.push('\n');
                    v.push_str(line);
                }
                (Some(_), false) => break,
                (None, true) => {}
                (None, false) => {
                    if let Some((key, rest)) = line.split_once(':')
                        && key.eq_ignore_ascii_case(name)
                    {
                        value = Some(rest.trim().to_string());
                    }
                }
            }
        }
        value
    }

    /// The files dpkg keeps in its `info` directory: every control file but `control`
    /// itself, whose fields go into the `status` file instead.
    pub fn info_files(&self) -> impl Iterator<Item = &ControlFile> {
        self.files.iter().filter(|f| f.name != "control")
    }

    /// The conffiles the package declares, in order.
    pub fn conffiles(&self) -> Result<Vec<Conffile>, TreeError> {
        let Some(file) = self.get("conffiles") else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for line in String::from_utf8_lossy(&file.bytes).lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (remove_on_upgrade, path) = match line.split_once(' ') {
                Some(("remove-on-upgrade", path)) => (true, path.trim()),
                _ => (false, line),
            };
            out.push(Conffile {
                path: TreePath::parse(path)?,
                remove_on_upgrade,
            });
        }
        Ok(out)
    }

    /// The package's `md5sums`: each path with its digest; `None` when the package has
    /// none. A malformed line is an error naming it.
    pub fn md5sums(&self) -> Option<Result<Md5Sums, String>> {
        let file = self.get("md5sums")?;
        let mut out = Vec::new();
        for line in file.bytes.split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let bad = || format!("malformed md5sums line `{}`", String::from_utf8_lossy(line));
            let parsed = line
                .split_at_checked(32)
                .ok_or_else(bad)
                .and_then(|(digest, rest)| {
                    let path = rest
                        .strip_prefix(b"  ")
                        .or_else(|| rest.strip_prefix(b" *"))
                        .ok_or_else(bad)?;
                    let md5 = parse_hex16(digest).ok_or_else(bad)?;
                    let path = TreePath::parse(path).map_err(|e| format!("{}: {e}", bad()))?;
                    Ok((path, md5))
                });
            match parsed {
                Ok(entry) => out.push(entry),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(out))
    }
}

fn parse_hex16(text: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    for (i, pair) in text.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control_with(name: &str, bytes: &[u8]) -> ControlFiles {
        ControlFiles {
            files: vec![ControlFile {
                name: name.into(),
                mode: 0o644,
                bytes: bytes.to_vec(),
            }],
        }
    }

    #[test]
    fn fields_and_continuations() {
        let c = control_with(
            "control",
            b"Package: hello\nVersion: 1.0-1\nDescription: short\n long line\n .\nsection: x\n",
        );
        assert_eq!(c.field("package").as_deref(), Some("hello"));
        assert_eq!(
            c.field("Description").as_deref(),
            Some("short\n long line\n .")
        );
        assert_eq!(c.field("Section").as_deref(), Some("x"));
        assert_eq!(c.field("Depends"), None);
    }

    #[test]
    fn md5sums_and_conffiles_parse() {
        let c = control_with(
            "md5sums",
            b"b1946ac92492d2347c6235b4d2611184  usr/share/x\n",
        );
        let sums = c.md5sums().unwrap().unwrap();
        assert_eq!(sums[0].0, TreePath::parse("usr/share/x").unwrap());
        assert_eq!(sums[0].1[0], 0xb1);
        let bad = control_with("md5sums", b"zz  x\n");
        assert!(bad.md5sums().unwrap().is_err());
        let c = control_with("conffiles", b"/etc/a\nremove-on-upgrade /etc/b\n\n");
        let conf = c.conffiles().unwrap();
        assert_eq!(conf.len(), 2);
        assert!(conf[1].remove_on_upgrade);
        assert!(
            control_with("conffiles", b"/etc/../x\n")
                .conffiles()
                .is_err()
        );
    }
}
