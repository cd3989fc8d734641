//! The first-boot unit: `pi-imager-firstboot.service` and its script, which finish on the
//! node what the image build could not do: the packages' deferred `preinst` steps (the
//! build host cannot run the image's architecture) and `dpkg --configure -a`.
//!
//! Ordering. The unit runs in early boot, `DefaultDependencies=no`, after the local file
//! systems are mounted and the root is writable (`local-fs.target`,
//! `systemd-remount-fs.service`) and journald listens, and before `sysinit.target`. Every
//! ordinary service (the web server, the network managers, `network-pre.target` users)
//! is ordered after `sysinit.target` by its default dependencies, so none of them starts
//! before the packages are configured, and no per-service drop-in is needed. Explicit
//! `Before=` lines for the packages' own units were rejected: a package such as `systemd`
//! ships early-boot units this unit must run *after*, and the resulting ordering cycle
//! would make systemd drop a job.
//!
//! Because the boot waits for it, nothing it runs may wait for a later unit: while it
//! runs, `/usr/sbin/policy-rc.d` answers 101 ("action forbidden"), so `invoke-rc.d` and
//! `deb-systemd-invoke` in the maintainer scripts do not start services (a start would
//! wait for `sysinit.target`, which waits for this unit). Services the packages enable
//! are started afterwards by queueing `default.target` again without blocking.
//!
//! It runs once: `ConditionPathExists=` on a flag file that the script removes, with its
//! enablement link, only on success; a failure exits non-zero and the next boot retries
//! (preinst steps already done are not repeated). When the node stage enables a locale the
//! base has not compiled, a flag asks the script to run `locale-gen` after configuring
//! (only the image can run its own `localedef`). This module writes the files into the
//! tree; it does not decide which packages need configuring.

use crate::apt::dpkg::PreinstStep;
use crate::tree::{Inode, Kind, Timestamp, Tree, TreeError, TreePath};
use std::fmt::Write as _;

/// The unit's name.
pub const UNIT_NAME: &str = "pi-imager-firstboot.service";
/// Where the unit file is written.
pub const UNIT_PATH: &str = "etc/systemd/system/pi-imager-firstboot.service";
/// The enablement link.
pub const LINK_PATH: &str = "etc/systemd/system/sysinit.target.wants/pi-imager-firstboot.service";
/// The script the unit runs.
pub const SCRIPT_PATH: &str = "usr/lib/pi-imager/firstboot";
/// The flag whose presence makes the unit run.
pub const PENDING_PATH: &str = "var/lib/pi-imager/firstboot-pending";
/// The flag asking the script to run `locale-gen` (the node stage enabled a locale in
/// `/etc/locale.gen` that the build host cannot compile for the image).
pub const LOCALE_GEN_PATH: &str = "var/lib/pi-imager/locale-gen-pending";

/// Why the first-boot files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FirstbootError {
    /// The tree refused a file (a parent is not a directory, …).
    #[error("cannot write {path} into the image for the first-boot unit: {source}")]
    Tree {
        /// The path.
        path: String,
        /// The refusal.
        source: TreeError,
    },
}

/// The unit file's text.
pub fn unit_text() -> String {
    format!(
        "\
# Written by pi-imager: finishes installing the packages the image build unpacked
# (their preinst steps, then `dpkg --configure -a`), once, before the services start.
# It disables itself on success; on failure the next boot retries.
[Unit]
Description=Finish installing the packages added by pi-imager
DefaultDependencies=no
ConditionPathExists=/{PENDING_PATH}
Requires=local-fs.target
After=local-fs.target systemd-remount-fs.service systemd-journald.socket
Before=sysinit.target network-pre.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/{SCRIPT_PATH}
StandardOutput=journal+console
StandardError=journal+console
# Configuring many packages on an SD card can take long; a timeout would only leave
# them half-configured.
TimeoutStartSec=0

[Install]
WantedBy=sysinit.target
"
    )
}

/// Quotes a word for `sh` (single quotes, embedded quotes escaped).
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The script's text, with the `preinst` steps in unpack order.
pub fn script_text(steps: &[PreinstStep]) -> String {
    let mut calls = String::new();
    for step in steps {
        let mut words = vec![
            quote(&step.info_name),
            quote(&step.package),
            quote(&step.architecture),
        ];
        words.extend(step.args.iter().map(|a| quote(a)));
        let _ = writeln!(calls, "preinst {} || exit 1", words.join(" "));
    }
    format!(
        r#"#!/bin/sh
# Written by pi-imager, run once by {UNIT_NAME}: finishes installing the packages the
# image build unpacked. Output goes to the journal (journalctl -u {UNIT_NAME}).
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DEBIAN_FRONTEND=noninteractive
export PATH DEBIAN_FRONTEND
PENDING=/{PENDING_PATH}
DONE=/var/lib/pi-imager/firstboot-preinst-done
LINK=/{LINK_PATH}
POLICY=/usr/sbin/policy-rc.d

log() {{
    echo "pi-imager-firstboot: $*"
}}

# The boot waits for this script, so maintainer scripts must not start services (a start
# would wait for the boot): policy-rc.d forbids it while we run, unless the image has its
# own policy.
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# pi-imager-firstboot: no service starts during configuration.\nexit 101\n' >"$POLICY"
    chmod 0755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
    trap 'exit 1' HUP INT TERM
fi

DPKG_VERSION=$(dpkg-query --showformat='${{Version}}' --show dpkg 2>/dev/null || true)

# preinst INFO-NAME PACKAGE ARCH ARGS...: the step dpkg runs before unpacking, with the
# environment dpkg gives maintainer scripts. Done steps are noted so a retry skips them.
preinst() {{
    info=$1
    pkg=$2
    arch=$3
    shift 3
    if [ -f "$DONE" ] && grep -qxF "$info" "$DONE"; then
        return 0
    fi
    script=/var/lib/dpkg/info/$info.preinst
    if [ -x "$script" ]; then
        log "$info: preinst $*"
        if ! (cd / && DPKG_MAINTSCRIPT_PACKAGE=$pkg DPKG_MAINTSCRIPT_ARCH=$arch \
            DPKG_MAINTSCRIPT_NAME=preinst DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 \
            DPKG_RUNNING_VERSION=$DPKG_VERSION DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= \
            "$script" "$@"); then
            log "$info: preinst failed; the next boot retries"
            return 1
        fi
    fi
    echo "$info" >>"$DONE"
}}

mkdir -p /var/lib/pi-imager
# Libraries unpacked by the build are not in ld.so.cache yet; the scripts below may need them.
ldconfig || true
{calls}
log "configuring packages: dpkg --configure -a"
if ! dpkg --force-confdef --force-confold --configure -a; then
    log "dpkg --configure -a failed; the next boot retries"
    exit 1
fi

# Locales the node stage enabled in /etc/locale.gen: compiling them needs the image's own
# localedef, so it happens here, after the locales package itself is configured.
LOCALE_GEN=/{LOCALE_GEN_PATH}
if [ -e "$LOCALE_GEN" ]; then
    log "generating the locales enabled in /etc/locale.gen: locale-gen"
    if ! locale-gen; then
        log "locale-gen failed; the next boot retries"
        exit 1
    fi
fi

rm -f "$DONE" "$LINK" "$PENDING" "$LOCALE_GEN"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    # Services the packages enabled just now were not part of this boot's transaction.
    systemctl --no-block start default.target || true
fi
log "done; this unit is now disabled"
exit 0
"#
    )
}

fn put(tree: &mut Tree, path: &str, inode: Inode, mtime: Timestamp) -> Result<(), FirstbootError> {
    let err = |source| FirstbootError::Tree {
        path: format!("/{path}"),
        source,
    };
    let path = TreePath::parse(path).map_err(err)?;
    let parent = path.parent().unwrap_or_default();
    tree.create_dir_all(&parent, &Inode::dir(0o755, mtime))
        .map_err(err)?;
    let dest = tree.resolve(&path, false).map_err(err)?;
    tree.replace(dest, inode).map_err(err)?;
    Ok(())
}

/// The unit, its script (0755), the pending flag and the enablement link, root-owned, each
/// with its path (relative to the root) and time `mtime`.
pub fn firstboot_files(steps: &[PreinstStep], mtime: Timestamp) -> [(&'static str, Inode); 4] {
    let link = Inode::new(
        Kind::Symlink(format!("/{UNIT_PATH}").into_bytes()),
        0o777,
        mtime,
    );
    [
        (UNIT_PATH, Inode::file(unit_text(), 0o644, mtime)),
        (SCRIPT_PATH, Inode::file(script_text(steps), 0o755, mtime)),
        (
            PENDING_PATH,
            Inode::file(
                "pi-imager: packages await configuration on first boot\n",
                0o644,
                mtime,
            ),
        ),
        (LINK_PATH, link),
    ]
}

/// Writes the unit, its enablement link, its script (0755) and the pending flag into
/// `tree`, root-owned, every file with time `mtime`.
pub fn install_firstboot(
    tree: &mut Tree,
    steps: &[PreinstStep],
    mtime: Timestamp,
) -> Result<(), FirstbootError> {
    for (path, inode) in firstboot_files(steps, mtime) {
        put(tree, path, inode, mtime)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_sh() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
        let text = script_text(&[PreinstStep {
            info_name: "libc6:armhf".into(),
            package: "libc6".into(),
            architecture: "armhf".into(),
            args: vec!["upgrade".into(), "2.19-18".into(), "2.24-11".into()],
        }]);
        assert!(text.contains(
            "preinst 'libc6:armhf' 'libc6' 'armhf' 'upgrade' '2.19-18' '2.24-11' || exit 1\n"
        ));
        assert!(unit_text().contains("ConditionPathExists=/var/lib/pi-imager/firstboot-pending"));
    }
}
