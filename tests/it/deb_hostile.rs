//! Hostile `.deb` files, made by hand with Python (tar by `tarfile`, `ar` written byte by
//! byte so headers can lie): each must fail with a message naming the file and the member,
//! and leave the tree as it was. Mutated packages must never panic the reader.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pi_imager::apt::{
    ContentStore, DebError, DebLimits, DebPackage, Diversions, UnpackError, unpack,
};
use pi_imager::tree::TreePath;
use proptest::prelude::*;

use crate::deb_fixture::{run, usrmerged_tree};
use crate::deb_unpack::snapshot;

/// Helpers every case script starts with: `tar(entries)`, `ar(members)`, `CONTROL`, and
/// `out`, the path to write.
const PRELUDE: &str = r#"
import io, sys, tarfile, gzip, lzma
out = sys.argv[1]
def tar(entries, fmt=tarfile.GNU_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode='w', format=fmt) as t:
        for e in entries:
            name, kind = e[0], e[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 1600000000
            if kind == 'dir':
                ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
            elif kind == 'file':
                ti.size = len(e[2]); ti.mode = 0o644; t.addfile(ti, io.BytesIO(e[2]))
            elif kind == 'hardlink':
                ti.type = tarfile.LNKTYPE; ti.linkname = e[2]; t.addfile(ti)
            elif kind == 'symlink':
                ti.type = tarfile.SYMTYPE; ti.linkname = e[2]; t.addfile(ti)
    return b.getvalue()
def ar(members, lie=None):
    b = b'!<arch>\n'
    for name, data in members:
        size = len(data) + (lie or 0 if name.startswith('data') else 0)
        b += ('%-16s%-12d%-6d%-6d%-8s%-10d`\n' % (name, 0, 0, 0, '100644', size)).encode()
        b += data + (b'\n' if len(data) % 2 else b'')
    return b
CONTROL = tar([('./', 'dir'), ('./control', 'file', b'Package: evil\nVersion: 1\nArchitecture: all\nMaintainer: x <x@example.org>\nDescription: x\n x\n')])
def deb(data_name, data, control=CONTROL, version=b'2.0\n', lie=None):
    open(out, 'wb').write(ar([('debian-binary', version), ('control.tar', control), (data_name, data)], lie))
BASE = [('./', 'dir'), ('./usr/', 'dir'), ('./usr/share/', 'dir')]
"#;

/// Writes `name` in `dir` from the case `script`.
fn make(dir: &Path, name: &str, script: &str) -> PathBuf {
    let out = dir.join(name);
    let program = format!("{PRELUDE}\n{script}\n");
    run(Command::new("python3").arg("-c").arg(program).arg(&out));
    out
}

/// Opens and unpacks `deb` into a merged-/usr tree; returns the error message and checks
/// the tree did not change.
fn attempt(deb: &Path, store: &ContentStore, limits: &DebLimits) -> Result<(), String> {
    let mut tree = usrmerged_tree();
    let before = snapshot(&tree);
    let result = DebPackage::open(deb, store, limits)
        .map_err(|e| e.to_string())
        .and_then(|pkg| {
            unpack(
                &mut tree,
                &pkg,
                None,
                &Diversions::default(),
                &|_: &TreePath| false,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        });
    if result.is_err() {
        assert_eq!(
            snapshot(&tree),
            before,
            "{} changed the tree",
            deb.display()
        );
    }
    result
}

#[test]
fn hostile_archives_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::new(dir.path().join("cache"));
    let small = DebLimits {
        max_control: 1 << 20,
        max_data: 10 << 20,
        ..DebLimits::default()
    };
    let cases: [(&str, &str, &str, &[&str]); 9] = [
        (
            "dotdot.deb",
            "deb('data.tar', tar(BASE + [('./../etc/passwd', 'file', b'root::0:0::/:/bin/sh\\n')]))",
            "data.tar",
            &["../etc/passwd", "escape"],
        ),
        (
            "hardlink.deb",
            "deb('data.tar', tar(BASE + [('./usr/share/x', 'hardlink', './usr/share/missing')]))",
            "data.tar",
            &["usr/share/x", "usr/share/missing", "earlier in the archive"],
        ),
        (
            "past-end.deb",
            "deb('data.tar', tar(BASE), lie=1000)",
            "data.tar",
            &["past the end"],
        ),
        (
            "truncated-xz.deb",
            "x = lzma.compress(tar(BASE + [('./usr/share/f', 'file', bytes(range(256)) * 4000)]))\ndeb('data.tar.xz', x[:len(x) // 2])",
            "data.tar.xz",
            &["usr/share/f", "failed after"],
        ),
        (
            "bomb.deb",
            "deb('data.tar.gz', gzip.compress(tar(BASE + [('./usr/share/zeros', 'file', bytes(100 << 20))]), 1))",
            "data.tar.gz",
            &["decompression bomb"],
        ),
        (
            "unknown.deb",
            "deb('data.tar.lz4', tar(BASE))",
            "data.tar.lz4",
            &["not one dpkg reads"],
        ),
        (
            "huge-size.deb",
            "t = tarfile.TarInfo('./usr/share/huge'); t.size = 8 << 30; t.mode = 0o644\nh = t.tobuf(tarfile.GNU_FORMAT)\ndeb('data.tar', tar(BASE)[:1536] + h + b'x' * 512 + bytes(1024))",
            "data.tar",
            &["usr/share/huge", "8589934592"],
        ),
        (
            "version.deb",
            "deb('data.tar', tar(BASE), version=b'3.0\\n')",
            "debian-binary",
            &["3.0"],
        ),
        (
            "md5.deb",
            "c = tar([('./', 'dir'), ('./control', 'file', b'Package: evil\\nVersion: 1\\n'), ('./md5sums', 'file', b'0' * 32 + b'  usr/share/f\\n')])\ndeb('data.tar', tar(BASE + [('./usr/share/f', 'file', b'data\\n')]), control=c)",
            "",
            &["/usr/share/f", "md5sums"],
        ),
    ];
    for (name, script, member, words) in cases {
        let deb = make(dir.path(), name, script);
        let message = match attempt(&deb, &store, &small) {
            Ok(()) => panic!("{name} was accepted"),
            Err(message) => message,
        };
        eprintln!("{message}");
        assert!(message.contains(name), "{name}: {message}");
        assert!(message.contains(member), "{name}: {message}");
        for word in words {
            assert!(message.contains(word), "{name}: `{word}` not in: {message}");
        }
    }
}

#[test]
fn typed_errors_for_hostile_members() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::new(dir.path().join("cache"));
    let deb = make(
        dir.path(),
        "bomb.deb",
        "deb('data.tar.gz', gzip.compress(tar(BASE + [('./usr/share/zeros', 'file', bytes(20 << 20))]), 1))",
    );
    let limits = DebLimits {
        max_control: 1 << 20,
        max_data: 1 << 20,
        ..DebLimits::default()
    };
    assert!(matches!(
        DebPackage::open(&deb, &store, &limits),
        Err(DebError::TooLarge {
            limit: 1_048_576,
            ..
        })
    ));
    let deb = make(
        dir.path(),
        "md5.deb",
        "c = tar([('./', 'dir'), ('./control', 'file', b'Package: evil\\n'), ('./md5sums', 'file', b'0' * 32 + b'  usr/share/f\\n')])\ndeb('data.tar', tar(BASE + [('./usr/share/f', 'file', b'data\\n')]), control=c)",
    );
    let pkg = DebPackage::open(&deb, &store, &limits).unwrap();
    let few = DebLimits {
        max_entries: 3,
        ..limits
    };
    assert!(matches!(
        DebPackage::open(&deb, &store, &few),
        Err(DebError::TooManyEntries { limit: 3, .. })
    ));
    let mut tree = usrmerged_tree();
    assert!(matches!(
        unpack(
            &mut tree,
            &pkg,
            None,
            &Diversions::default(),
            &|_: &TreePath| false
        ),
        Err(UnpackError::Md5Mismatch { .. })
    ));
}

#[test]
fn leading_slash_is_normalised_inside_the_image_as_dpkg_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::new(dir.path().join("cache"));
    let deb = make(
        dir.path(),
        "absolute.deb",
        "deb('data.tar', tar([('./', 'dir'), ('./etc/', 'dir'), ('/etc/passwd', 'file', b'evil\\n')]))",
    );
    let pkg = DebPackage::open(&deb, &store, &DebLimits::default()).unwrap();
    let mut tree = usrmerged_tree();
    let files = unpack(
        &mut tree,
        &pkg,
        None,
        &Diversions::default(),
        &|_: &TreePath| false,
    )
    .unwrap();
    let passwd = TreePath::parse("etc/passwd").unwrap();
    assert_eq!(tree.get(&passwd).unwrap().size(), 5);
    assert_eq!(files.list_text(), b"/.\n/etc\n/etc/passwd\n");
}

/// A symlink pointing far above the root, then a file through it: the file lands inside
/// the image (`..` stops at the image's root, as in dpkg's chroot), never on the host.
#[test]
fn symlinks_pointing_outside_stay_inside_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::new(dir.path().join("cache"));
    let deb = make(
        dir.path(),
        "outside.deb",
        "deb('data.tar', tar([('./', 'dir'), ('./etc/', 'dir'), ('./usr/', 'dir'), ('./usr/out', 'symlink', '../../../../../../etc'), ('./usr/abs', 'symlink', '/etc'), ('./usr/out/x', 'file', b'x\\n'), ('./usr/abs/y', 'file', b'y\\n')]))",
    );
    let pkg = DebPackage::open(&deb, &store, &DebLimits::default()).unwrap();
    let mut tree = usrmerged_tree();
    unpack(
        &mut tree,
        &pkg,
        None,
        &Diversions::default(),
        &|_: &TreePath| false,
    )
    .unwrap();
    assert!(tree.get(&TreePath::parse("etc/x").unwrap()).is_some());
    assert!(tree.get(&TreePath::parse("etc/y").unwrap()).is_some());
    assert!(tree.get(&TreePath::parse("usr/out").unwrap()).is_some());
}

/// A small valid package, plain and gzip-compressed, for mutation.
fn seeds() -> &'static [Vec<u8>; 2] {
    static SEEDS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = "tar(BASE + [('./usr/share/f', 'file', b'hello\\n' * 50), ('./usr/share/l', 'hardlink', './usr/share/f')], tarfile.PAX_FORMAT)";
        let plain = make(dir.path(), "plain.deb", &format!("deb('data.tar', {data})"));
        let gz = make(dir.path(), "gz.deb", &format!("deb('data.tar.gz', gzip.compress({data}))"));
        [std::fs::read(plain).unwrap(), std::fs::read(gz).unwrap()]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]
    #[test]
    fn mutated_debs_never_panic(
        which in 0usize..2,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = seeds()[which].clone();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let limits = DebLimits { max_control: 1 << 20, max_data: 1 << 20, max_entries: 64 };
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::new(dir.path());
        if let Ok(pkg) = DebPackage::read(Path::new("fuzz.deb"), &bytes, &store, &limits) {
            let mut tree = usrmerged_tree();
            let _ = unpack(&mut tree, &pkg, None, &Diversions::default(), &|_: &TreePath| false);
        }
    }
}
