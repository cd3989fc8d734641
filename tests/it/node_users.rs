//! Accounts checked by shadow's own checkers: `pwck -r` and `grpck -r` in a copy of the
//! written tree (`-R`), which verify every line's syntax, that passwd and shadow, group and
//! gshadow agree, and that each home directory and shell exists; `visudo -c` on the sudo
//! rule written for a key-only administrator.

use std::fs;
use std::process::Command;

use pi_imager::node::users;
use pi_imager::profile::Generation;
use pi_imager::tree::TreePath;

use super::node_tree_fixture::{export_all, output, profile, run_part, tree};

const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
pi:x:1000:1000:,,,:/home/pi:/bin/bash
";
const SHADOW: &[u8] = b"root:*:16861:0:99999:7:::
www-data:*:16861:0:99999:7:::
pi:$6$rBoByrWRKMY1EHFy$ho.LISnfm83CLBWBE/yqJ6Lq1TinRlxw/ImMTPcvvMuUfhQYcMmFnpFXUPowjy2br1NA0IACwF9JKugSNuHoe0:16861:0:99999:7:::
";
const GROUP: &[u8] = b"root:x:0:\nsudo:x:27:pi\nwww-data:x:33:\nshadow:x:42:\npi:x:1000:\n";
const GSHADOW: &[u8] = b"root:*::\nsudo:*::pi\nwww-data:*::\nshadow:*::\npi:!::\n";

#[test]
fn pwck_and_grpck_accept_the_written_accounts() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = profile(
        tmp.path(),
        "[system]\nhostname = \"blog-pi3\"\n\n[[user]]\nname = \"pete\"\ngroups = [\"sudo\", \"www-data\"]\n\n[[user]]\nname = \"pi\"\ngroups = [\"www-data\"]\n",
    );
    let mut root = tree(&[
        ("etc/passwd", PASSWD, 0o644),
        ("etc/shadow", SHADOW, 0o640),
        ("etc/group", GROUP, 0o644),
        ("etc/gshadow", GSHADOW, 0o640),
        ("etc/skel/.bashrc", b"# bashrc\n", 0o644),
        ("etc/sudoers.d/README", b"# drop-ins\n", 0o440),
        ("bin/bash", b"ELF", 0o755),
        ("usr/sbin/nologin", b"ELF", 0o755),
        ("home/pi/.profile", b"", 0o644),
        ("root/.profile", b"", 0o644),
        ("var/www/html/index.html", b"", 0o644),
    ]);
    let mut boot = tree(&[]);
    run_part(
        &profile,
        Generation::Buster,
        &mut root,
        &mut boot,
        |r, _, c, _| users::apply(r, c),
    );
    assert!(
        root.get(&TreePath::parse("home/pete/.bashrc").unwrap())
            .is_some()
    );
    let out = tmp.path().join("root");
    export_all(&root, &out);
    let check = |tool: &str| {
        let result = output(Command::new(tool).arg("-r").arg("-R").arg(&out));
        (
            result.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&result.stdout),
                String::from_utf8_lossy(&result.stderr)
            ),
        )
    };
    for tool in ["pwck", "grpck"] {
        let (ok, text) = check(tool);
        assert!(ok, "{tool} -r: {text}");
    }
    // pete has keys only and is in sudo: his passwordless sudo rule must parse.
    let sudoers = out.join(users::sudoers_path("pete").trim_start_matches('/'));
    let visudo = output(Command::new("visudo").arg("-c").arg("-f").arg(&sudoers));
    assert!(
        visudo.status.success(),
        "visudo -c: {}{}",
        String::from_utf8_lossy(&visudo.stdout),
        String::from_utf8_lossy(&visudo.stderr)
    );
    let passwd = fs::read_to_string(out.join("etc/passwd")).unwrap();
    assert_eq!(passwd.matches("\npi:").count(), 1);
    // The check is real: a user without a shadow line is reported.
    fs::write(
        out.join("etc/passwd"),
        passwd + "eve:x:1002:1002:,,,:/home/pete:/bin/bash\n",
    )
    .unwrap();
    assert!(!check("pwck").0, "pwck did not read the written passwd");
}
