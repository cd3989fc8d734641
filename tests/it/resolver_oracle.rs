//! The resolver held to real apt: fixture repositories built with dpkg-deb and
//! apt-ftparchive, a small dpkg status, and `apt-get -s` pointed at them through a private
//! configuration; the packages and versions apt would install and remove must be ours.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::{Command, Output};

use pi_imager::apt::resolver::{Origin, Resolution, ResolveError, Universe, check, resolve};
use pi_imager::apt::{PackagesIndex, Release, StatusFile};
use pi_imager::profile::{PackageRequest, Packages};

const ARCH: &str = "armhf";

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"))
}

fn ok(cmd: &mut Command) -> Output {
    let output = run(cmd);
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// One suite: name (suite and codename), pin priority, package control paragraphs
/// (without Architecture, which defaults to armhf; Maintainer and Description are added).
struct Suite {
    name: &'static str,
    priority: i32,
    packages: Vec<&'static str>,
}

struct Scenario {
    suites: Vec<Suite>,
    /// Status paragraphs (Status, Architecture and Maintainer added).
    installed: Vec<&'static str>,
    install: Vec<&'static str>,
    remove: Vec<&'static str>,
    recommends: bool,
}

fn control_of(paragraph: &str) -> String {
    let mut text = paragraph.trim().to_owned();
    if !text.contains("\nArchitecture:") {
        text.push_str(&format!("\nArchitecture: {ARCH}"));
    }
    text.push_str("\nMaintainer: Example <dev@example.org>\nDescription: fixture\n");
    text
}

fn field<'a>(paragraph: &'a str, name: &str) -> &'a str {
    paragraph
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("fixture paragraph without {name}: {paragraph}"))
}

struct Built {
    dir: tempfile::TempDir,
    universe: Universe,
}

fn build(scenario: &Scenario) -> Built {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("repo");
    let mut origins = Vec::new();
    let mut sources = String::new();
    let mut preferences = String::new();
    for suite in &scenario.suites {
        let pool = root.join("pool").join(suite.name);
        fs::create_dir_all(&pool).expect("pool");
        for paragraph in &suite.packages {
            let control = control_of(paragraph);
            let name = field(&control, "Package");
            let version = field(&control, "Version");
            let tree = dir.path().join("build").join(format!("{name}_{version}"));
            fs::create_dir_all(tree.join("DEBIAN")).expect("DEBIAN");
            let doc = tree.join("usr/share/doc").join(name);
            fs::create_dir_all(&doc).expect("doc");
            fs::write(doc.join("fixture"), format!("{name} {version}\n")).expect("file");
            fs::write(tree.join("DEBIAN/control"), &control).expect("control");
            let deb = pool.join(format!("{name}_{}_{ARCH}.deb", version.replace(':', "%3a")));
            ok(Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zgzip", "-z1", "--build"])
                .arg(&tree)
                .arg(&deb));
        }
        let binary = root
            .join("dists")
            .join(suite.name)
            .join("main/binary-armhf");
        fs::create_dir_all(&binary).expect("dists");
        let packages = ok(Command::new("apt-ftparchive")
            .current_dir(&root)
            .args(["packages", &format!("pool/{}", suite.name)]))
        .stdout;
        fs::write(binary.join("Packages"), &packages).expect("Packages");
        let release = ok(Command::new("apt-ftparchive")
            .current_dir(root.join("dists").join(suite.name))
            .args([
                "-o",
                &format!("APT::FTPArchive::Release::Suite={}", suite.name),
                "-o",
                &format!("APT::FTPArchive::Release::Codename={}", suite.name),
                "-o",
                "APT::FTPArchive::Release::Architectures=armhf",
                "-o",
                "APT::FTPArchive::Release::Components=main",
                "release",
                ".",
            ]))
        .stdout;
        fs::write(
            root.join("dists").join(suite.name).join("Release"),
            &release,
        )
        .expect("Release");
        let release = Release::parse(&String::from_utf8_lossy(&release), "Release")
            .expect("apt-ftparchive's Release parses");
        let index =
            PackagesIndex::parse(String::from_utf8_lossy(&packages).into_owned(), "Packages")
                .expect("apt-ftparchive's Packages parses");
        origins.push(Origin {
            name: suite.name.to_owned(),
            suite: release.suite.clone(),
            codename: release.codename.clone(),
            priority: suite.priority,
            indexes: vec![index],
        });
        sources.push_str(&format!(
            "deb [trusted=yes] file:{} {} main\n",
            root.display(),
            suite.name
        ));
        if suite.priority != 500 {
            preferences.push_str(&format!(
                "Package: *\nPin: release n={}\nPin-Priority: {}\n\n",
                suite.name, suite.priority
            ));
        }
    }
    let status = status_text(&scenario.installed);
    fs::write(dir.path().join("status"), &status).expect("status");
    fs::write(dir.path().join("sources.list"), sources).expect("sources");
    fs::write(dir.path().join("preferences"), preferences).expect("preferences");
    for sub in [
        "lists/partial",
        "cache/archives/partial",
        "parts",
        "state",
        "log",
    ] {
        fs::create_dir_all(dir.path().join(sub)).expect("apt dirs");
    }
    let status = StatusFile::parse(&status, "status").expect("fixture status parses");
    let universe = Universe::new(ARCH, origins, status);
    let built = Built { dir, universe };
    ok(apt(&built, "status", &[]).arg("update"));
    built
}

fn status_text(paragraphs: &[impl AsRef<str>]) -> String {
    let mut text = String::new();
    for paragraph in paragraphs {
        let paragraph = paragraph.as_ref().trim();
        text.push_str(paragraph);
        text.push_str("\nStatus: install ok installed");
        if !paragraph.contains("\nArchitecture:") {
            text.push_str(&format!("\nArchitecture: {ARCH}"));
        }
        text.push_str("\nMaintainer: Example <dev@example.org>\nDescription: fixture\n\n");
    }
    text
}

fn apt(built: &Built, status: &str, extra: &[&str]) -> Command {
    let d = built.dir.path();
    let p = |sub: &str| d.join(sub).display().to_string();
    let mut cmd = Command::new("apt-get");
    cmd.env("APT_CONFIG", "/dev/null").env("LC_ALL", "C");
    for option in [
        format!("Dir={}", p("")),
        format!("Dir::State={}", p("state")),
        format!("Dir::State::status={}", p(status)),
        format!("Dir::State::Lists={}", p("lists")),
        format!("Dir::Cache={}", p("cache")),
        "Dir::Cache::pkgcache=".to_owned(),
        "Dir::Cache::srcpkgcache=".to_owned(),
        format!("Dir::Etc::SourceList={}", p("sources.list")),
        format!("Dir::Etc::SourceParts={}", p("parts")),
        format!("Dir::Etc::Preferences={}", p("preferences")),
        format!("Dir::Etc::PreferencesParts={}", p("parts")),
        format!("Dir::Etc::Parts={}", p("parts")),
        format!("Dir::Log={}", p("log")),
        "APT::Architecture=armhf".to_owned(),
        "APT::Architectures=armhf".to_owned(),
        "Debug::NoLocking=1".to_owned(),
        "APT::Get::List-Cleanup=0".to_owned(),
        "Acquire::Languages=none".to_owned(),
    ] {
        cmd.arg("-o").arg(option);
    }
    cmd.args(extra);
    cmd
}

/// What apt did: the final version of every package it installs, the packages it
/// removes, or its failure output.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    installed: BTreeMap<String, String>,
    removed: BTreeSet<String>,
}

fn parse_simulation(text: &str, outcome: &mut Outcome) {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("Inst") => {
                let name = words.next().expect("Inst name").to_owned();
                let mut version = words.next().expect("Inst version");
                if version.starts_with('[') {
                    version = words.next().expect("Inst new version");
                }
                let version = version.trim_start_matches('(').to_owned();
                outcome.removed.remove(&name);
                outcome.installed.insert(name, version);
            }
            Some("Remv" | "Purg") => {
                let name = words.next().expect("Remv name").to_owned();
                outcome.installed.remove(&name);
                outcome.removed.insert(name);
            }
            _ => {}
        }
    }
}

/// Runs the profile through apt run by run, carrying the simulated result into the status
/// file of the next run; Err holds apt's output when a run fails.
fn apt_outcome(built: &Built, scenario: &Scenario) -> Result<Outcome, String> {
    let mut runs: Vec<(Option<&str>, Vec<&str>)> = vec![(None, Vec::new())];
    for entry in &scenario.install {
        let (name, release) = match entry.split_once('/') {
            Some((n, r)) => (n, Some(r)),
            None => (*entry, None),
        };
        match runs.iter_mut().find(|(r, _)| *r == release) {
            Some((_, names)) => names.push(name),
            None => runs.push((release, vec![name])),
        }
    }
    let recommends = format!("APT::Install-Recommends={}", scenario.recommends);
    let mut outcome = Outcome::default();
    let mut status = scenario
        .installed
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    let mut status_name = "status".to_owned();
    let mut step = 0;
    let mut commands: Vec<Vec<String>> = Vec::new();
    for (release, names) in runs {
        if names.is_empty() {
            continue;
        }
        let mut args = vec!["-s".to_owned(), "-o".to_owned(), recommends.clone()];
        if let Some(release) = release {
            args.extend(["-t".to_owned(), release.to_owned()]);
        }
        args.push("install".to_owned());
        args.extend(names.iter().map(|s| s.to_string()));
        commands.push(args);
    }
    if !scenario.remove.is_empty() {
        let mut args = vec!["-s".to_owned(), "purge".to_owned()];
        args.extend(scenario.remove.iter().map(|s| s.to_string()));
        commands.push(args);
    }
    for args in commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(apt(built, &status_name, &[]).args(&args));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || stdout.contains("WARNING: The following essential") {
            return Err(format!("{stdout}\n{stderr}"));
        }
        let mut this = Outcome::default();
        parse_simulation(&stdout, &mut this);
        for (name, version) in &this.installed {
            outcome.removed.remove(name);
            outcome.installed.insert(name.clone(), version.clone());
            let paragraph = available(built, name, version);
            status.retain(|p| field(p, "Package") != name);
            status.push(paragraph);
        }
        for name in &this.removed {
            outcome.installed.remove(name);
            outcome.removed.insert(name.clone());
            status.retain(|p| field(p, "Package") != name);
        }
        step += 1;
        status_name = format!("status-{step}");
        fs::write(built.dir.path().join(&status_name), status_text(&status)).expect("status");
    }
    Ok(outcome)
}

/// The control paragraph of an available version, as a status entry base.
fn available(built: &Built, name: &str, version: &str) -> String {
    for origin in built.universe.origins() {
        for index in &origin.indexes {
            for entry in index.entries() {
                if entry.control.name == name && entry.control.version.to_string() == version {
                    return index
                        .raw(entry)
                        .lines()
                        .filter(|l| {
                            ![
                                "Filename:",
                                "Size:",
                                "SHA256:",
                                "MD5sum:",
                                "SHA1:",
                                "SHA512:",
                                "Maintainer:",
                                "Description:",
                                "Architecture:",
                            ]
                            .iter()
                            .any(|f| l.starts_with(f))
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                }
            }
        }
    }
    panic!("apt installed {name} {version}, which no fixture index offers")
}

fn ours(built: &Built, scenario: &Scenario) -> Result<Resolution, ResolveError> {
    let packages = Packages {
        install: scenario
            .install
            .iter()
            .map(|entry| match entry.split_once('/') {
                Some((name, release)) => PackageRequest {
                    name: name.to_owned(),
                    release: Some(release.to_owned()),
                },
                None => PackageRequest {
                    name: (*entry).to_owned(),
                    release: None,
                },
            })
            .collect(),
        remove: scenario.remove.iter().map(|s| s.to_string()).collect(),
        recommends: scenario.recommends,
    };
    resolve(&built.universe, &packages)
}

fn outcome_of(resolution: &Resolution) -> Outcome {
    Outcome {
        installed: resolution
            .unpack
            .iter()
            .map(|u| (u.name.clone(), u.version.to_string()))
            .collect(),
        removed: resolution.remove.iter().map(|r| r.name.clone()).collect(),
    }
}

/// Both succeed with the same packages; returns our resolution.
fn agree(scenario: &Scenario) -> Resolution {
    let built = build(scenario);
    let theirs = apt_outcome(&built, scenario).unwrap_or_else(|e| panic!("apt failed: {e}"));
    let resolution = ours(&built, scenario).unwrap_or_else(|e| panic!("we failed: {e}"));
    let order: Vec<&str> = built
        .universe
        .origins()
        .iter()
        .flat_map(|o| o.indexes.iter())
        .flat_map(|i| i.entries().iter().map(|e| e.control.name.as_str()))
        .collect();
    assert_eq!(
        outcome_of(&resolution),
        theirs,
        "apt and pi-imager disagree (index order {order:?})"
    );
    let defects = check(&built.universe, &resolution);
    assert!(defects.is_empty(), "inconsistent result: {defects:?}");
    resolution
}

/// Both refuse; returns our message.
fn both_refuse(scenario: &Scenario) -> String {
    let built = build(scenario);
    let theirs = apt_outcome(&built, scenario);
    assert!(theirs.is_err(), "apt succeeded: {theirs:?}");
    match ours(&built, scenario) {
        Ok(resolution) => panic!("we succeeded: {:?}", outcome_of(&resolution)),
        Err(error) => {
            eprintln!("our refusal: {error}");
            error.to_string()
        }
    }
}

fn position(resolution: &Resolution, name: &str) -> usize {
    resolution
        .unpack
        .iter()
        .position(|u| u.name == name)
        .unwrap_or_else(|| panic!("{name} not unpacked"))
}

fn jessie_stretch() -> Vec<Suite> {
    vec![
        Suite {
            name: "jessie",
            priority: 500,
            packages: vec![
                "Package: libc6\nVersion: 2.19-18+deb8u10\nDepends: libc-bin (= 2.19-18+deb8u10)\nBreaks: locales (<< 2.19)\nPriority: required",
                "Package: libc-bin\nVersion: 2.19-18+deb8u10\nDepends: libc6 (>> 2.19)\nEssential: yes\nPriority: required",
                "Package: locales\nVersion: 2.19-18+deb8u10\nDepends: libc-bin (>> 2.19), debconf (>= 0.5) | debconf-2.0\nArchitecture: all",
                "Package: debconf\nVersion: 1.5.56+deb8u1\nProvides: debconf-2.0\nArchitecture: all",
                "Package: lsb-base\nVersion: 4.1+Debian13+nmu1\nArchitecture: all",
                "Package: nginx-common\nVersion: 1.6.2-5+deb8u6\nDepends: lsb-base (>= 3.0-6)\nArchitecture: all",
                "Package: nginx-light\nVersion: 1.6.2-5+deb8u6\nDepends: nginx-common (= 1.6.2-5+deb8u6), libc6 (>= 2.14)",
            ],
        },
        Suite {
            name: "stretch",
            priority: 100,
            packages: vec![
                "Package: libc6\nVersion: 2.24-11+deb9u4\nDepends: libc-bin (= 2.24-11+deb9u4)\nBreaks: locales (<< 2.24)\nPriority: required",
                "Package: libc-bin\nVersion: 2.24-11+deb9u4\nDepends: libc6 (>> 2.24)\nEssential: yes\nPriority: required",
                "Package: locales\nVersion: 2.24-11+deb9u4\nDepends: libc-bin (>> 2.24), debconf (>= 0.5) | debconf-2.0\nArchitecture: all",
                "Package: debconf\nVersion: 1.5.61\nProvides: debconf-2.0\nArchitecture: all",
                "Package: lsb-base\nVersion: 9.20161125\nArchitecture: all",
                "Package: php7.0-common\nVersion: 7.0.33-0+deb9u1\nDepends: libc6 (>= 2.14)\nProvides: phpapi-20151012",
                "Package: php7.0-json\nVersion: 7.0.33-0+deb9u1\nDepends: libc6 (>= 2.14), phpapi-20151012, php7.0-common (= 7.0.33-0+deb9u1)",
                "Package: php7.0-fpm\nVersion: 7.0.33-0+deb9u1\nPre-Depends: debconf (>= 0.5) | debconf-2.0\nDepends: libc6 (>= 2.24), php7.0-common (= 7.0.33-0+deb9u1), php7.0-json, lsb-base\nRecommends: php7.0-opcache",
                "Package: php7.0-opcache\nVersion: 7.0.33-0+deb9u1\nDepends: php7.0-common (= 7.0.33-0+deb9u1)",
                "Package: php7.0-mysql\nVersion: 7.0.33-0+deb9u1\nDepends: libc6 (>= 2.14), phpapi-20151012, php7.0-common (= 7.0.33-0+deb9u1)",
            ],
        },
    ]
}

fn jessie_installed() -> Vec<&'static str> {
    vec![
        "Package: libc6\nVersion: 2.19-18+deb8u10\nDepends: libc-bin (= 2.19-18+deb8u10)\nPriority: required",
        "Package: libc-bin\nVersion: 2.19-18+deb8u10\nDepends: libc6 (>> 2.19)\nEssential: yes\nPriority: required",
        "Package: locales\nVersion: 2.19-18+deb8u10\nDepends: libc-bin (>> 2.19), debconf (>= 0.5) | debconf-2.0\nArchitecture: all",
        "Package: debconf\nVersion: 1.5.56+deb8u1\nProvides: debconf-2.0\nArchitecture: all",
    ]
}

#[test]
fn seed_nginx_from_jessie_then_php_from_stretch() {
    let resolution = agree(&Scenario {
        suites: jessie_stretch(),
        installed: jessie_installed(),
        install: vec!["nginx-light", "php7.0-fpm/stretch", "php7.0-mysql/stretch"],
        remove: vec![],
        recommends: false,
    });
    let libc = position(&resolution, "libc6");
    assert!(libc < position(&resolution, "php7.0-fpm"));
    assert!(position(&resolution, "php7.0-common") < position(&resolution, "php7.0-fpm"));
    let lock = resolution.lock();
    let php = lock
        .iter()
        .find(|l| l.name == "php7.0-fpm")
        .expect("php in lock");
    assert_eq!(php.repository, "stretch");
    assert!(php.filename.starts_with("pool/stretch/"));
    assert_eq!(php.sha256.len(), 64);
}

#[test]
fn php_without_target_release_fails_naming_the_chain() {
    let message = both_refuse(&Scenario {
        suites: jessie_stretch(),
        installed: jessie_installed(),
        install: vec!["nginx-light", "php7.0-fpm"],
        remove: vec![],
        recommends: false,
    });
    for name in [
        "php7.0-fpm",
        "libc6 (>= 2.24)",
        "2.19-18+deb8u10",
        "stretch",
    ] {
        assert!(message.contains(name), "{name} missing from: {message}");
    }
}

#[test]
fn recommends_off_and_on() {
    let mut scenario = Scenario {
        suites: jessie_stretch(),
        installed: jessie_installed(),
        install: vec!["php7.0-fpm/stretch"],
        remove: vec![],
        recommends: false,
    };
    let without = agree(&scenario);
    assert!(without.unpack.iter().all(|u| u.name != "php7.0-opcache"));
    scenario.recommends = true;
    let with = agree(&scenario);
    assert!(with.unpack.iter().any(|u| u.name == "php7.0-opcache"));
}

#[test]
fn target_release_with_only_some_of_the_packages() {
    agree(&Scenario {
        suites: jessie_stretch(),
        installed: jessie_installed(),
        install: vec!["php7.0-common/stretch", "nginx-light/stretch"],
        remove: vec![],
        recommends: false,
    });
}

fn one_suite(packages: Vec<&'static str>) -> Vec<Suite> {
    vec![Suite {
        name: "stable",
        priority: 500,
        packages,
    }]
}

#[test]
fn first_alternative_unavailable() {
    let resolution = agree(&Scenario {
        suites: one_suite(vec![
            "Package: app\nVersion: 1.0\nDepends: missing-thing | second (>= 2), third",
            "Package: second\nVersion: 2.0",
            "Package: third\nVersion: 1.0\nDepends: nothere | alsonot | fourth",
            "Package: fourth\nVersion: 1.0",
        ]),
        installed: vec![],
        install: vec!["app"],
        remove: vec![],
        recommends: false,
    });
    assert_eq!(resolution.unpack.len(), 4);
}

#[test]
fn virtual_package_with_two_providers() {
    agree(&Scenario {
        suites: one_suite(vec![
            "Package: app\nVersion: 1.0\nDepends: mail-transport-agent",
            "Package: zmailer\nVersion: 1.0\nProvides: mail-transport-agent\nPriority: optional",
            "Package: exim4\nVersion: 4.0\nProvides: mail-transport-agent\nPriority: standard",
            "Package: client\nVersion: 1.0\nDepends: httpd",
            "Package: alpha-httpd\nVersion: 1.0\nProvides: httpd\nPriority: optional",
            "Package: beta-httpd\nVersion: 1.0\nProvides: httpd\nPriority: optional",
            "Package: gamma-httpd\nVersion: 1.0\nProvides: httpd\nPriority: optional",
        ]),
        installed: vec![],
        install: vec!["app", "client"],
        remove: vec![],
        recommends: false,
    });
}

#[test]
fn virtual_provider_already_installed_is_kept() {
    agree(&Scenario {
        suites: one_suite(vec![
            "Package: client\nVersion: 1.0\nDepends: httpd",
            "Package: alpha-httpd\nVersion: 1.0\nProvides: httpd",
            "Package: beta-httpd\nVersion: 1.0\nProvides: httpd",
        ]),
        installed: vec!["Package: beta-httpd\nVersion: 1.0\nProvides: httpd"],
        install: vec!["client"],
        remove: vec![],
        recommends: false,
    });
}

#[test]
fn versioned_provides() {
    agree(&Scenario {
        suites: one_suite(vec![
            "Package: app\nVersion: 1.0\nDepends: libfoo-abi (>= 2)",
            "Package: libfoo1\nVersion: 1.0\nProvides: libfoo-abi (= 1)",
            "Package: libfoo2\nVersion: 2.0\nProvides: libfoo-abi (= 2)",
            "Package: other\nVersion: 1.0\nDepends: unversioned-abi (>= 1)",
            "Package: plain\nVersion: 1.0\nProvides: unversioned-abi",
            "Package: versioned\nVersion: 1.0\nProvides: unversioned-abi (= 1.5)",
        ]),
        installed: vec![],
        install: vec!["app", "other"],
        remove: vec![],
        recommends: false,
    });
}

#[test]
fn installed_package_upgraded_for_a_new_dependency() {
    agree(&Scenario {
        suites: one_suite(vec![
            "Package: app\nVersion: 1.0\nDepends: libx (>= 2.0)",
            "Package: libx\nVersion: 2.1\nDepends: libx-data (= 2.1)",
            "Package: libx-data\nVersion: 2.1\nArchitecture: all",
            "Package: tool\nVersion: 1.0\nDepends: libx (>= 1.0)",
        ]),
        installed: vec![
            "Package: libx\nVersion: 1.0\nDepends: libx-data (= 1.0)",
            "Package: libx-data\nVersion: 1.0\nArchitecture: all",
            "Package: tool\nVersion: 1.0\nDepends: libx (>= 1.0)",
        ],
        install: vec!["app"],
        remove: vec![],
        recommends: false,
    });
}

#[test]
fn breaks_between_requested_packages_is_refused() {
    let message = both_refuse(&Scenario {
        suites: one_suite(vec![
            "Package: new-server\nVersion: 2.0\nBreaks: old-plugin (<< 2.0)",
            "Package: old-plugin\nVersion: 1.0",
        ]),
        installed: vec![],
        install: vec!["old-plugin", "new-server"],
        remove: vec![],
        recommends: false,
    });
    assert!(
        message.contains("new-server") && message.contains("old-plugin"),
        "{message}"
    );
    assert!(message.contains("breaks"), "{message}");
}

#[test]
fn conflicts_through_a_dependency_is_refused() {
    let message = both_refuse(&Scenario {
        suites: one_suite(vec![
            "Package: web\nVersion: 1.0\nDepends: libssl-old",
            "Package: libssl-old\nVersion: 1.0",
            "Package: proxy\nVersion: 1.0\nConflicts: libssl-old",
        ]),
        installed: vec![],
        install: vec!["web", "proxy"],
        remove: vec![],
        recommends: false,
    });
    assert!(
        message.contains("proxy") && message.contains("libssl-old"),
        "{message}"
    );
    assert!(message.contains("conflicts with"), "{message}");
}

#[test]
fn successor_replaces_the_installed_library() {
    let resolution = agree(&Scenario {
        suites: vec![
            Suite {
                name: "bookworm",
                priority: 500,
                packages: vec![
                    "Package: libssl3\nVersion: 3.0.15-1~deb12u1",
                    "Package: curl\nVersion: 7.88.1-10\nDepends: libssl3 (>= 3.0.0)",
                ],
            },
            Suite {
                name: "trixie",
                priority: 100,
                packages: vec![
                    "Package: libssl3t64\nVersion: 3.5.1-1\nProvides: libssl3 (= 3.5.1-1)\nBreaks: libssl3 (<< 3.5.1-1)\nReplaces: libssl3",
                    "Package: php8.4-fpm\nVersion: 8.4.11-1\nDepends: libssl3t64 (>= 3.0.0)",
                ],
            },
        ],
        installed: vec![
            "Package: libssl3\nVersion: 3.0.15-1~deb12u1",
            "Package: curl\nVersion: 7.88.1-10\nDepends: libssl3 (>= 3.0.0)",
        ],
        install: vec!["php8.4-fpm/trixie"],
        remove: vec![],
        recommends: false,
    });
    assert_eq!(resolution.remove.len(), 1);
}

#[test]
fn essential_package_is_never_removed() {
    let message = both_refuse(&Scenario {
        suites: one_suite(vec!["Package: base-passwd\nVersion: 3.6\nEssential: yes"]),
        installed: vec!["Package: base-passwd\nVersion: 3.6\nEssential: yes"],
        install: vec![],
        remove: vec!["base-passwd"],
        recommends: false,
    });
    assert!(
        message.contains("base-passwd") && message.contains("Essential"),
        "{message}"
    );
}

#[test]
fn pre_depends_come_first() {
    let resolution = agree(&Scenario {
        suites: one_suite(vec![
            "Package: app\nVersion: 1.0\nPre-Depends: early\nDepends: lib",
            "Package: early\nVersion: 1.0\nDepends: lib",
            "Package: lib\nVersion: 1.0",
        ]),
        installed: vec![],
        install: vec!["app"],
        remove: vec![],
        recommends: false,
    });
    assert!(position(&resolution, "lib") < position(&resolution, "early"));
    assert!(position(&resolution, "early") < position(&resolution, "app"));
}

#[test]
fn remove_an_installed_leaf() {
    let resolution = agree(&Scenario {
        suites: one_suite(vec![
            "Package: extra\nVersion: 1.0",
            "Package: app\nVersion: 1.0",
        ]),
        installed: vec![
            "Package: extra\nVersion: 1.0",
            "Package: keep\nVersion: 1.0",
        ],
        install: vec!["app"],
        remove: vec!["extra"],
        recommends: false,
    });
    assert_eq!(resolution.remove.len(), 1);
}

#[test]
fn installed_package_breaking_the_new_one_is_upgraded() {
    agree(&Scenario {
        suites: one_suite(vec![
            "Package: server\nVersion: 2.0",
            "Package: plugin\nVersion: 2.0\nBreaks: server (>= 3.0)",
            "Package: app\nVersion: 1.0\nDepends: server (>= 2.0)",
        ]),
        installed: vec![
            "Package: server\nVersion: 1.0",
            "Package: plugin\nVersion: 1.0\nBreaks: server (>= 2.0)",
        ],
        install: vec!["app"],
        remove: vec![],
        recommends: false,
    });
}

#[test]
fn newer_installed_version_is_not_downgraded() {
    agree(&Scenario {
        suites: vec![
            Suite {
                name: "stable",
                priority: 500,
                packages: vec![
                    "Package: lib\nVersion: 1.0",
                    "Package: app\nVersion: 1.0\nDepends: lib (>= 1.0), helper",
                    "Package: helper\nVersion: 1.0",
                ],
            },
            Suite {
                name: "testing",
                priority: 990,
                packages: vec!["Package: helper\nVersion: 0.9"],
            },
        ],
        installed: vec!["Package: lib\nVersion: 2.0"],
        install: vec!["app"],
        remove: vec![],
        recommends: false,
    });
}

#[test]
fn pin_above_1000_downgrades() {
    agree(&Scenario {
        suites: vec![
            Suite {
                name: "stable",
                priority: 500,
                packages: vec!["Package: app\nVersion: 1.0\nDepends: lib"],
            },
            Suite {
                name: "old",
                priority: 1001,
                packages: vec!["Package: lib\nVersion: 0.5"],
            },
        ],
        installed: vec!["Package: lib\nVersion: 2.0"],
        install: vec!["app", "lib"],
        remove: vec![],
        recommends: false,
    });
}

#[test]
fn multi_arch_any_and_a_virtual_request() {
    agree(&Scenario {
        suites: one_suite(vec![
            "Package: app\nVersion: 1.0\nDepends: python3:any (>= 3.11)",
            "Package: python3\nVersion: 3.11.2\nMulti-Arch: allowed",
            "Package: perl\nVersion: 5.36\nMulti-Arch: foreign",
            "Package: only-provider\nVersion: 1.0\nProvides: www-browser",
        ]),
        installed: vec![],
        install: vec!["app", "www-browser"],
        remove: vec![],
        recommends: false,
    });
}

#[test]
fn any_qualifier_needs_multi_arch_allowed() {
    let message = both_refuse(&Scenario {
        suites: one_suite(vec![
            "Package: app\nVersion: 1.0\nDepends: perl:any",
            "Package: perl\nVersion: 5.36\nMulti-Arch: foreign",
        ]),
        installed: vec![],
        install: vec!["app"],
        remove: vec![],
        recommends: false,
    });
    assert!(
        message.contains("app") && message.contains("perl:any"),
        "{message}"
    );
}

#[test]
fn deep_failure_names_the_whole_chain() {
    let message = both_refuse(&Scenario {
        suites: one_suite(vec![
            "Package: app\nVersion: 1.0\nDepends: mid",
            "Package: mid\nVersion: 1.0\nDepends: libc6 (>= 3.0)",
            "Package: libc6\nVersion: 2.36",
        ]),
        installed: vec!["Package: libc6\nVersion: 2.36"],
        install: vec!["app"],
        remove: vec![],
        recommends: false,
    });
    for name in [
        "app (1.0) (requested) depends on mid",
        "mid (1.0)",
        "libc6 (>= 3.0)",
        "2.36",
    ] {
        assert!(message.contains(name), "{name} missing from: {message}");
    }
}

#[test]
fn conflict_with_a_package_the_profile_removes() {
    let resolution = agree(&Scenario {
        suites: one_suite(vec![
            "Package: postfix\nVersion: 3.7\nConflicts: exim4\nProvides: mail-transport-agent",
        ]),
        installed: vec!["Package: exim4\nVersion: 4.96\nProvides: mail-transport-agent"],
        install: vec!["postfix"],
        remove: vec!["exim4"],
        recommends: false,
    });
    assert_eq!(resolution.remove.len(), 1);
}
