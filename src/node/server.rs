//! The node's own server binary (`[server]`) and the memory limits of `[system] memory_max`:
//! the verified binary installed root-owned 0755, a hardened systemd unit that runs it as
//! its user, enabled by a `multi-user.target.wants` link, and a `MemoryMax=` drop-in per
//! listed service.
//!
//! Unit settings follow the generation's systemd: jessie's 215 knows neither `MemoryMax=`
//! nor `ProtectSystem=strict` (and ignores unknown settings with only a log line), so it gets
//! `MemoryLimit=` and `ProtectSystem=full`; stretch to bullseye get both memory keys, since
//! their systemd reads `MemoryLimit=` on the legacy cgroup hierarchy. This module does not
//! fetch or verify the binary (the fetch stage does) and does not start anything.

use std::path::{Path, PathBuf};

use super::{EditError, Editor, NodeContext, users};
use crate::profile::{Generation, Server};
use crate::tree::{Content, Inode, Kind};

/// The file name of the `[system] memory_max` drop-ins.
pub const MEMORY_DROP_IN: &str = "pi-imager-memory.conf";

/// Why the server could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file could not be read or written.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The profile has a `[server]` but no binary was handed over.
    #[error("[server] {unit}: the binary was not fetched; this is a bug in the build pipeline")]
    MissingBinary {
        /// The unit.
        unit: String,
    },
    /// The verified binary cannot be read.
    #[error("cannot read the server binary {}: {source}", path.display())]
    Binary {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The unit's user is not in the image.
    #[error(
        "[server] user = \"{user}\" is not in the image's /etc/passwd; add a [[user]] of that name or pick an existing account such as `www-data`"
    )]
    NoSuchUser {
        /// The user.
        user: String,
    },
}

/// Installs the server binary and unit, and writes the memory drop-ins.
pub fn apply(
    root: &mut Editor,
    ctx: &NodeContext,
    binary: Option<&Path>,
) -> Result<(), ServerError> {
    for (service, size) in &ctx.profile.system().memory_max {
        let text = format!(
            "# Written by pi-imager from the profile's [system] memory_max.\n[Service]\n{}",
            memory_lines(size.bytes(), ctx.generation)
        );
        root.write(
            &format!("/etc/systemd/system/{service}.d/{MEMORY_DROP_IN}"),
            text,
            0o644,
        )?;
    }
    let Some(server) = ctx.profile.server() else {
        return Ok(());
    };
    let binary = binary.ok_or_else(|| ServerError::MissingBinary {
        unit: server.unit.clone(),
    })?;
    let size = fs_err::metadata(binary)
        .map_err(|source| ServerError::Binary {
            path: binary.to_path_buf(),
            source,
        })?
        .len();
    let inode = Inode::new(
        Kind::File {
            size,
            content: Content::HostFile(binary.to_path_buf()),
        },
        0o755,
        root.mtime(),
    );
    root.put(&server.path, inode)?;
    if users::uid_of(root, &server.user)?.is_none() {
        return Err(ServerError::NoSuchUser {
            user: server.user.clone(),
        });
    }
    let unit_path = format!("/etc/systemd/system/{}", server.unit);
    root.write(&unit_path, unit_text(server, ctx.generation), 0o644)?;
    root.symlink(
        &format!(
            "/etc/systemd/system/multi-user.target.wants/{}",
            server.unit
        ),
        &unit_path,
    )?;
    Ok(())
}

/// A byte count as systemd writes sizes (K, M, G are powers of 1024).
fn systemd_size(bytes: u64) -> String {
    for (shift, suffix) in [(30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// The memory limit lines the generation's systemd applies.
fn memory_lines(bytes: u64, generation: Generation) -> String {
    let size = systemd_size(bytes);
    match generation {
        Generation::Jessie => format!("MemoryLimit={size}\n"),
        Generation::Stretch | Generation::Buster | Generation::Bullseye => {
            format!("MemoryMax={size}\nMemoryLimit={size}\n")
        }
        Generation::Bookworm | Generation::Trixie => format!("MemoryMax={size}\n"),
    }
}

/// One `ExecStart=` word, quoted and escaped as systemd parses it: `%` specifiers and `$`
/// variables are doubled so they stay literal, and a word with spaces or quotes is quoted.
pub fn exec_word(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('%', "%%")
        .replace('$', "$$");
    if word == ";" {
        return "\\;".to_owned();
    }
    if word.is_empty() || word.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
        format!("\"{}\"", escaped.replace('"', "\\\""))
    } else {
        escaped
    }
}

/// The unit's text.
pub fn unit_text(server: &Server, generation: Generation) -> String {
    let mut exec = exec_word(&server.path);
    for arg in &server.args {
        exec.push(' ');
        exec.push_str(&exec_word(arg));
    }
    let name = server.unit.trim_end_matches(".service");
    let protect = if generation == Generation::Jessie {
        "full"
    } else {
        "strict"
    };
    let memory = server
        .memory_max
        .map(|m| memory_lines(m.bytes(), generation))
        .unwrap_or_default();
    // ProtectSystem=strict leaves the service no writable place; systemd 235 (buster on)
    // can give it /var/lib/<name>, owned by its user.
    let state = if generation >= Generation::Buster {
        format!("StateDirectory={name}\n")
    } else {
        String::new()
    };
    format!(
        "# Written by pi-imager from the profile's [server].\n\
         [Unit]\n\
         Description={name} (the node's server, installed by pi-imager)\n\
         After=network.target\n\
         \n\
         [Service]\n\
         User={user}\n\
         ExecStart={exec}\n\
         Restart=always\n\
         RestartSec=2\n\
         {memory}\
         NoNewPrivileges=yes\n\
         ProtectSystem={protect}\n\
         ProtectHome=yes\n\
         PrivateTmp=yes\n\
         {state}\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        user = server.user,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::sample_base::{Fixture, bookworm, jessie};

    const PROFILE: &str = "[server]\nsource = \"bin/blog-agent\"\nargs = [\"--listen\", \"[::]:9100\", \"a b\", \"100%\", \"$HOME\"]\nuser = \"www-data\"\nmemory_max = \"128MiB\"\n\n[system]\nhostname = \"blog-pi3\"\nmemory_max = { \"nginx\" = \"256MiB\" }\n";

    #[test]
    fn bookworm_unit_binary_link_and_drop_ins() {
        let mut fx = Fixture::with_profile(bookworm(), PROFILE);
        let binary = fx.dir.path().join("bin/blog-agent");
        fx.apply(|root, _boot, ctx, _| apply(root, ctx, Some(&binary)).map_err(|e| e.to_string()))
            .unwrap();
        let bin = fx.inode("/usr/local/bin/blog-agent");
        assert_eq!((bin.mode, bin.uid, bin.size()), (0o755, 0, 10));
        let unit = fx.text("/etc/systemd/system/blog-agent.service");
        assert!(
            unit.contains(
                "ExecStart=/usr/local/bin/blog-agent --listen [::]:9100 \"a b\" 100%% $$HOME\n"
            ),
            "{unit}"
        );
        assert!(unit.contains("User=www-data\n"));
        assert!(
            unit.contains("PrivateTmp=yes\nStateDirectory=blog-agent\n"),
            "{unit}"
        );
        assert!(unit.contains("MemoryMax=128M\nNoNewPrivileges=yes\nProtectSystem=strict\n"));
        assert_eq!(
            fx.link("/etc/systemd/system/multi-user.target.wants/blog-agent.service"),
            "/etc/systemd/system/blog-agent.service"
        );
        assert_eq!(
            fx.text("/etc/systemd/system/nginx.service.d/pi-imager-memory.conf")
                .lines()
                .last(),
            Some("MemoryMax=256M")
        );
    }

    #[test]
    fn jessie_gets_settings_its_systemd_knows() {
        let mut fx = Fixture::with_profile(jessie(), PROFILE);
        let binary = fx.dir.path().join("bin/blog-agent");
        fx.apply(|root, _boot, ctx, _| apply(root, ctx, Some(&binary)).map_err(|e| e.to_string()))
            .unwrap();
        let unit = fx.text("/etc/systemd/system/blog-agent.service");
        assert!(unit.contains("MemoryLimit=128M\n") && !unit.contains("MemoryMax"));
        assert!(unit.contains("ProtectSystem=full\n") && !unit.contains("StateDirectory"));
    }

    #[test]
    fn unknown_user_and_missing_binary_are_errors() {
        let profile = PROFILE.replace("www-data", "agent");
        let mut fx = Fixture::with_profile(bookworm(), &profile);
        let binary = fx.dir.path().join("bin/blog-agent");
        let err = fx
            .apply(|root, _boot, ctx, _| apply(root, ctx, Some(&binary)).map_err(|e| e.to_string()))
            .unwrap_err();
        assert!(
            err.contains("`agent`") || err.contains("\"agent\""),
            "{err}"
        );
        let err = fx
            .apply(|root, _boot, ctx, _| apply(root, ctx, None).map_err(|e| e.to_string()))
            .unwrap_err();
        assert!(err.contains("not fetched"), "{err}");
        assert_eq!(exec_word(";"), "\\;");
        assert_eq!(exec_word(""), "\"\"");
        assert_eq!(systemd_size(1000), "1000");
    }
}
