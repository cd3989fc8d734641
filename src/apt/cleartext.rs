//! The cleartext signature framework an `InRelease` file uses (RFC 9580 §7): the
//! `BEGIN PGP SIGNED MESSAGE` line, `Hash:` armor headers, the dash-escaped body and the
//! armored signature block after it.
//!
//! Parsing is strict where apt is, so nothing unsigned can ride along: no text before the
//! header line or after the signature block, no other armor headers, no carriage return inside
//! a line, no unescaped line starting with a dash. Trailing spaces and tabs are not covered by
//! the signature, so they are removed from the text handed back. Signatures are not checked
//! here; see `signature.rs`.

use pgp::crypto::hash::HashAlgorithm;

use super::signature::SignatureError;

const MESSAGE_BEGIN: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";
const SIGNATURE_BEGIN: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
const SIGNATURE_END: &[u8] = b"-----END PGP SIGNATURE-----";

/// A split clearsigned message.
#[derive(Debug)]
pub(crate) struct Cleartext<'a> {
    /// The algorithms the `Hash:` headers announce; empty when there is none.
    pub(crate) hashes: Vec<HashAlgorithm>,
    /// The signed text: dash-unescaped lines without trailing whitespace, each ended by `\n`.
    pub(crate) body: Vec<u8>,
    /// The armored signature block, from its BEGIN line to its END line.
    pub(crate) signature_block: &'a [u8],
}

impl Cleartext<'_> {
    /// The bytes the signatures cover: the body without its final line break (which belongs
    /// to the framework). Text signatures canonicalize `\n` to `\r\n` while hashing.
    pub(crate) fn signed_data(&self) -> &[u8] {
        self.body.strip_suffix(b"\n").unwrap_or(&self.body)
    }
}

fn malformed(reason: impl Into<String>) -> SignatureError {
    SignatureError::MalformedCleartext {
        reason: reason.into(),
    }
}

/// Lines split on `\n`, each with its byte offset and without a trailing `\r`.
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut offset = 0usize;
    text.split(|b| *b == b'\n').map(move |line| {
        let start = offset;
        offset = offset.saturating_add(line.len()).saturating_add(1);
        (start, line.strip_suffix(b"\r").unwrap_or(line))
    })
}

fn trim_end(line: &[u8]) -> &[u8] {
    let keep = line
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |last| last.saturating_add(1));
    line.get(..keep).unwrap_or(line)
}

/// Splits an InRelease file into its announced hashes, signed body and signature block.
pub(crate) fn parse(text: &[u8]) -> Result<Cleartext<'_>, SignatureError> {
    let mut lines = lines(text).enumerate();

    match lines.next() {
        Some((_, (_, first))) if trim_end(first) == MESSAGE_BEGIN => {}
        _ => {
            return Err(malformed(
                "it does not start with `-----BEGIN PGP SIGNED MESSAGE-----` (a Release file \
                 without a signature, or something else served in its place)",
            ));
        }
    }

    let mut hashes = Vec::new();
    loop {
        let Some((number, (_, line))) = lines.next() else {
            return Err(malformed("it ends inside the armor headers"));
        };
        let line = trim_end(line);
        if line.is_empty() {
            break;
        }
        let Some(value) = line.strip_prefix(b"Hash:") else {
            return Err(malformed(format!(
                "line {} is the armor header `{}`, but only `Hash:` may appear there",
                number.saturating_add(1),
                String::from_utf8_lossy(line)
            )));
        };
        for name in String::from_utf8_lossy(value).split(',') {
            let name = name.trim();
            let hash: HashAlgorithm = name.parse().map_err(|()| {
                malformed(format!(
                    "its Hash header names the unknown algorithm `{name}`"
                ))
            })?;
            hashes.push(hash);
        }
    }

    let mut body = Vec::with_capacity(text.len());
    let block_start = loop {
        let Some((number, (offset, line))) = lines.next() else {
            return Err(SignatureError::NoSignature { what: "InRelease" });
        };
        let content = if let Some(escaped) = line.strip_prefix(b"- ") {
            escaped
        } else if line.starts_with(b"-") {
            if trim_end(line) == SIGNATURE_BEGIN {
                break offset;
            }
            return Err(malformed(format!(
                "line {} starts with a dash but is not dash-escaped",
                number.saturating_add(1)
            )));
        } else {
            line
        };
        let content = trim_end(content);
        if content.contains(&b'\r') {
            return Err(malformed(format!(
                "line {} contains a carriage return",
                number.saturating_add(1)
            )));
        }
        body.extend_from_slice(content);
        body.push(b'\n');
    };

    let mut block_end = None;
    for (_, (offset, line)) in lines.by_ref() {
        if trim_end(line) == SIGNATURE_END {
            block_end = Some(offset.saturating_add(line.len()));
            break;
        }
    }
    let Some(block_end) = block_end else {
        return Err(malformed(
            "its signature block has no `-----END PGP SIGNATURE-----` line",
        ));
    };
    for (number, (_, line)) in lines {
        if !line.iter().all(u8::is_ascii_whitespace) {
            return Err(malformed(format!(
                "line {} follows the signature block; nothing may come after it",
                number.saturating_add(1)
            )));
        }
    }
    let signature_block = text
        .get(block_start..block_end)
        .ok_or_else(|| malformed("its signature block could not be located"))?;
    Ok(Cleartext {
        hashes,
        body,
        signature_block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n";

    fn framed(headers: &str, body: &str) -> String {
        format!("-----BEGIN PGP SIGNED MESSAGE-----\n{headers}\n{body}{SIG}")
    }

    #[test]
    fn body_is_unescaped_and_trimmed() {
        let text = framed("Hash: SHA256, SHA512\n", "Origin: x  \n- -dash\n\nlast\t\n");
        let parsed = parse(text.as_bytes()).unwrap();
        assert_eq!(
            parsed.hashes,
            [HashAlgorithm::Sha256, HashAlgorithm::Sha512]
        );
        assert_eq!(parsed.body, b"Origin: x\n-dash\n\nlast\n");
        assert_eq!(parsed.signed_data(), b"Origin: x\n-dash\n\nlast");
        assert!(parsed.signature_block.starts_with(SIGNATURE_BEGIN));
        assert!(parsed.signature_block.ends_with(SIGNATURE_END));
    }

    #[test]
    fn crlf_files_parse() {
        let text = framed("Hash: SHA256\n", "a\nb\n").replace('\n', "\r\n");
        let parsed = parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.body, b"a\nb\n");
    }

    #[test]
    fn unsigned_extras_are_refused() {
        let before = format!("junk\n{}", framed("", "a\n"));
        assert!(parse(before.as_bytes()).is_err());
        let after = format!("{}Origin: evil\n", framed("", "a\n"));
        assert!(parse(after.as_bytes()).is_err());
        let header = framed("Comment: hi\n", "a\n");
        assert!(parse(header.as_bytes()).is_err());
        let dash = framed("", "-x\n");
        assert!(parse(dash.as_bytes()).is_err());
        let cr = framed("", "a\rb\n");
        assert!(parse(cr.as_bytes()).is_err());
    }

    #[test]
    fn missing_parts_are_named() {
        assert!(matches!(
            parse(b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nbody\n"),
            Err(SignatureError::NoSignature { .. })
        ));
        assert!(parse(b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256").is_err());
        assert!(parse(b"Origin: Debian\n").is_err());
        let unterminated =
            "-----BEGIN PGP SIGNED MESSAGE-----\n\nx\n-----BEGIN PGP SIGNATURE-----\n";
        assert!(parse(unterminated.as_bytes()).is_err());
    }
}
