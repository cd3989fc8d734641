//! The set of OpenPGP public keys a repository's signatures are checked against, loaded the
//! ways apt finds them: binary keyrings (`trusted.gpg`, `*.gpg` in `trusted.gpg.d/`), armored
//! `*.asc` files that may hold several keys, an inline `Signed-By:` block, and a key downloaded
//! for a profile's repository that must carry a pinned fingerprint.
//!
//! Loading only parses: whether a key may sign (flags, bindings, expiry, revocation, algorithm
//! strength) is judged when a signature is checked, in `certificate.rs`, because it depends on
//! the signature's time and the caller's policy.

use std::path::{Path, PathBuf};

use pgp::{
    composed::{Deserializable, SignedPublicKey, SignedPublicKeyParser},
    errors::Error as PgpError,
    packet::{Packet, PacketParser},
    types::KeyDetails,
};

/// The largest keyring file read; Debian's whole archive keyring is under 100 KiB.
pub const MAX_KEYRING_BYTES: usize = 16 * 1024 * 1024;

/// The most keys one keyring source may hold, so a hostile file cannot make us parse forever.
const MAX_KEYS_PER_SOURCE: usize = 4096;

/// What went wrong loading keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// A keyring file could not be read.
    #[error("cannot read the keyring {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The source is larger than any real keyring.
    #[error(
        "the keyring {origin} is {size} bytes, more than the {limit}-byte limit; it is not a keyring"
    )]
    TooLarge {
        /// Where the bytes came from.
        origin: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A GnuPG keybox (`pubring.kbx`), which apt does not read either.
    #[error(
        "the keyring {origin} is a GnuPG keybox (pubring.kbx), which apt cannot use; export the keys with `gpg --export KEYID > FILE.gpg` and use that file"
    )]
    Keybox {
        /// Where the bytes came from.
        origin: String,
    },
    /// The bytes are neither ASCII armor nor OpenPGP packets, or the packets are broken.
    #[error("the keyring {origin} is malformed: {reason}")]
    Malformed {
        /// Where the bytes came from.
        origin: String,
        /// What the parser said.
        reason: String,
    },
    /// The source parsed but holds no public key.
    #[error("the keyring {origin} contains no OpenPGP public key")]
    NoKeys {
        /// Where the bytes came from.
        origin: String,
    },
    /// The fingerprint a fetched key must have is not a full fingerprint.
    #[error("`{given}` is not a full OpenPGP fingerprint (40 or 64 hex digits)")]
    BadFingerprint {
        /// What was given.
        given: String,
    },
    /// A downloaded key does not carry the pinned fingerprint.
    #[error("the downloaded key has fingerprint(s) {}, not the expected {expected}; the key at that address changed or is not the repository's key, so nothing signed by it is trusted", found.join(", "))]
    FingerprintMismatch {
        /// The pinned fingerprint.
        expected: String,
        /// The primary fingerprints the download holds.
        found: Vec<String>,
    },
}

/// One key of a keyring, with the source it came from for messages.
#[derive(Debug, Clone)]
pub(crate) struct KeyringEntry {
    pub(crate) key: SignedPublicKey,
    pub(crate) origin: String,
}

/// A set of OpenPGP certificates (transferable public keys).
///
/// The same key may appear twice (from two files); each copy is judged on its own.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    entries: Vec<KeyringEntry>,
    skipped: Vec<String>,
}

impl Keyring {
    /// An empty keyring: nothing verifies against it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a keyring held in memory: a binary keyring (concatenated transferable public
    /// keys, with or without GnuPG trust packets) or ASCII armor holding one or more key
    /// blocks. `origin` names the source in messages (a file name, or `Signed-By of X`).
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, KeyringError> {
        if bytes.len() > MAX_KEYRING_BYTES {
            return Err(KeyringError::TooLarge {
                origin: origin.to_string(),
                size: bytes.len(),
                limit: MAX_KEYRING_BYTES,
            });
        }
        let mut ring = Keyring::new();
        let mut errors = Vec::new();
        match detect_format(bytes) {
            Format::Keybox => {
                return Err(KeyringError::Keybox {
                    origin: origin.to_string(),
                });
            }
            Format::Binary => parse_binary(bytes, origin, &mut ring, &mut errors),
            Format::Armored => {
                let text = String::from_utf8_lossy(bytes);
                let blocks = armor_blocks(&text);
                if blocks.is_empty() {
                    return Err(KeyringError::Malformed {
                        origin: origin.to_string(),
                        reason: "it is text without a `-----BEGIN PGP PUBLIC KEY BLOCK-----` line"
                            .to_string(),
                    });
                }
                for block in blocks {
                    parse_armored_block(block, origin, &mut ring, &mut errors);
                }
            }
            Format::Unknown => {
                return Err(KeyringError::Malformed {
                    origin: origin.to_string(),
                    reason: "it is neither ASCII armor nor a binary OpenPGP keyring".to_string(),
                });
            }
        }
        if ring.entries.is_empty() {
            return Err(match errors.into_iter().next() {
                Some(reason) => KeyringError::Malformed {
                    origin: origin.to_string(),
                    reason,
                },
                None => KeyringError::NoKeys {
                    origin: origin.to_string(),
                },
            });
        }
        ring.skipped = errors
            .into_iter()
            .map(|reason| format!("{origin}: {reason}"))
            .collect();
        Ok(ring)
    }

    /// Parses the value of a deb822 `Signed-By:` field holding an armored key, as it appears
    /// in a `.sources` file: continuation lines indented by one space, empty lines written
    /// as ` .`.
    pub fn from_signed_by_field(value: &str, origin: &str) -> Result<Self, KeyringError> {
        let mut unfolded = String::with_capacity(value.len());
        for line in value.lines() {
            let line = line.strip_prefix(' ').unwrap_or(line);
            if line.trim_end() != "." {
                unfolded.push_str(line);
            }
            unfolded.push('\n');
        }
        Self::from_bytes(unfolded.as_bytes(), origin)
    }

    /// Reads one keyring file from the host (binary `.gpg` or armored `.asc`; the content
    /// decides, not the name).
    pub fn from_file(path: &Path) -> Result<Self, KeyringError> {
        let bytes = read_capped(path)?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Reads every `*.gpg` and `*.asc` file of a `trusted.gpg.d`-style directory, in name
    /// order, as apt does; other names are ignored as apt ignores them, and so are empty
    /// files. A directory without key files gives an empty keyring.
    pub fn from_dir(dir: &Path) -> Result<Self, KeyringError> {
        let io = |source| KeyringError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if is_keyring_file_name(name) && entry.path().is_file() {
                paths.push(entry.path());
            }
        }
        paths.sort();
        let mut ring = Keyring::new();
        for path in paths {
            let bytes = read_capped(&path)?;
            if bytes.is_empty() {
                continue;
            }
            ring.merge(Self::from_bytes(&bytes, &path.display().to_string())?);
        }
        Ok(ring)
    }

    /// Accepts a downloaded key only if it holds a primary key with exactly
    /// `expected_fingerprint` (spaces allowed, any case), and keeps only that key.
    pub fn from_fetched(bytes: &[u8], expected_fingerprint: &str) -> Result<Self, KeyringError> {
        let expected = normalize_fingerprint(expected_fingerprint)?;
        let ring = Self::from_bytes(bytes, &format!("downloaded for {expected}"))?;
        let found = ring.fingerprints();
        let entries: Vec<KeyringEntry> = ring
            .entries
            .into_iter()
            .filter(|entry| fingerprint_of(&entry.key) == expected)
            .take(1)
            .collect();
        if entries.is_empty() {
            return Err(KeyringError::FingerprintMismatch { expected, found });
        }
        Ok(Keyring {
            entries,
            skipped: Vec::new(),
        })
    }

    /// Adds every key of `other`.
    pub fn merge(&mut self, other: Keyring) {
        self.entries.extend(other.entries);
        self.skipped.extend(other.skipped);
    }

    /// The primary fingerprints, in load order (uppercase hex; 40 digits for v4 keys).
    pub fn fingerprints(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|entry| fingerprint_of(&entry.key))
            .collect()
    }

    /// How many keys the keyring holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys that could not be parsed and were left out while others of the same source
    /// loaded (gpgv skips them the same way), for the caller to report.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    pub(crate) fn entries(&self) -> &[KeyringEntry] {
        &self.entries
    }
}

/// Whether apt reads a file of this name in `trusted.gpg.d/`.
pub fn is_keyring_file_name(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".gpg") || name.ends_with(".asc"))
}

/// A key's fingerprint as apt and gpg print it: uppercase hex without spaces.
pub(crate) fn fingerprint_of(key: &impl KeyDetails) -> String {
    format!("{:X}", key.fingerprint())
}

/// A one-line description of an rpgp error: some of its messages embed the Debug form of
/// the wrapped error, backtraces included, which is no use to a user.
pub(crate) fn describe(err: &PgpError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(err);
    while let Some(level) = current {
        let text = level.to_string();
        let short = text
            .split(" {")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        if !short.is_empty() && !parts.iter().any(|part| part.contains(&short)) {
            parts.push(short);
        }
        current = level.source();
    }
    let joined = parts.join(": ");
    if joined.chars().count() > 300 {
        joined.chars().take(300).chain("…".chars()).collect()
    } else {
        joined
    }
}

fn normalize_fingerprint(given: &str) -> Result<String, KeyringError> {
    let compact: String = given
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let compact = compact.strip_prefix("0X").unwrap_or(&compact).to_string();
    if (compact.len() == 40 || compact.len() == 64)
        && compact.bytes().all(|b| b.is_ascii_hexdigit())
    {
        Ok(compact)
    } else {
        Err(KeyringError::BadFingerprint {
            given: given.to_string(),
        })
    }
}

fn read_capped(path: &Path) -> Result<Vec<u8>, KeyringError> {
    let io = |source| KeyringError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_KEYRING_BYTES as u64 {
        return Err(KeyringError::TooLarge {
            origin: path.display().to_string(),
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: MAX_KEYRING_BYTES,
        });
    }
    std::fs::read(path).map_err(io)
}

enum Format {
    Binary,
    Armored,
    Keybox,
    Unknown,
}

fn detect_format(bytes: &[u8]) -> Format {
    // A keybox starts with a first blob whose type byte is 1 and magic "KBXf" at offset 8.
    if bytes.get(8..12) == Some(b"KBXf".as_slice()) {
        return Format::Keybox;
    }
    match bytes.first() {
        Some(first) if first & 0x80 != 0 => Format::Binary,
        Some(_) => {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
            if text.contains("-----BEGIN PGP") {
                Format::Armored
            } else {
                Format::Unknown
            }
        }
        None => Format::Unknown,
    }
}

/// Each `BEGIN PGP PUBLIC KEY BLOCK` … `END` section: `cat a.asc b.asc` gives several.
fn armor_blocks(text: &str) -> Vec<&str> {
    const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let from_begin = &rest[start..];
        match from_begin.find(END) {
            Some(end) => {
                let stop = end + END.len();
                blocks.push(&from_begin[..stop]);
                rest = &from_begin[stop..];
            }
            None => {
                // Let the armor parser report the truncation.
                blocks.push(from_begin);
                break;
            }
        }
    }
    blocks
}

fn parse_armored_block(block: &str, origin: &str, ring: &mut Keyring, errors: &mut Vec<String>) {
    match SignedPublicKey::from_armor_many(block.as_bytes()) {
        Ok((keys, _headers)) => collect(keys, origin, ring, errors),
        Err(err) => errors.push(format!("bad ASCII armor: {}", describe(&err))),
    }
}

fn parse_binary(bytes: &[u8], origin: &str, ring: &mut Keyring, errors: &mut Vec<String>) {
    // GnuPG's own keyring format interleaves trust packets, which the transferable-key
    // grammar does not allow; they carry nothing apt uses, so drop them first.
    let packets = PacketParser::new(bytes).filter_map(keep_packet).peekable();
    let keys = SignedPublicKeyParser::from_packets(packets);
    collect(keys, origin, ring, errors);
}

/// Mirrors rpgp's own filter (skip markers, padding and packets it marks as safe to ignore)
/// and also drops GnuPG trust packets.
fn keep_packet(packet: pgp::errors::Result<Packet>) -> Option<pgp::errors::Result<Packet>> {
    match packet {
        Ok(Packet::Trust(_) | Packet::Marker(_) | Packet::Padding(_)) => None,
        Ok(packet) => Some(Ok(packet)),
        Err(PgpError::Unsupported { .. }) | Err(PgpError::PacketIncomplete { .. }) => None,
        Err(PgpError::InvalidPacketContent { source })
            if matches!(
                *source,
                PgpError::Unsupported { .. } | PgpError::EllipticCurve { .. }
            ) =>
        {
            None
        }
        Err(err) => Some(Err(err)),
    }
}

fn collect(
    keys: impl Iterator<Item = pgp::errors::Result<SignedPublicKey>>,
    origin: &str,
    ring: &mut Keyring,
    errors: &mut Vec<String>,
) {
    for (index, key) in keys.enumerate() {
        if index >= MAX_KEYS_PER_SOURCE {
            errors.push(format!(
                "more than {MAX_KEYS_PER_SOURCE} keys; the rest were not read"
            ));
            break;
        }
        match key {
            Ok(key) => ring.entries.push(KeyringEntry {
                key,
                origin: origin.to_string(),
            }),
            Err(err) => errors.push(format!("unreadable key packet: {}", describe(&err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_normalized() {
        let fp = "1810 b6f3 6ECE C383 FB1C  415D 0DA6 8940 66A2 42DF";
        assert_eq!(
            normalize_fingerprint(fp).unwrap(),
            "1810B6F36ECEC383FB1C415D0DA6894066A242DF"
        );
        assert!(matches!(
            normalize_fingerprint("66A242DF"),
            Err(KeyringError::BadFingerprint { .. })
        ));
    }

    #[test]
    fn keybox_and_garbage_are_named() {
        let mut keybox = vec![0u8, 0, 0, 32, 1, 1, 0, 0];
        keybox.extend_from_slice(b"KBXf");
        keybox.resize(32, 0);
        assert!(matches!(
            Keyring::from_bytes(&keybox, "pubring.kbx"),
            Err(KeyringError::Keybox { .. })
        ));
        assert!(matches!(
            Keyring::from_bytes(b"hello", "x.asc"),
            Err(KeyringError::Malformed { .. })
        ));
        assert!(Keyring::from_bytes(b"", "x.gpg").is_err());
    }

    #[test]
    fn armor_blocks_are_split() {
        let text = "junk\n-----BEGIN PGP PUBLIC KEY BLOCK-----\na\n-----END PGP PUBLIC KEY BLOCK-----\n\
                    -----BEGIN PGP PUBLIC KEY BLOCK-----\nb\n-----END PGP PUBLIC KEY BLOCK-----\n";
        assert_eq!(armor_blocks(text).len(), 2);
    }

    #[test]
    fn apt_key_file_names() {
        assert!(is_keyring_file_name("debian-archive-bookworm-stable.asc"));
        assert!(is_keyring_file_name("raspbian.gpg"));
        assert!(!is_keyring_file_name("raspbian.gpg~"));
        assert!(!is_keyring_file_name("README"));
    }
}
