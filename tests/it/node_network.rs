//! The network files the node stage writes, read by the programs that will read them on
//! the node: NetworkManager's keyfile parser (`nmcli --offline connection modify` reads a
//! keyfile on stdin, checks it as the daemon does and prints it back normalised), dhcpcd's
//! own option parser, the exit hook run by `sh` as dhcpcd-run-hooks sources it, and the
//! ifupdown stanzas through `ifquery` and `ifup --no-act`, which print what ifup would run.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

use pi_imager::profile::Generation;

use crate::node_fixture::{SEED, build, profile, text, validator, with_network};

/// `section/key=value` lines of a keyfile, comments and blank lines left out.
fn keyfile_pairs(text: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut pairs = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else {
            pairs.insert(format!("{section}/{line}"));
        }
    }
    pairs
}

fn nmcli_offline(keyfile: &str) -> (bool, String, String) {
    let mut child = Command::new("nmcli")
        .args(["--offline", "connection", "modify"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run nmcli (install network-manager): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(keyfile.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const NETWORKS: [&str; 3] = [
    // The seed: IPv6 only, static, with its gateway and DNS64 resolvers.
    r#"[network]
interface = "eth0"
ipv4 = "off"
ipv6 = "2001:db8:0:82::3/64"
gateway6 = "2001:db8:0:82::1"
dns = ["2001:db8:0:53::64", "2001:db8:1:53::64"]"#,
    // Static IPv4, SLAAC with a fixed default route, resolvers of both families.
    r#"[network]
interface = "eth0"
ipv4 = "192.0.2.10/24"
gateway4 = "192.0.2.1"
ipv6 = "auto"
gateway6 = "fe80::1"
dns = ["192.0.2.53", "2001:db8:0:53::64"]"#,
    // DHCP, no IPv6.
    r#"[network]
interface = "eth1"
ipv4 = "dhcp"
ipv6 = "off"
dns = ["192.0.2.53"]"#,
];

#[test]
fn networkmanager_reads_every_keyfile_as_written() {
    for network in NETWORKS {
        let profile = profile(&with_network(network));
        let (root, _, outcome) = build(&profile, Generation::Bookworm);
        let interface = &profile.nodes()[0].network.interface;
        let path = format!("/etc/NetworkManager/system-connections/{interface}.nmconnection");
        assert!(outcome.root.iter().any(|p| p.to_string() == path));
        let inode = root
            .lookup(&pi_imager::tree::TreePath::parse(&path[1..]).unwrap())
            .unwrap();
        assert_eq!((inode.mode, inode.uid, inode.gid), (0o600, 0, 0));
        let keyfile = text(&root, &path);
        let (ok, stdout, stderr) = nmcli_offline(&keyfile);
        assert!(
            ok,
            "NetworkManager refused the keyfile:\n{keyfile}\n{stderr}"
        );
        assert!(
            !stdout.contains("Warning") && !stderr.contains("Warning"),
            "{stdout}{stderr}"
        );
        // Every key we wrote comes back: nothing was ignored as unknown or rewritten.
        let ours = keyfile_pairs(&keyfile);
        let theirs = keyfile_pairs(&stdout);
        let lost: Vec<&String> = ours.difference(&theirs).collect();
        assert!(
            lost.is_empty(),
            "NetworkManager dropped {lost:?}:\n{stdout}"
        );
    }
}

#[test]
fn the_nmcli_check_catches_a_broken_keyfile() {
    let (ok, _, stderr) = nmcli_offline(
        "[connection]\nid=eth0\ntype=ethernet\n[ipv4]\nmethod=disabled\ndns=192.0.2.53;\n",
    );
    assert!(!ok && stderr.contains("ipv4.dns"), "{stderr}");
}

/// What dhcpcd reports while reading `conf`: the lines before it starts.
fn dhcpcd_complaints(conf: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    // `interface` blocks are read only for interfaces that exist; as global options the
    // same lines go through the same parser on any machine.
    let global: String = conf
        .lines()
        .filter(|l| !l.starts_with("interface "))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = dir.path().join("dhcpcd.conf");
    std::fs::write(&path, global).unwrap();
    let out = validator(
        Command::new("timeout")
            .args(["20", "dhcpcd", "--test", "--oneshot", "--debug", "--config"])
            .arg(&path)
            .arg("pi-imager-none0"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("dhcpcd-"),
        "dhcpcd did not start (install dhcpcd-base): {stderr}"
    );
    stderr
        .lines()
        .take_while(|l| !l.starts_with("dhcpcd-"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn dhcpcd_parses_every_block_without_complaint() {
    assert!(
        !dhcpcd_complaints("static ip6_address=2001:db8::/300\nnoipv7\n").is_empty(),
        "the check must see dhcpcd's complaints"
    );
    for network in NETWORKS {
        let profile = profile(&with_network(network));
        let (root, _, _) = build(&profile, Generation::Bullseye);
        let conf = text(&root, "/etc/dhcpcd.conf");
        let complaints = dhcpcd_complaints(&conf);
        assert!(complaints.is_empty(), "{complaints:?} for\n{conf}");
    }
}

#[test]
fn the_exit_hook_adds_the_ipv6_route_only_for_its_interface() {
    let profile = profile(SEED);
    let (root, _, _) = build(&profile, Generation::Jessie);
    let hook = text(&root, "/etc/dhcpcd.exit-hook");
    let dir = tempfile::tempdir().unwrap();
    let hook_path = dir.path().join("dhcpcd.exit-hook");
    std::fs::write(&hook_path, &hook).unwrap();
    let syntax = validator(Command::new("sh").arg("-n").arg(&hook_path));
    assert!(syntax.status.success(), "{syntax:?}");
    // A fake `ip` records what the hook asks for.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("ip.log");
    std::fs::write(
        bin.join("ip"),
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    validator(Command::new("chmod").arg("755").arg(bin.join("ip")));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for (interface, reason) in [
        ("eth0", "STATIC6"),
        ("eth0", "STOP"),
        ("wlan0", "BOUND6"),
        ("eth0", "ROUTERADVERT"),
    ] {
        // dhcpcd-run-hooks sources the hook with these variables set.
        let out = validator(
            Command::new("sh")
                .arg("-c")
                .arg(format!(". '{}'", hook_path.display()))
                .env("PATH", &path)
                .env("interface", interface)
                .env("reason", reason),
        );
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "-6 route replace default via 2001:db8:0:82::1 dev eth0\n".repeat(2)
    );
}

#[test]
fn ifupdown_would_configure_what_the_profile_says() {
    let wants: [&[&str]; 3] = [
        &[
            "ip -6 addr add 2001:db8:0:82::3/64",
            "ip -6 route replace default via 2001:db8:0:82::1",
        ],
        &[
            "ip addr add 192.0.2.10/255.255.255.0",
            "ip route add default via 192.0.2.1",
            "ip -6 route replace default via fe80::1 dev eth0",
        ],
        // Whichever DHCP client the machine has.
        &["dhclient|dhcpcd|udhcpc", "disable_ipv6=1"],
    ];
    for (network, want) in NETWORKS.iter().zip(wants) {
        let text_ =
            with_network(&network.replace("[network]", "[network]\nrenderer = \"ifupdown\""));
        let profile = profile(&text_);
        let interface = profile.nodes()[0].network.interface.clone();
        let (root, _, _) = build(&profile, Generation::Buster);
        let stanza = text(
            &root,
            &format!("/etc/network/interfaces.d/pi-imager-{interface}"),
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("interfaces");
        std::fs::write(&file, &stanza).unwrap();
        let query = validator(Command::new("ifquery").arg("-i").arg(&file).arg("--list"));
        // ifquery adds the loopback it always knows.
        let listed = String::from_utf8_lossy(&query.stdout).into_owned();
        assert!(listed.lines().any(|l| l == interface), "{query:?}");
        let out = validator(
            Command::new("ifup")
                .args(["--no-act", "--verbose", "--force", "-i"])
                .arg(&file)
                .args(["--state-dir"])
                .arg(dir.path())
                .arg(&interface),
        );
        let commands = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ifup refused:\n{stanza}\n{commands}");
        for command in want {
            assert!(
                command.split('|').any(|c| commands.contains(c)),
                "`{command}` not in\n{commands}\nfor\n{stanza}"
            );
        }
    }
}
