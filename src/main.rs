//! The `pi-imager` command line: parses arguments and hands each command to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pi_imager::inspect::{self, Filesystem};
use pi_imager::{check, profile};

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
    /// Validate a profile and summarise what it builds; exit 0, or 2 with every error found.
    Check {
        /// The profile file (TOML).
        profile: PathBuf,
        /// Print the stable JSON report (docs/check-json.md) instead of the summary.
        #[arg(long)]
        json: bool,
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
}

/// Exit code for a bad profile or bad usage.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
