//! System settings on a tree: a locale the base has not compiled asks the first-boot unit
//! for `locale-gen`, and the unit's script, with that step, is valid `sh` (`sh -n`).

use std::process::Command;

use pi_imager::apt::firstboot::{LOCALE_GEN_PATH, SCRIPT_PATH, UNIT_PATH};
use pi_imager::node::system::{self, SYSCTL_PATH};
use pi_imager::profile::Generation;

use super::node_tree_fixture::{check, profile, read, run_part, tree};

#[test]
fn locale_gen_is_left_to_a_valid_first_boot_script() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = profile(
        tmp.path(),
        "[system]\nhostname = \"blog-pi3\"\ntimezone = \"Europe/London\"\nlocale = \"de_DE.UTF-8\"\nsysctl = { \"vm.swappiness\" = 10, \"net.ipv6.conf.all.accept_ra\" = \"0\" }\n",
    );
    let mut root = tree(&[
        (
            "etc/hosts",
            b"127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n",
            0o644,
        ),
        (
            "etc/locale.gen",
            b"# en_GB.UTF-8 UTF-8\n# de_DE.UTF-8 UTF-8\n",
            0o644,
        ),
        (
            "usr/share/i18n/SUPPORTED",
            b"de_DE.UTF-8 UTF-8\nen_GB.UTF-8 UTF-8\n",
            0o644,
        ),
        ("usr/share/zoneinfo/Europe/London", b"TZif2", 0o644),
    ]);
    let mut boot = tree(&[]);
    let written = run_part(
        &profile,
        Generation::Buster,
        &mut root,
        &mut boot,
        |r, _, c, _| system::apply(r, c),
    );
    let paths: Vec<String> = written.root.iter().map(ToString::to_string).collect();
    for path in [
        "/etc/hostname",
        "/etc/hosts",
        "/etc/localtime",
        "/etc/timezone",
        "/etc/default/locale",
        "/etc/locale.gen",
        SYSCTL_PATH,
    ] {
        assert!(
            paths.contains(&path.to_owned()),
            "{path} not recorded: {paths:?}"
        );
    }
    assert_eq!(
        String::from_utf8(read(&root, "etc/locale.gen")).unwrap(),
        "# en_GB.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n"
    );
    assert!(
        String::from_utf8(read(&root, SYSCTL_PATH))
            .unwrap()
            .ends_with("net.ipv6.conf.all.accept_ra = 0\nvm.swappiness = 10\n")
    );
    read(&root, LOCALE_GEN_PATH);
    read(&root, UNIT_PATH);
    let script = tmp.path().join("firstboot");
    std::fs::write(&script, read(&root, SCRIPT_PATH)).unwrap();
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("locale-gen"));
    check(Command::new("sh").arg("-n").arg(&script));
}
