//! A throwaway GnuPG home for the signature tests: real `gpg` makes the keys, keyrings,
//! clearsigned InRelease files and detached signatures our verifier must judge like gpgv.

use std::io::Write;
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// A GnuPG home directory in a temporary directory; its agent is stopped on drop.
pub struct Gpg {
    home: TempDir,
}

impl Gpg {
    /// A fresh, empty GnuPG home. Panics if `gpg` is not installed.
    pub fn new() -> Self {
        let probe = Command::new("gpg").arg("--version").output();
        assert!(
            probe.is_ok_and(|out| out.status.success()),
            "gpg is required for the signature tests; install the `gnupg` package"
        );
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir()
            .expect("temporary GnuPG home");
        Gpg { home }
    }

    /// Runs gpg with `args` (after the batch options), feeding `input`; returns stdout and
    /// panics with stderr if gpg fails.
    pub fn run(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("gpg")
            .args([
                "--batch",
                "--no-tty",
                "--quiet",
                "--no-permission-warning",
                "--homedir",
            ])
            .arg(self.home.path())
            .args(["--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg starts");
        let mut stdin = child.stdin.take().expect("gpg stdin");
        stdin.write_all(input).expect("write to gpg");
        drop(stdin);
        let out = child.wait_with_output().expect("gpg runs");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// All fingerprints (primary first, then subkeys) of the key with this user id.
    pub fn fingerprints(&self, uid: &str) -> Vec<String> {
        let listing = self.run(&["--with-colons", "--list-keys", uid], b"");
        String::from_utf8_lossy(&listing)
            .lines()
            .filter(|line| line.starts_with("fpr:"))
            .filter_map(|line| line.split(':').nth(9).map(str::to_string))
            .collect()
    }

    /// Generates a primary key and returns its fingerprint. `extra` goes before the command
    /// (e.g. `--faked-system-time`, `--cert-digest-algo`).
    pub fn gen_key(
        &self,
        uid: &str,
        algo: &str,
        usage: &str,
        expire: &str,
        extra: &[&str],
    ) -> String {
        let mut args = extra.to_vec();
        args.extend(["--quick-gen-key", uid, algo, usage, expire]);
        self.run(&args, b"");
        self.fingerprints(uid)
            .into_iter()
            .next()
            .expect("the new key is listed")
    }

    /// Adds a subkey to the key `uid`, expiring after `expire` (gpg's syntax), and returns the
    /// subkey's fingerprint.
    pub fn add_subkey(
        &self,
        uid: &str,
        algo: &str,
        usage: &str,
        expire: &str,
        extra: &[&str],
    ) -> String {
        let primary = self
            .fingerprints(uid)
            .into_iter()
            .next()
            .expect("primary key");
        let mut args = extra.to_vec();
        args.extend(["--quick-add-key", &primary, algo, usage, expire]);
        self.run(&args, b"");
        self.fingerprints(uid)
            .pop()
            .expect("the new subkey is listed")
    }

    /// Revokes the first subkey of the key `uid` (through `--edit-key`).
    pub fn revoke_first_subkey(&self, uid: &str) {
        let primary = self
            .fingerprints(uid)
            .into_iter()
            .next()
            .expect("primary key");
        self.run(
            &["--command-fd", "0", "--edit-key", &primary],
            b"key 1\nrevkey\ny\n0\n\ny\nsave\n",
        );
    }

    /// Takes the signing capability away from the primary key of `uid` (a new self-signature
    /// whose key flags say certify only), through the expert `change-usage` command.
    pub fn make_certify_only(&self, uid: &str) {
        let primary = self
            .fingerprints(uid)
            .into_iter()
            .next()
            .expect("primary key");
        self.run(
            &["--expert", "--command-fd", "0", "--edit-key", &primary],
            b"change-usage\nS\nQ\nsave\n",
        );
    }

    /// Revokes the primary key `fingerprint` by importing the revocation certificate gpg
    /// stored when it made the key (its armor line is prefixed with `:` against accidents).
    pub fn revoke_primary(&self, fingerprint: &str) {
        let path = self
            .home
            .path()
            .join("openpgp-revocs.d")
            .join(format!("{fingerprint}.rev"));
        let text = std::fs::read_to_string(&path).expect("gpg stored a revocation certificate");
        let armored = text.replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        );
        self.run(&["--import"], armored.as_bytes());
    }

    /// A keyring in GnuPG's legacy format (what `apt-key add` wrote to `trusted.gpg`), with
    /// the trust packets gpg interleaves there.
    pub fn legacy_keyring(&self, keys: &[&str]) -> Vec<u8> {
        let exported = self.export(keys);
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("trusted.gpg");
        // An existing empty file makes gpg keep the old keyring format instead of a keybox.
        std::fs::write(&path, b"").expect("create keyring file");
        let keyring = path.to_str().expect("UTF-8 temporary path");
        // A fresh home: this one's trust database names keys the new keyring lacks, which
        // gpg reports as an error.
        Gpg::new().run(
            &["--no-default-keyring", "--keyring", keyring, "--import"],
            &exported,
        );
        std::fs::read(&path).expect("read legacy keyring")
    }

    /// The home's own keybox (`pubring.kbx`), which apt cannot read.
    pub fn keybox(&self) -> Vec<u8> {
        std::fs::read(self.home.path().join("pubring.kbx")).expect("gpg keeps a pubring.kbx")
    }

    /// The binary export of the given keys (`gpg --export`).
    pub fn export(&self, keys: &[&str]) -> Vec<u8> {
        let mut args = vec!["--export"];
        args.extend(keys);
        self.run(&args, b"")
    }

    /// The armored export of the given keys.
    pub fn export_armored(&self, keys: &[&str]) -> Vec<u8> {
        let mut args = vec!["--armor", "--export"];
        args.extend(keys);
        self.run(&args, b"")
    }

    /// A clearsigned copy of `body` by each of `signers` (fingerprints; `!` forces that exact
    /// key or subkey).
    pub fn clearsign(
        &self,
        signers: &[&str],
        digest: &str,
        body: &[u8],
        extra: &[&str],
    ) -> Vec<u8> {
        let forced: Vec<String> = signers.iter().map(|s| format!("{s}!")).collect();
        let mut args = extra.to_vec();
        for signer in &forced {
            args.extend(["--local-user", signer.as_str()]);
        }
        args.extend(["--digest-algo", digest, "--clearsign", "--output", "-"]);
        self.run(&args, body)
    }

    /// A detached signature of `body`, armored (like Release.gpg) or binary.
    pub fn detach_sign(&self, signer: &str, digest: &str, body: &[u8], armor: bool) -> Vec<u8> {
        let forced = format!("{signer}!");
        let mut args = vec!["--local-user", &forced, "--digest-algo", digest];
        if armor {
            args.push("--armor");
        }
        args.extend(["--detach-sign", "--output", "-"]);
        self.run(&args, body)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        // The agent would otherwise outlive the directory it serves.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}
