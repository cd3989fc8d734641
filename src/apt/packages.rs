//! A repository's `Packages` index (already decompressed and checked against its Release)
//! read into compact [`IndexEntry`] records, each keeping where its raw paragraph lies so
//! the whole control data of a chosen package can be copied into dpkg's `status`.
//!
//! The index owns its text; records hold ranges into it, so a full Debian index (about
//! 60,000 paragraphs) is parsed without copying paragraph text. This module does not fetch,
//! decompress or verify digests, and does not choose between packages.

use std::ops::Range;

use super::deb822::{self, Options, Paragraph};
use super::package::{Control, Fields, Key, Origin, PackageError};
use super::release::parse_sha256;

/// One package of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The control fields.
    pub control: Control,
    /// `Filename`: the `.deb`'s path below the repository root.
    pub filename: String,
    /// `Size` of the `.deb` in bytes.
    pub size: u64,
    /// `SHA256` of the `.deb`.
    pub sha256: [u8; 32],
    /// The 1-based line where the paragraph starts.
    pub line: usize,
    /// The paragraph's byte range in the index text.
    raw: Range<usize>,
}

/// A parsed `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagesIndex {
    file: String,
    text: String,
    entries: Vec<IndexEntry>,
}

impl PackagesIndex {
    /// Parses an index; `file` names it in errors (e.g. the index URL).
    pub fn parse(text: String, file: &str) -> Result<PackagesIndex, PackageError> {
        // Archive paragraphs average about 800 bytes; reserving up front spares the
        // repeated copying of a vector that ends up tens of megabytes long.
        let mut entries = Vec::with_capacity(text.len() / 1024);
        for paragraph in deb822::paragraphs(&text, file, Options::STRICT) {
            entries.push(entry(&paragraph?, file)?);
        }
        Ok(PackagesIndex {
            file: file.to_owned(),
            text,
            entries,
        })
    }

    /// The file name given to [`PackagesIndex::parse`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The records, in index order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The full paragraph of a record of this index, as written (with its final newline).
    pub fn raw(&self, entry: &IndexEntry) -> &str {
        self.text.get(entry.raw.clone()).unwrap_or("")
    }

    /// The full paragraph of a record of this index, parsed again with every field.
    pub fn paragraph(&self, entry: &IndexEntry) -> Option<Paragraph<'_>> {
        deb822::paragraphs(self.raw(entry), &self.file, Options::STRICT)
            .next()
            .and_then(Result::ok)
    }
}

/// A `Filename` is a relative path below the repository: no `..`, no leading `/`, no blanks.
fn valid_filename(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.bytes().all(|b| b.is_ascii_graphic())
        && !path.split('/').any(|part| part == "..")
}

fn entry(paragraph: &Paragraph<'_>, file: &str) -> Result<IndexEntry, PackageError> {
    let fields = Fields::of(paragraph);
    let control = Control::parse(&fields, file, paragraph.line())?;
    let origin = Origin {
        file,
        line: paragraph.line(),
        package: &control.name,
    };
    let (filename, line) = fields
        .get(Key::Filename)
        .ok_or_else(|| origin.missing("Filename"))?;
    let filename = filename.trim();
    if !valid_filename(filename) {
        return Err(origin.bad_value(line, "Filename", filename, "a relative path without `..`"));
    }
    let (size, line) = fields
        .get(Key::Size)
        .ok_or_else(|| origin.missing("Size"))?;
    let size = size
        .trim()
        .parse::<u64>()
        .map_err(|_| origin.bad_value(line, "Size", size, "a size in bytes"))?;
    let (sha256, line) = fields
        .get(Key::Sha256)
        .ok_or_else(|| origin.missing("SHA256"))?;
    let sha256 = parse_sha256(sha256.trim())
        .ok_or_else(|| origin.bad_value(line, "SHA256", sha256, "64 hex digits"))?;
    Ok(IndexEntry {
        filename: filename.to_owned(),
        size,
        sha256,
        line: paragraph.line(),
        raw: paragraph.span(),
        control,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::package::MultiArch;
    use crate::apt::relation::Op;
    use proptest::prelude::*;

    /// Stanzas in the shape of Raspbian jessie and stretch indexes.
    pub(crate) const PACKAGES: &str = "\
Package: nginx-light
Version: 1.6.2-5+deb8u6
Architecture: armhf
Maintainer: Debian Nginx Maintainers <pkg-nginx-maintainers@lists.example.org>
Installed-Size: 1071
Depends: libc6 (>= 2.15), libexpat1 (>= 2.0.1), libpcre3 (>= 1:8.35), libssl1.0.0 (>= 1.0.1), zlib1g (>= 1:1.1.4), nginx-common (= 1.6.2-5+deb8u6)
Breaks: nginx (<< 1.4.5-1)
Provides: httpd, httpd-cgi, nginx
Conflicts: nginx-extras, nginx-full
Homepage: http://nginx.example.org
Priority: extra
Section: httpd
Filename: pool/main/n/nginx/nginx-light_1.6.2-5+deb8u6_armhf.deb
Size: 363104
SHA256: 3f0a3c9a47b8cc3b7d4e8a1bbca1e5f0d1a65bb6b7e3d42a4e1fdf2b4c13a9c1
SHA1: 9bd5ae5bd1b51f1a7e5e2e0e64e9bde62ea4b0fb
MD5sum: 2b3e1e9f5b5c1d6a5e4b3a2c1d0e9f8a
Description: nginx web/proxy server (basic version)
 Nginx (\"engine X\") is a high-performance web and reverse proxy server
 created by Igor Sysoev.
 .
 This package provides a very light version of nginx.

Package: php7.0-fpm
Source: php7.0
Version: 7.0.33-0+deb9u1
Architecture: armhf
Maintainer: Debian PHP Maintainers <pkg-php-maint@lists.example.org>
Installed-Size: 5878
Pre-Depends: dpkg (>= 1.17.14)
Depends: libapparmor1 (>= 2.6~devel), libc6 (>= 2.17), libpcre3, libssl1.1 (>= 1.1.0), libsystemd0, libxml2 (>= 2.9.0), zlib1g (>= 1:1.1.4), mime-support, php7.0-common (= 7.0.33-0+deb9u1), php7.0-json, php7.0-opcache, php7.0-readline, tzdata, ucf, procps
Suggests: php-pear
Provides: php-fpm, phpapi-20151012
Multi-Arch: foreign
Homepage: http://php.example.org/
Priority: optional
Section: php
Filename: pool/main/p/php7.0/php7.0-fpm_7.0.33-0+deb9u1_armhf.deb
Size: 1268654
SHA256: 0c5d1e6b2dbb1f6a2a3a6f3e16c6f8e1a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0
Description: server-side, HTML-embedded scripting language (FPM-CGI binary)
 This package provides the Fast Process Manager interpreter.

Package: tzdata
Version: 2019a-0+deb9u1
Installed-Size: 2870
Maintainer: GNU Libc Maintainers <debian-glibc@lists.example.org>
Architecture: all
Multi-Arch: foreign
Replaces: libc0.1, libc0.3, libc6, libc6.1
Depends: debconf (>= 0.5) | debconf-2.0
Description: time zone and daylight-saving time data
Priority: required
Section: localization
Filename: pool/main/t/tzdata/tzdata_2019a-0+deb9u1_all.deb
Size: 269676
SHA256: 8e6ad2a8f3bba3d1b6c3f3f4e7e66b8f2b1f6d8bda0e5fb9a2e4f0b9c1a9e6d2
";

    #[test]
    fn reads_index_records() {
        let index = PackagesIndex::parse(PACKAGES.to_owned(), "stretch/main/binary-armhf/Packages")
            .unwrap();
        let entries = index.entries();
        assert_eq!(entries.len(), 3);
        let nginx = &entries[0];
        assert_eq!(nginx.control.name, "nginx-light");
        assert_eq!(
            nginx.filename,
            "pool/main/n/nginx/nginx-light_1.6.2-5+deb8u6_armhf.deb"
        );
        assert_eq!(nginx.size, 363_104);
        assert_eq!(nginx.sha256[0], 0x3f);
        assert_eq!(nginx.line, 1);
        let php = &entries[1];
        assert_eq!(php.control.multi_arch, MultiArch::Foreign);
        assert_eq!(php.control.source.as_ref().unwrap().name, "php7.0");
        assert_eq!(
            php.control.relations.pre_depends.group(0).unwrap()[0]
                .constraint
                .as_ref()
                .unwrap()
                .op,
            Op::LaterOrEqual
        );
        assert_eq!(php.control.relations.depends.len(), 15);
        assert_eq!(php.line, 24);
        let tzdata = &entries[2];
        assert_eq!(tzdata.control.architecture, "all");
        assert_eq!(tzdata.control.relations.depends.group(0).unwrap().len(), 2);
        let raw = index.raw(php);
        assert!(raw.starts_with("Package: php7.0-fpm\n"));
        assert!(raw.ends_with("Fast Process Manager interpreter.\n"));
        let paragraph = index.paragraph(nginx).unwrap();
        assert_eq!(paragraph.get("Homepage"), Some("http://nginx.example.org"));
    }

    #[test]
    fn refuses_entries_that_cannot_be_verified_or_placed() {
        let text = PACKAGES.replace("SHA256: 0c5d", "X-SHA256: 0c5d");
        let err = PackagesIndex::parse(text, "P").unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::Missing {
                    field: "SHA256",
                    line: 24,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("php7.0-fpm"));
        let text = PACKAGES.replace("pool/main/t/tzdata/", "../../../");
        let err = PackagesIndex::parse(text, "P").unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::BadValue {
                    field: "Filename",
                    ..
                }
            ),
            "{err}"
        );
        let text = PACKAGES.replace("Size: 269676", "Size: -1");
        assert!(matches!(
            PackagesIndex::parse(text, "P"),
            Err(PackageError::BadValue { field: "Size", .. })
        ));
        let text = PACKAGES.replace(
            "Installed-Size: 2870\n",
            "Installed-Size: 2870\n# comment\n",
        );
        assert!(matches!(
            PackagesIndex::parse(text, "P"),
            Err(PackageError::Syntax(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutated_index_never_panics(at in 0usize..4000, bytes in prop::collection::vec(0u8..128, 1..4)) {
            let mut text = PACKAGES.as_bytes().to_vec();
            let at = at % text.len();
            text.splice(at..at, bytes);
            let _ = PackagesIndex::parse(String::from_utf8_lossy(&text).into_owned(), "mutated");
        }

        #[test]
        fn random_text_never_panics(text in "[ -~\\n]{0,400}") {
            let _ = PackagesIndex::parse(text, "random");
        }
    }
}
