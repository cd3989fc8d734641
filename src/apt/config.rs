//! The image's own apt configuration, made to agree with the build: the base's sources with
//! the profile's prefix rewrites applied in place, and for each extra repository a sources
//! file, its key and a pin at the profile's priority, so `apt-get upgrade` on the node
//! behaves as the build did.
//!
//! Keys go to `/etc/apt/trusted.gpg.d/` in binary form: every generation's apt reads that
//! (Jessie's apt 1.0 knows neither `signed-by` nor armored `.asc` files there).

use base64::Engine as _;

use super::release::Release;
use super::rewrite::Rewrites;
use super::sources::SourcesFormat;
use crate::profile::Repository;
use crate::tree::{Inode, Kind, Timestamp, Tree, TreePath};

/// Files larger than this in `/etc/apt` are not rewritten (no real sources file is).
const MAX_SOURCES_BYTES: u64 = 1 << 20;

/// An extra repository as the image's apt configuration names it.
#[derive(Debug, Clone, Copy)]
pub struct ImageRepository<'a> {
    /// The profile's repository.
    pub repo: &'a Repository,
    /// Its key as obtained (armored or binary).
    pub key: &'a [u8],
    /// Its verified Release, for the pin.
    pub release: &'a Release,
}

fn put(tree: &mut Tree, path: &str, bytes: Vec<u8>, mtime: Timestamp) -> Result<(), String> {
    let at = TreePath::parse(path).map_err(|e| e.to_string())?;
    let dir = at.parent().unwrap_or_default();
    tree.create_dir_all(&dir, &Inode::dir(0o755, mtime))
        .map_err(|e| e.to_string())?;
    let at = tree.resolve(&at, false).map_err(|e| e.to_string())?;
    tree.replace(at, Inode::file(bytes, 0o644, mtime))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A key in OpenPGP's binary form: armored input is decoded, binary kept.
pub fn dearmor(key: &[u8]) -> Result<Vec<u8>, String> {
    let Ok(text) = std::str::from_utf8(key) else {
        return Ok(key.to_vec());
    };
    let Some(start) = text.find("-----BEGIN PGP PUBLIC KEY BLOCK-----") else {
        return Ok(key.to_vec());
    };
    let mut out = Vec::new();
    let mut blocks = 0;
    let mut rest = &text[start..];
    while let Some(begin) = rest.find("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        let body = &rest[begin..];
        let end = body
            .find("-----END PGP PUBLIC KEY BLOCK-----")
            .ok_or("an armored key block has no END line")?;
        let mut lines = body[..end].lines().skip(1);
        // Armor headers (Comment:, Version:) end at the first blank line.
        for line in lines.by_ref() {
            if line.trim().is_empty() {
                break;
            }
        }
        let data: String = lines
            .take_while(|l| !l.starts_with('='))
            .map(str::trim)
            .collect();
        out.extend(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| format!("an armored key block is not valid base64: {e}"))?,
        );
        blocks += 1;
        rest = &body[end..];
        rest = rest.get(1..).unwrap_or_default();
    }
    if blocks == 0 {
        return Err("no armored key block".to_string());
    }
    Ok(out)
}

/// Applies `rewrites` to the base's sources files in `tree`, and adds the extra
/// repositories' sources, keys and pins.
pub fn write_image_config(
    tree: &mut Tree,
    rewrites: &Rewrites,
    extra: &[ImageRepository<'_>],
    mtime: Timestamp,
) -> Result<(), String> {
    let mut lists = vec![("etc/apt/sources.list".to_string(), SourcesFormat::OneLine)];
    if let Ok(dir) = TreePath::parse("etc/apt/sources.list.d") {
        for (path, _) in tree.children(&dir) {
            let name = String::from_utf8_lossy(path.file_name().unwrap_or_default()).into_owned();
            if let Some(format) = SourcesFormat::from_file_name(&name) {
                lists.push((path.to_string(), format));
            }
        }
    }
    for (path, format) in lists {
        let at = TreePath::parse(&path).map_err(|e| e.to_string())?;
        let Some(Inode {
            kind: Kind::File { size, content },
            mode,
            uid,
            gid,
            ..
        }) = tree.get(&at).cloned()
        else {
            continue;
        };
        let bytes = content
            .read_to_vec(size, MAX_SOURCES_BYTES)
            .map_err(|e| format!("{path}: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8 text"))?;
        let rewritten = rewrites
            .apply_to_text(&text, &path, format)
            .map_err(|e| e.to_string())?;
        if rewritten != text {
            let mut inode = Inode::file(rewritten.into_bytes(), mode, mtime);
            inode.uid = uid;
            inode.gid = gid;
            tree.replace(at, inode).map_err(|e| e.to_string())?;
        }
    }
    for r in extra {
        let name = &r.repo.name;
        let mut line = format!(
            "deb {} {}",
            r.repo.uri.as_str().trim_end_matches('/'),
            r.repo.suite
        );
        for component in &r.repo.components {
            line.push(' ');
            line.push_str(component);
        }
        put(
            tree,
            &format!("etc/apt/sources.list.d/pi-imager-{name}.list"),
            format!("# Added by pi-imager from the profile's [[repository]] `{name}`.\n{line}\n")
                .into_bytes(),
            mtime,
        )?;
        put(
            tree,
            &format!("etc/apt/trusted.gpg.d/pi-imager-{name}.gpg"),
            dearmor(r.key).map_err(|e| format!("repository {name}: {e}"))?,
            mtime,
        )?;
        let mut pin = Vec::new();
        if let Some(origin) = &r.release.origin {
            pin.push(format!("o={origin}"));
        }
        match (&r.release.codename, &r.release.suite) {
            (Some(codename), _) => pin.push(format!("n={codename}")),
            (None, Some(suite)) => pin.push(format!("a={suite}")),
            (None, None) => pin.push(format!("a={}", r.repo.suite)),
        }
        put(
            tree,
            &format!("etc/apt/preferences.d/pi-imager-{name}"),
            format!(
                "# Added by pi-imager: the profile's priority for [[repository]] `{name}`.\nPackage: *\nPin: release {}\nPin-Priority: {}\n",
                pin.join(","),
                r.repo.priority
            )
            .into_bytes(),
            mtime,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dearmor_decodes_blocks_and_keeps_binary() {
        let armored = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: x\n\nmQIN\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";
        assert_eq!(
            dearmor(armored).unwrap(),
            base64::engine::general_purpose::STANDARD
                .decode("mQIN")
                .unwrap()
        );
        assert_eq!(dearmor(&[0x99, 1, 2]).unwrap(), vec![0x99, 1, 2]);
        assert!(dearmor(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n").is_err());
    }
}
