//! Secrets in a profile are never secrets: passwords only as crypt(5) hashes, keys only as
//! SSH public keys. These checks refuse anything that looks like a clear-text password and
//! any key line `sshd` would not accept.

use base64::Engine as _;

/// The key types OpenSSH accepts in `authorized_keys` today (`ssh-dss` was removed).
pub const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

fn is_crypt_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'/'
}

/// Checks a crypt(5) hash of the kinds Debian's PAM reads: `$6$` (SHA-512), `$5$`
/// (SHA-256) and `$y$` (yescrypt).
pub fn check_crypt_hash(hash: &str) -> Result<(), String> {
    const ADVICE: &str = "password_hash must be a crypt(5) hash such as `$6$…` or `$y$…` (made with `mkpasswd -m sha-512` or `mkpasswd -m yescrypt`), never a clear-text password";
    let fields: Vec<&str> = hash.split('$').collect();
    let ok = match fields.as_slice() {
        ["", id @ ("5" | "6"), rest @ ..] => {
            let (salt, digest) = match rest {
                [rounds, salt, digest] if rounds.starts_with("rounds=") => {
                    let valid = rounds["rounds=".len()..]
                        .parse::<u32>()
                        .is_ok_and(|n| (1000..=999_999_999).contains(&n));
                    if !valid {
                        return Err(format!("`{rounds}` is not a valid rounds count; {ADVICE}"));
                    }
                    (*salt, *digest)
                }
                [salt, digest] => (*salt, *digest),
                _ => return Err(ADVICE.to_string()),
            };
            let digest_len = if *id == "6" { 86 } else { 43 };
            (1..=16).contains(&salt.len())
                && salt
                    .bytes()
                    .all(|b| b != b'$' && b != b':' && !b.is_ascii_whitespace())
                && digest.len() == digest_len
                && digest.bytes().all(is_crypt_char)
        }
        ["", "y", params, salt, digest] => {
            !params.is_empty()
                && params.bytes().all(is_crypt_char)
                && !salt.is_empty()
                && salt.bytes().all(is_crypt_char)
                && digest.len() == 43
                && digest.bytes().all(is_crypt_char)
        }
        ["", id, ..] if matches!(*id, "1" | "2a" | "2b" | "2y" | "md5") => {
            return Err(format!("`${id}$` hashes are too weak; {ADVICE}"));
        }
        _ => false,
    };
    if ok { Ok(()) } else { Err(ADVICE.to_string()) }
}

/// Checks one `authorized_keys` line: a known key type, base64 that decodes, and a blob whose
/// own type field matches (so a key pasted with the wrong prefix is caught), then an optional
/// comment.
pub fn check_ssh_key(line: &str) -> Result<(), String> {
    let mut parts = line.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    if !SSH_KEY_TYPES.contains(&kind) {
        let hint = super::suggest::did_you_mean(kind, SSH_KEY_TYPES.iter().copied());
        if kind.contains("PRIVATE") || line.contains("PRIVATE KEY") {
            return Err("this is a private key; give the public key (the `.pub` file)".to_string());
        }
        return Err(format!(
            "`{}` is not an SSH public key type; expected a line such as `ssh-ed25519 AAAA… user@example.org`{hint}",
            kind.chars().take(40).collect::<String>()
        ));
    }
    let Some(data) = parts.next() else {
        return Err(format!("the `{kind}` key has no key data after its type"));
    };
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| format!("the `{kind}` key's data is not valid base64"))?;
    let inner = blob
        .get(..4)
        .and_then(|len| usize::try_from(u32::from_be_bytes(len.try_into().ok()?)).ok())
        .and_then(|len| blob.get(4..4usize.checked_add(len)?));
    if inner != Some(kind.as_bytes()) {
        return Err(format!(
            "the key data does not hold a `{kind}` key; was the line copied whole?"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA94379pnadhePa89yW5gmmCsituTD33v2oQRcTOsBkj pete@example.org";

    #[test]
    fn crypt_hashes() {
        let sha512 = format!("$6$saltsalt${}", "a".repeat(86));
        assert!(check_crypt_hash(&sha512).is_ok());
        let rounds = format!("$6$rounds=5000$saltsalt${}", "b".repeat(86));
        assert!(check_crypt_hash(&rounds).is_ok());
        let sha256 = format!("$5$salt${}", "c".repeat(43));
        assert!(check_crypt_hash(&sha256).is_ok());
        let yescrypt = format!("$y$j9T$F5Jx5fExrKuPp53xLKQ..1${}", "d".repeat(43));
        assert!(check_crypt_hash(&yescrypt).is_ok());
        assert!(
            check_crypt_hash("hunter2")
                .unwrap_err()
                .contains("never a clear-text")
        );
        assert!(
            check_crypt_hash("$1$salt$abc")
                .unwrap_err()
                .contains("too weak")
        );
        assert!(check_crypt_hash("$6$salt$short").is_err());
    }

    #[test]
    fn ssh_keys() {
        assert!(check_ssh_key(ED25519).is_ok());
        assert!(check_ssh_key("ssh-ed25519 AAAAC3Nza… pete@example").is_err());
        let wrong_type = ED25519.replacen("ssh-ed25519", "ssh-rsa", 1);
        assert!(
            check_ssh_key(&wrong_type)
                .unwrap_err()
                .contains("does not hold")
        );
        assert!(
            check_ssh_key("ssh-ed2559 AAAA")
                .unwrap_err()
                .contains("did you mean")
        );
        assert!(
            check_ssh_key("-----BEGIN OPENSSH PRIVATE KEY-----")
                .unwrap_err()
                .contains("private key")
        );
        assert!(
            check_ssh_key("ssh-ed25519")
                .unwrap_err()
                .contains("no key data")
        );
    }
}
