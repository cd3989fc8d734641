//! Reads `debugfs` directory listings (`ls -p <ino>`) to learn which inode number mke2fs
//! gave each path.
//!
//! debugfs finds a path by scanning each directory on the way linearly, so naming tens of
//! thousands of files by path costs time quadratic in directory size. Listing each
//! directory once and then naming inodes as `<ino>` costs one scan per directory. Names
//! are raw bytes and may hold newlines; only `/` cannot occur in them, which is what the
//! parser relies on. Nothing here runs debugfs.

use std::collections::{HashMap, HashSet};

use crate::tree::TreePath;

/// The inode number of the root directory in every ext2/3/4 filesystem.
pub(super) const ROOT_INO: u32 = 2;

/// One directory's listing: its inode number and its entries as (name, inode number).
pub(super) type Listing = (u32, Vec<(Vec<u8>, u32)>);

/// Parses the standard output of a debugfs run of `ls -p <N>` commands (one `-f` script):
/// each listing starts with the echoed command `debugfs: ls -p <N>`, then one
/// `/ino/mode/uid/gid/name/size/` line per entry. Anything else is skipped.
pub(super) fn parse_listings(out: &[u8]) -> Vec<Listing> {
    let mut listings: Vec<Listing> = Vec::new();
    let mut pos = 0;
    while let Some(rest) = out.get(pos..).filter(|r| !r.is_empty()) {
        if let Some(command) = rest.strip_prefix(b"debugfs: ") {
            let end = line_end(command);
            if let Some(ino) = command.get(..end).and_then(bracketed_number) {
                listings.push((ino, Vec::new()));
            }
            pos += b"debugfs: ".len() + end;
        } else if rest.first() == Some(&b'/') {
            // Seven slashes delimit six fields; the name may hold anything but `/`.
            let mut fields: Vec<&[u8]> = Vec::with_capacity(6);
            let mut at = 1;
            while fields.len() < 6 {
                let Some(len) = rest
                    .get(at..)
                    .and_then(|r| r.iter().position(|&b| b == b'/'))
                else {
                    return listings;
                };
                fields.push(&rest[at..at + len]);
                at += len + 1;
            }
            let ino = std::str::from_utf8(fields[0])
                .ok()
                .and_then(|s| s.parse::<u32>().ok());
            if let (Some(ino), Some((_, entries))) = (ino, listings.last_mut()) {
                entries.push((fields[4].to_vec(), ino));
            }
            pos += at;
        } else {
            pos += line_end(rest);
        }
    }
    listings
}

/// The length of the first line of `bytes` including its newline.
fn line_end(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |n| n + 1)
}

/// The number between `<` and `>` in a line such as `ls -p <12>`.
fn bracketed_number(line: &[u8]) -> Option<u32> {
    let start = line.iter().position(|&b| b == b'<')? + 1;
    let len = line.get(start..)?.iter().position(|&b| b == b'>')?;
    std::str::from_utf8(line.get(start..start + len)?)
        .ok()?
        .parse()
        .ok()
}

/// Walks the filesystem one depth at a time: `list` runs `ls -p` on the given directory
/// inodes and returns the parsed listings. Returns the inode number of every path in
/// `wanted` (and of their parent directories) that the filesystem holds.
pub(super) fn resolve<E>(
    wanted: &HashSet<&TreePath>,
    mut list: impl FnMut(&[u32]) -> Result<Vec<Listing>, E>,
) -> Result<HashMap<TreePath, u32>, E> {
    let mut dirs: HashSet<TreePath> = HashSet::new();
    for path in wanted {
        let mut parent = path.parent();
        while let Some(dir) = parent {
            parent = dir.parent();
            if !dirs.insert(dir) {
                break;
            }
        }
    }
    let mut numbers = HashMap::new();
    numbers.insert(TreePath::root(), ROOT_INO);
    let mut level = vec![TreePath::root()];
    while !level.is_empty() {
        let by_ino: HashMap<u32, &TreePath> = level
            .iter()
            .filter_map(|dir| numbers.get(dir).map(|ino| (*ino, dir)))
            .collect();
        let inos: Vec<u32> = by_ino.keys().copied().collect();
        let mut next = Vec::new();
        for (dir_ino, entries) in list(&inos)? {
            let Some(dir) = by_ino.get(&dir_ino) else {
                continue;
            };
            for (name, ino) in entries {
                let Ok(child) = dir.join(&name) else {
                    continue; // `.`, `..`
                };
                let is_dir = dirs.contains(&child);
                if is_dir || wanted.contains(&child) {
                    if is_dir {
                        next.push(child.clone());
                    }
                    numbers.insert(child, ino);
                }
            }
        }
        next.sort();
        level = next;
    }
    Ok(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &[u8] = b"debugfs: ls -p <2>\n\
/2/040755/0/0/.//\n/2/040755/0/0/..//\n/12/040755/0/0/etc//\n\
/13/100644/0/0/new\nline/5/\n/14/100644/0/0/debugfs: ls -p <99>/0/\n\n\
debugfs: ls -p <12>\n/12/040755/0/0/.//\n/15/100600/7/8/passwd/30/\n\n";

    #[test]
    fn listings_keep_names_with_newlines_and_lookalike_commands() {
        let listings = parse_listings(OUTPUT);
        assert_eq!(listings.len(), 2);
        assert_eq!(listings[0].0, 2);
        let names: Vec<(String, u32)> = listings[0]
            .1
            .iter()
            .map(|(n, i)| (String::from_utf8_lossy(n).into_owned(), *i))
            .collect();
        assert_eq!(names[3], ("new\nline".to_string(), 13));
        assert_eq!(names[4], ("debugfs: ls -p <99>".to_string(), 14));
        assert_eq!(
            listings[1],
            (12, vec![(b".".to_vec(), 12), (b"passwd".to_vec(), 15)])
        );
    }

    #[test]
    fn truncated_or_garbage_output_does_not_panic() {
        for end in 0..OUTPUT.len() {
            let _ = parse_listings(&OUTPUT[..end]);
        }
        let _ = parse_listings(b"debugfs: ls -p <x>\n/a/b/\n/////////\n<>");
    }

    #[test]
    fn resolve_walks_only_the_needed_directories() {
        let passwd = TreePath::parse("etc/passwd").unwrap();
        let wanted: HashSet<&TreePath> = [&passwd].into_iter().collect();
        let mut asked = Vec::new();
        let numbers = resolve::<()>(&wanted, |inos| {
            asked.push(inos.to_vec());
            let all = parse_listings(OUTPUT);
            Ok(all.into_iter().filter(|(i, _)| inos.contains(i)).collect())
        })
        .unwrap();
        assert_eq!(numbers.get(&passwd), Some(&15));
        assert_eq!(asked, vec![vec![2], vec![12]]);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn random_output_never_panics(bytes in proptest::collection::vec(
            prop_oneof![Just(b'/'), Just(b'\n'), Just(b'<'), Just(b'>'), any::<u8>()], 0..300)) {
            let mut out = b"debugfs: ls -p <2>\n".to_vec();
            out.extend_from_slice(&bytes);
            let _ = parse_listings(&out);
            let _ = parse_listings(&bytes);
        }
    }
}
