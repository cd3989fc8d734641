//! The `pi-imager` command line: parses arguments and hands each command to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pi_imager::build::{self, BuildError, BuildOptions, Reporter, Style};
use pi_imager::inspect::{self, Filesystem};
use pi_imager::{check, imager, profile};
use std::sync::Arc;

/// Builds flashable, reproducible Raspberry Pi OS images for web-server nodes from a TOML
/// profile, without root.
#[derive(Debug, Parser)]
#[command(name = "pi-imager", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the profile's images: the raw image, its block map, the compressed image,
    /// drive images, a manifest per node and SHA256SUMS; writes the lock on first use.
    Build {
        /// The profile file (TOML).
        profile: PathBuf,
        /// Build only this node of the fleet.
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        /// Where the outputs go.
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
        /// Use exactly the inputs of the lock; refuse a profile that no longer matches it.
        #[arg(long)]
        locked: bool,
        #[command(flatten)]
        fetch: FetchArgs,
        /// Print one JSON object per line on standard output (events, then the result).
        #[arg(long)]
        json: bool,
    },
    /// Resolve every input (base digest, repositories, packages) and write the lock file,
    /// without building images.
    Lock {
        /// The profile file (TOML).
        profile: PathBuf,
        #[command(flatten)]
        fetch: FetchArgs,
        /// Print one JSON object per line on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Validate a profile and summarise what it builds; exit 0, or 2 with every error found.
    Check {
        /// The profile file (TOML).
        profile: PathBuf,
        /// Print the stable JSON report (docs/check-json.md) instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Compare an image file or a card with its manifest: exit 0 when it matches, 1 when
    /// it differs, 2 when it could not tell.
    Verify {
        /// The image file or block device, opened read-only.
        target: PathBuf,
        /// The build's `<name>-<node>.manifest.json`.
        #[arg(long, value_name = "M")]
        manifest: PathBuf,
        /// Compare every mapped range's digest (a fresh card or image) instead of every
        /// file (a card that has been running).
        #[arg(long)]
        blocks: bool,
        /// Print the report as JSON (docs/verify-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Write an image (.img, .img.xz, .img.gz) to a card or file with its block map, then
    /// read it back.
    Flash {
        /// The image; its `.bmap` is looked for beside it.
        image: PathBuf,
        /// The card's block device, or a file.
        device: PathBuf,
        /// The block map, when it is not beside the image.
        #[arg(long, value_name = "FILE")]
        bmap: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Write even though the device or one of its partitions is mounted.
        #[arg(long)]
        allow_mounted: bool,
        /// Write even though the device holds the running system.
        #[arg(long)]
        allow_system_disk: bool,
        /// Write to a card smaller than the image, if the image's data fits.
        #[arg(long)]
        allow_smaller: bool,
        /// The mount table to check against.
        #[arg(long, value_name = "FILE", default_value = pi_imager::flash::device::MOUNTINFO, hide = true)]
        mountinfo: PathBuf,
    },
    /// Show an image's partitions, filesystems and OS release, read without mounting it.
    Inspect {
        /// The image file (raw `.img`).
        image: PathBuf,
        /// List this path (a directory's entries, or the file itself) with mode, owner,
        /// size, link target and extended attributes.
        #[arg(long, value_name = "PATH")]
        ls: Option<String>,
        /// With `--ls`: list in the boot partition instead of the root filesystem.
        #[arg(long, requires = "ls")]
        boot: bool,
        /// Print the stable JSON report (docs/inspect-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Write Raspberry Pi Imager's repository JSON (`os_list`) for the images in build
    /// output folders, read from their manifests (docs/imager-json.md).
    ImagerJson {
        /// Folders `pi-imager build --out` wrote.
        #[arg(required = true, value_name = "OUT_DIR")]
        dirs: Vec<PathBuf>,
        /// The URL the compressed images are published under (a folder); without it the
        /// entries point at the files where they are (`file:` URLs).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Write the JSON to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Where downloads come from.
#[derive(Debug, clap::Args)]
struct FetchArgs {
    /// Use only the download cache; name what is missing instead of downloading.
    #[arg(long)]
    offline: bool,
    /// The download cache (default: $XDG_CACHE_HOME/pi-imager).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
}

/// Exit code for a bad profile or bad usage.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Build {
            profile,
            node,
            out,
            locked,
            fetch,
            json,
        } => run_build(
            &BuildOptions {
                profile,
                node,
                out,
                locked,
                offline: fetch.offline,
                cache: fetch.cache,
            },
            json,
        ),
        Command::Lock {
            profile,
            fetch,
            json,
        } => run_lock(
            &BuildOptions {
                profile,
                node: None,
                out: PathBuf::from("out"),
                locked: false,
                offline: fetch.offline,
                cache: fetch.cache,
            },
            json,
        ),
        Command::Check {
            profile: path,
            json,
        } => run_check(&path, json),
        Command::Inspect {
            image,
            ls,
            boot,
            json,
        } => run_inspect(&image, ls.as_deref(), boot, json),
        Command::Verify {
            target,
            manifest,
            blocks,
            json,
        } => run_verify(&target, &manifest, blocks, json),
        Command::Flash {
            image,
            device,
            bmap,
            yes,
            allow_mounted,
            allow_system_disk,
            allow_smaller,
            mountinfo,
        } => run_flash(
            &pi_imager::flash::FlashOptions {
                image,
                bmap,
                device,
                checks: pi_imager::flash::DeviceChecks {
                    mountinfo,
                    allow_mounted,
                    allow_system_disk,
                    allow_smaller,
                },
            },
            yes,
        ),
        Command::ImagerJson {
            dirs,
            base_url,
            out,
        } => run_imager_json(&dirs, base_url, out.as_deref()),
    }
}

fn failed(error: &BuildError, style: Style) -> ExitCode {
    if style == Style::Json {
        println!(
            "{}",
            serde_json::json!({"event": "error", "message": error.to_string()})
        );
    }
    if error.is_usage() {
        eprintln!("{error}");
        ExitCode::from(EXIT_USAGE)
    } else {
        eprintln!("pi-imager: {error}");
        ExitCode::FAILURE
    }
}

fn run_build(opts: &BuildOptions, json: bool) -> ExitCode {
    let style = Style::detect(json);
    let reporter = Arc::new(Reporter::new(style));
    match build::build(opts, &reporter) {
        Ok(report) => {
            if style == Style::Json {
                let nodes: Vec<_> = report
                    .nodes
                    .iter()
                    .map(|n| {
                        serde_json::json!({
                            "node": n.node,
                            "notes": n.notes,
                            "outputs": n.outputs.iter().map(|o| serde_json::json!({
                                "path": o.path.display().to_string(),
                                "size": o.size,
                                "sha256": pi_imager::fetch::hex(&o.sha256),
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({
                        "event": "done",
                        "lock": report.lock.display().to_string(),
                        "lock_written": report.lock_written,
                        "epoch": report.epoch,
                        "nodes": nodes,
                    })
                );
            } else {
                for node in &report.nodes {
                    for output in &node.outputs {
                        eprintln!(
                            "wrote {} ({})",
                            output.path.display(),
                            build::human_bytes(output.size)
                        );
                    }
                }
                if report.lock_written {
                    eprintln!("wrote {}", report.lock.display());
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => failed(&error, style),
    }
}

fn run_lock(opts: &BuildOptions, json: bool) -> ExitCode {
    let style = Style::detect(json);
    let reporter = Arc::new(Reporter::new(style));
    match build::lock(opts, &reporter) {
        Ok((path, written)) => {
            if style == Style::Json {
                println!(
                    "{}",
                    serde_json::json!({"event": "done", "lock": path.display().to_string(), "lock_written": written})
                );
            } else if written {
                eprintln!("wrote {}", path.display());
            } else {
                eprintln!("{} is up to date", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => failed(&error, style),
    }
}

fn run_check(path: &std::path::Path, json: bool) -> ExitCode {
    let outcome = profile::load(path);
    if json {
        let report = check::report(path, &outcome);
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("pi-imager: cannot write the report: {error}");
                return ExitCode::FAILURE;
            }
        }
        return if report.valid {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_USAGE)
        };
    }
    match outcome {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("{}", warning.render(path));
            }
            print!("{}", check::human(&loaded));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run_inspect(image: &std::path::Path, ls: Option<&str>, boot: bool, json: bool) -> ExitCode {
    let which = if boot {
        Filesystem::Boot
    } else {
        Filesystem::Root
    };
    match inspect::inspect(image, ls.map(|path| (path, which))) {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(error) => {
                        eprintln!("pi-imager: cannot write the report: {error}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", inspect::human(&report));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pi-imager: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_verify(
    target: &std::path::Path,
    manifest: &std::path::Path,
    blocks: bool,
    json: bool,
) -> ExitCode {
    use pi_imager::verify::{self, Mode};
    let mode = if blocks { Mode::Blocks } else { Mode::Files };
    let outcome = verify::load_manifest(manifest).and_then(|m| verify::verify(target, &m, mode));
    match outcome {
        Ok(report) => {
            if json {
                print!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            ExitCode::from(report.verdict.exit_code())
        }
        Err(error) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"verdict": "unknown", "error": error.to_string()})
                );
            }
            eprintln!("unknown: pi-imager: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run_flash(options: &pi_imager::flash::FlashOptions, yes: bool) -> ExitCode {
    use pi_imager::flash::{self, DeviceKind, FlashError, progress::Bar};
    use std::io::IsTerminal;
    let fail = |error: FlashError| {
        eprintln!("pi-imager: {error}");
        if error.is_usage() {
            ExitCode::from(EXIT_USAGE)
        } else {
            ExitCode::FAILURE
        }
    };
    let (source, device) = match flash::prepare(options) {
        Ok(prepared) => prepared,
        Err(error) => return fail(error),
    };
    if device.kind == DeviceKind::Block && !yes {
        if !std::io::stdin().is_terminal() {
            return fail(FlashError::NeedsConfirmation {
                path: device.path.clone(),
            });
        }
        eprint!(
            "Write {} to {} ({} bytes)? Everything on it is lost. [y/N] ",
            source.path.display(),
            device.path.display(),
            device.size
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return fail(FlashError::Declined);
        }
    }
    let mut bar = Bar::new(std::io::stderr().is_terminal());
    match flash::write(&source, &device, &mut |phase, done, total| {
        bar.update(phase, done, total)
    }) {
        Ok(report) => {
            eprintln!(
                "wrote {} bytes in {} ranges to {} and read them back: all match",
                report.bytes_written,
                report.ranges,
                device.path.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(error),
    }
}

fn run_imager_json(
    dirs: &[PathBuf],
    base_url: Option<String>,
    out: Option<&std::path::Path>,
) -> ExitCode {
    let list = match imager::os_list(dirs, &imager::Options { base_url }) {
        Ok(list) => list,
        Err(error) => {
            eprintln!("pi-imager: {error}");
            return ExitCode::FAILURE;
        }
    };
    let text = list.to_json();
    match out {
        Some(path) => {
            if let Err(error) = std::fs::write(path, text) {
                eprintln!("pi-imager: cannot write {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!("wrote {} ({} images)", path.display(), list.os_list.len());
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}
