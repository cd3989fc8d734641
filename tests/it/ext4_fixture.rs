//! Fixtures for the ext4 reader tests: source trees made with python3 and filesystems made
//! from them with the real `mke2fs -d`, in temporary directories. The big tree is built
//! once per test run and shared.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds a source tree. `full` adds the bulk of 20,000 files, the 5,000-entry directory,
/// 40 levels of nesting, the 4.5 GiB sparse file and the fragmented file; every tree has
/// the special files, modes, owners, links, odd names and nanosecond times.
const MAKE_TREE: &str = r#"
import os, sys, socket, stat
src, full = sys.argv[1], sys.argv[2] == "full"
def w(p, data, mode=None):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(p, mode)
os.makedirs(src, exist_ok=True)
if full:
    for d in range(30):
        for i in range(500):
            w(f"{src}/bulk/d{d:02}/f{i:03}", (f"bulk {d} {i}\n" * (1 + (i * 37 + d) % 300)).encode())
    for i in range(5000):
        w(f"{src}/big/entry-{i:05}-with-a-somewhat-longer-name", f"{i}\n".encode())
    p = src + "/deep"
    for l in range(40):
        p += f"/level{l:02}"
    w(p + "/leaf", b"deep leaf\n")
    with open(src + "/sparse", "wb") as f:
        f.seek(4 * 2**30 + 2**29)
        f.write(b"tail of a sparse file\n")
    with open(src + "/frag", "wb") as f:
        for i in range(1500):
            f.seek(i * 8192)
            f.write(bytes([(i % 251) + 1]) * 4096)
# Legacy block maps with 1 KiB blocks: double indirect past 268 KiB, triple past 64.3 MiB.
w(src + "/maps/double", bytes((i * 7 + 1) % 256 for i in range(300 * 1024)))
with open(src + "/maps/triple", "wb") as f:
    f.write(b"head\n")
    f.seek(70 * 2**20)
    f.write(b"past the triple-indirect threshold\n")
w(src + "/modes/setuid", b"suid\n", 0o4755)
w(src + "/modes/setgid", b"sgid\n", 0o2711)
w(src + "/modes/odd", b"odd\n", 0o407)
w(src + "/modes/empty", b"", 0o600)
for name, mode in [("sticky", 0o1777), ("setgid-dir", 0o2775), ("private", 0o700)]:
    os.makedirs(f"{src}/modes/{name}")
    os.chmod(f"{src}/modes/{name}", mode)
w(src + "/owners/a", b"owned\n")
os.chown(src + "/owners/a", 1234, 5678)
w(src + "/owners/high", b"high ids\n")
os.chown(src + "/owners/high", 70000, 80000)
os.makedirs(src + "/dev")
os.mknod(src + "/dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
os.mknod(src + "/dev/sda1", 0o660 | stat.S_IFBLK, os.makedev(8, 1))
os.mknod(src + "/dev/big", 0o600 | stat.S_IFCHR, os.makedev(259, 70000))
os.mkfifo(src + "/dev/fifo", 0o644)
s = socket.socket(socket.AF_UNIX)
s.bind(src + "/dev/sock")
s.close()
w(src + "/links/a/original", b"linked three times\n")
os.makedirs(src + "/links/b")
os.link(src + "/links/a/original", src + "/links/b/second")
os.link(src + "/links/a/original", src + "/third")
os.symlink("original", src + "/links/a/fast")
os.symlink("/" + "long-target-component/" * 5 + "end", src + "/links/slow")
os.lchown(src + "/links/slow", 42, 43)
w(src + "/names/" + "n" * 255, b"long name\n")
w(src + "/names/caf\u00e9 \u2615 \u65e5\u672c\u8a9e", b"utf8\n")
w(src + "/xattr/cap", b"capable\n")
w(src + "/xattr/user", b"commented\n")
w(src + "/xattr/big", b"big attribute\n")
w(src + "/owners/future", b"after 2038\n")
i = 0
for root, dirs, files in os.walk(src, topdown=False):
    for name in sorted(files + dirs):
        p = os.path.join(root, name)
        mtime = 1_500_000_000_000_000_000 + i * 1_000_003_007
        os.utime(p, ns=(1_600_000_000_123_456_789, mtime), follow_symlinks=False)
        i += 1
os.utime(src + "/owners/future", ns=(0, 4_400_000_000_987_654_321))
os.utime(src, ns=(0, 1_234_567_890_123_456_789))
"#;

/// A source tree and a filesystem image made from it.
pub struct Fixture {
    /// Keeps the temporary directory alive.
    _dir: tempfile::TempDir,
    /// The source tree.
    pub src: PathBuf,
    /// The image.
    pub img: PathBuf,
    /// The xattrs set with debugfs after mke2fs: (path, name, value).
    pub xattrs: Vec<(String, String, Vec<u8>)>,
}

/// Runs a command and panics with its output if it fails or is missing.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes the source tree at `src`.
pub fn make_tree(src: &Path, full: bool) {
    run(Command::new("python3")
        .arg("-c")
        .arg(MAKE_TREE)
        .arg(src)
        .arg(if full { "full" } else { "small" }));
}

/// Runs `mke2fs -q -F -d src` with `args` on a new image of `size`.
pub fn mke2fs(src: &Path, img: &Path, args: &[&str], size: &str) {
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-L", "testroot", "-d"])
        .arg(src)
        .args(args)
        .arg(img)
        .arg(size));
}

/// Writes debugfs commands that give every path of a tree its source mtime with
/// nanoseconds: `mke2fs -d` (1.47) stores whole seconds only. The low two bits of
/// `mtime_extra` carry the seconds past 32 bits, so they are kept.
const TIME_COMMANDS: &str = r#"
import os, sys
src, out = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    for root, dirs, files in os.walk(src):
        entries = [root] + [os.path.join(root, n) for n in files]
        for p in entries:
            st = os.lstat(p)
            secs, ns = divmod(st.st_mtime_ns, 10**9)
            epoch = ((secs - ((secs & 0xffffffff) ^ 0x80000000) + 0x80000000) >> 32) & 3
            rel = "/" + os.path.relpath(p, src) if p != src else "/"
            f.write(f'sif "{rel}" mtime @{secs}\n')
            f.write(f'sif "{rel}" mtime_extra {(ns << 2) | epoch}\n')
"#;

/// Gives every path of the image its source mtime nanoseconds (see [`TIME_COMMANDS`]).
fn set_nanoseconds(dir: &Path, src: &Path, img: &Path) {
    let cmds = dir.join("time-cmds");
    run(Command::new("python3")
        .arg("-c")
        .arg(TIME_COMMANDS)
        .arg(src)
        .arg(&cmds));
    run(Command::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&cmds)
        .arg(img));
}

/// Runs `e2fsck -fyD`, which gives large directories a hashed index: `mke2fs -d`
/// writes them linearly.
fn index_directories(img: &Path) {
    let out = Command::new("e2fsck")
        .arg("-fyD")
        .arg(img)
        .output()
        .unwrap_or_else(|e| panic!("cannot run e2fsck (is it installed?): {e}"));
    // 0: clean, 1: errors corrected (here: directories optimized).
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "e2fsck -fyD failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Sets the test xattrs with `debugfs -w` and returns them.
/// `big_len` is the size of a value too large for the inode, so it lands in the external
/// attribute block; it must fit one block.
fn set_xattrs(dir: &Path, img: &Path, big_len: u32) -> Vec<(String, String, Vec<u8>)> {
    // A version-2 file capability granting cap_net_bind_service, as setcap writes it.
    let mut cap = vec![0u8; 20];
    cap[0..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
    cap[4..8].copy_from_slice(&(1u32 << 10).to_le_bytes());
    let big: Vec<u8> = (0..big_len).map(|i| b'a' + (i % 26) as u8).collect();
    let wanted = vec![
        (
            "/xattr/cap".to_string(),
            "security.capability".to_string(),
            cap,
        ),
        (
            "/xattr/user".to_string(),
            "user.comment".to_string(),
            b"hello there".to_vec(),
        ),
        ("/xattr/big".to_string(), "user.big".to_string(), big),
        (
            "/xattr/big".to_string(),
            "trusted.small".to_string(),
            b"t".to_vec(),
        ),
    ];
    let mut script = String::new();
    for (i, (path, name, value)) in wanted.iter().enumerate() {
        let file = dir.join(format!("xattr-value-{i}"));
        std::fs::write(&file, value).unwrap();
        script.push_str(&format!("ea_set -f {} {path} {name}\n", file.display()));
    }
    let cmds = dir.join("xattr-cmds");
    std::fs::write(&cmds, script).unwrap();
    run(Command::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&cmds)
        .arg(img));
    wanted
}

/// Makes a tree and an image with the given mke2fs arguments, then sets the xattrs.
pub fn build(full: bool, args: &[&str], size: &str, big_len: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let img = dir.path().join("fs.img");
    make_tree(&src, full);
    mke2fs(&src, &img, args, size);
    index_directories(&img);
    let xattrs = set_xattrs(dir.path(), &img, big_len);
    set_nanoseconds(dir.path(), &src, &img);
    Fixture {
        _dir: dir,
        src,
        img,
        xattrs,
    }
}

/// The big tree in a Jessie-era filesystem (no metadata_csum, no 64bit).
pub fn jessie() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        build(
            true,
            &[
                "-t",
                "ext4",
                "-b",
                "4096",
                "-O",
                "^metadata_csum,^64bit",
                "-N",
                "40000",
            ],
            "400M",
            2000,
        )
    })
}

/// The big tree in a Bookworm-era filesystem (pi-gen's `-O ^huge_file`).
pub fn bookworm() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        build(
            true,
            &[
                "-t",
                "ext4",
                "-b",
                "4096",
                "-O",
                "^huge_file",
                "-N",
                "40000",
            ],
            "400M",
            2000,
        )
    })
}

/// The small tree in an ext2 filesystem with 1 KiB blocks: legacy block maps reaching
/// triple-indirect blocks.
pub fn ext2() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| build(false, &["-t", "ext2", "-b", "1024"], "8M", 700))
}

/// The small tree in ext4 with inline data.
pub fn inline() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        build(
            false,
            &["-t", "ext4", "-O", "inline_data", "-b", "1024"],
            "8M",
            700,
        )
    })
}

/// The small tree in ext4 with 16 KiB clusters of 1 KiB blocks (bigalloc).
pub fn bigalloc() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let args = ["-t", "ext4", "-O", "bigalloc", "-C", "16384", "-b", "1024"];
        build(false, &args, "32M", 700)
    })
}

/// The small tree in ext4 with the ea_inode feature, where a value of a whole block (the
/// most `debugfs ea_set` takes) cannot fit the attribute block and gets an inode of its own.
pub fn ea_inode() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        build(
            false,
            &["-t", "ext4", "-O", "ea_inode", "-b", "1024"],
            "8M",
            1024,
        )
    })
}

/// The small tree in ext4 with meta_bg and 38 groups of 1 KiB blocks, so the group
/// descriptors fill two blocks in two different meta groups.
pub fn meta_bg() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let args = [
            "-t",
            "ext4",
            "-O",
            "meta_bg,^resize_inode,^64bit",
            "-b",
            "1024",
        ];
        build(false, &args, "300M", 700)
    })
}

/// The small tree in ext4 with 128-byte inodes: no nanoseconds, no creation time, no room
/// for attributes in the inode.
pub fn small_inodes() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        build(
            false,
            &["-t", "ext4", "-I", "128", "-b", "4096"],
            "16M",
            2000,
        )
    })
}

/// A small ext4 image read into memory, for mutation tests.
pub fn small_image() -> &'static Vec<u8> {
    static F: OnceLock<Vec<u8>> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let img = dir.path().join("small.img");
        make_tree(&src, false);
        // The 70 MiB sparse file is only a few blocks; drop the 300 KiB one to stay small.
        std::fs::remove_file(src.join("maps/double")).unwrap();
        mke2fs(
            &src,
            &img,
            &["-t", "ext4", "-b", "1024", "-O", "^has_journal"],
            "2M",
        );
        set_xattrs(dir.path(), &img, 700);
        std::fs::read(&img).unwrap()
    })
}
