//! `/etc/fstab` as lines: the entries the node stage changes are rewritten, every other
//! line (comments, blank lines, entries it does not touch) is kept byte for byte.
//!
//! Fields are compared unescaped (`\040` is a space, as fstab(5) and `getmntent` read it)
//! and written escaped. This module knows the file's syntax, not which entries a node
//! needs: boot, swap and storage decide that.

/// One mount entry of fstab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `fs_spec`: the device, such as `PARTUUID=1a2b3c4d-02` or `proc`.
    pub device: String,
    /// `fs_file`: the mount point (unescaped), or `none` for swap.
    pub mount_point: String,
    /// `fs_vfstype`.
    pub fstype: String,
    /// `fs_mntops`, comma-separated.
    pub options: String,
    /// `fs_freq`.
    pub dump: String,
    /// `fs_passno`.
    pub pass: String,
}

impl Entry {
    fn render(&self) -> String {
        format!(
            "{}  {}  {}  {}  {}  {}",
            escape(&self.device),
            escape(&self.mount_point),
            escape(&self.fstype),
            escape(&self.options),
            self.dump,
            self.pass
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// An entry and, while unchanged, the text it was read from.
    Entry(Entry, Option<String>),
    /// A comment, a blank line or a line too short to be an entry: kept as it was.
    Other(String),
}

/// The file, line by line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fstab {
    lines: Vec<Line>,
}

impl Fstab {
    /// Parses fstab text; lines that are not entries are kept as they are.
    pub fn parse(text: &str) -> Self {
        let lines = text
            .lines()
            .map(|line| {
                let content = line.split('#').next().unwrap_or_default();
                let fields: Vec<&str> = content.split_whitespace().collect();
                match fields.as_slice() {
                    [device, mount_point, fstype, rest @ ..] if !line.trim().starts_with('#') => {
                        let entry = Entry {
                            device: unescape(device),
                            mount_point: unescape(mount_point),
                            fstype: unescape(fstype),
                            options: rest.first().map_or("defaults".to_owned(), |o| unescape(o)),
                            dump: rest.get(1).unwrap_or(&"0").to_string(),
                            pass: rest.get(2).unwrap_or(&"0").to_string(),
                        };
                        Line::Entry(entry, Some(line.to_owned()))
                    }
                    _ => Line::Other(line.to_owned()),
                }
            })
            .collect();
        Self { lines }
    }

    /// The text, one line per entry, ending in a newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Entry(_, Some(text)) | Line::Other(text) => out.push_str(text),
                Line::Entry(entry, None) => out.push_str(&entry.render()),
            }
            out.push('\n');
        }
        out
    }

    /// The entries, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.lines.iter().filter_map(|l| match l {
            Line::Entry(e, _) => Some(e),
            Line::Other(_) => None,
        })
    }

    /// Changes every entry `pick` selects with `change`; returns how many were picked.
    pub fn update(
        &mut self,
        mut pick: impl FnMut(&Entry) -> bool,
        mut change: impl FnMut(&mut Entry),
    ) -> usize {
        let mut picked = 0;
        for line in &mut self.lines {
            if let Line::Entry(entry, original) = line
                && pick(entry)
            {
                picked += 1;
                let before = entry.clone();
                change(entry);
                if *entry != before {
                    *original = None;
                }
            }
        }
        picked
    }

    /// Removes the entries `drop` selects; returns how many were removed.
    pub fn remove(&mut self, mut drop: impl FnMut(&Entry) -> bool) -> usize {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(l, Line::Entry(e, _) if drop(e)));
        before - self.lines.len()
    }

    /// Puts `entry` in place of every entry with the same mount point (the first keeps its
    /// place, later ones go), or appends it.
    pub fn set(&mut self, entry: Entry) {
        let mut placed = false;
        self.lines.retain_mut(|line| match line {
            Line::Entry(e, original) if e.mount_point == entry.mount_point => {
                if placed {
                    return false;
                }
                placed = true;
                if *e != entry {
                    *e = entry.clone();
                    *original = None;
                }
                true
            }
            _ => true,
        });
        if !placed {
            self.lines.push(Line::Entry(entry, None));
        }
    }
}

/// fstab's octal escapes for the characters that would end a field.
fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            '#' => out.push_str("\\043"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')));
        match (b, octal) {
            (b'\\', Some(value)) if value <= 0xff => {
                out.push(value as u8);
                i += 4;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const JESSIE: &str = "proc            /proc           proc    defaults          0       0\n/dev/mmcblk0p1  /boot           vfat    defaults          0       2\n/dev/mmcblk0p2  /               ext4    defaults,noatime  0       1\n# a swapfile is not a swap partition, no line here\n#   use  dphys-swapfile swap[on|off]  for that\n";

    #[test]
    fn untouched_lines_are_kept_byte_for_byte() {
        assert_eq!(Fstab::parse(JESSIE).render(), JESSIE);
        assert_eq!(Fstab::parse(JESSIE).entries().count(), 3);
    }

    #[test]
    fn update_set_and_remove() {
        let mut fstab = Fstab::parse(JESSIE);
        let n = fstab.update(
            |e| e.mount_point == "/",
            |e| e.device = "PARTUUID=1a2b3c4d-02".into(),
        );
        assert_eq!(n, 1);
        fstab.set(Entry {
            device: "LABEL=www".into(),
            mount_point: "/var/my www".into(),
            fstype: "ext4".into(),
            options: "defaults,nofail".into(),
            dump: "0".into(),
            pass: "2".into(),
        });
        assert_eq!(fstab.remove(|e| e.fstype == "proc"), 1);
        let text = fstab.render();
        assert!(text.contains("PARTUUID=1a2b3c4d-02  /  ext4  defaults,noatime  0  1\n"));
        assert!(text.contains("/dev/mmcblk0p1  /boot           vfat"));
        assert!(text.ends_with("LABEL=www  /var/my\\040www  ext4  defaults,nofail  0  2\n"));
        let again = Fstab::parse(&text);
        assert!(again.entries().any(|e| e.mount_point == "/var/my www"));
    }

    #[test]
    fn set_replaces_every_entry_of_a_mount_point_once() {
        let mut fstab = Fstab::parse("a /x ext4 defaults 0 2\nb /x ext4 defaults 0 2\n");
        fstab.set(Entry {
            device: "c".into(),
            mount_point: "/x".into(),
            fstype: "ext4".into(),
            options: "defaults".into(),
            dump: "0".into(),
            pass: "2".into(),
        });
        assert_eq!(fstab.render(), "c  /x  ext4  defaults  0  2\n");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn any_text_parses_and_renders(text in "[ -~\t\n\\\\]{0,300}") {
            let fstab = Fstab::parse(&text);
            let rendered = fstab.render();
            prop_assert_eq!(Fstab::parse(&rendered).render(), rendered);
        }
    }
}
