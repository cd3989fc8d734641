//! What a build tells the person or machine running it: a progress bar per download on a
//! terminal (bytes, rate, ETA), one plain line per step otherwise, or one JSON object per
//! line with `--json`.
//!
//! Messages go to standard error for people and to standard output for machines, so
//! `--json` output can be piped whole. Nothing here decides what happens in a build.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::json;

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Progress bars that redraw one line of a terminal.
    Terminal,
    /// One line per step, for logs.
    Plain,
    /// One JSON object per line on standard output.
    Json,
}

impl Style {
    /// `Json` when asked, else `Terminal` when standard error is a terminal, else `Plain`.
    pub fn detect(json: bool) -> Self {
        if json {
            Self::Json
        } else if std::io::stderr().is_terminal() {
            Self::Terminal
        } else {
            Self::Plain
        }
    }
}

struct Transfer {
    url: String,
    started: Instant,
    last_draw: Option<Instant>,
    done: bool,
}

/// Shows a build's events. Shared by threads (downloads report from the fetcher).
pub struct Reporter {
    style: Style,
    transfer: Mutex<Option<Transfer>>,
}

impl Reporter {
    /// A reporter in `style`.
    pub fn new(style: Style) -> Self {
        Self {
            style,
            transfer: Mutex::new(None),
        }
    }

    /// The style.
    pub fn style(&self) -> Style {
        self.style
    }

    /// A step of the build starts or ends: one line.
    pub fn step(&self, message: &str) {
        self.finish_bar();
        match self.style {
            Style::Json => emit(&json!({"event": "step", "message": message})),
            _ => eprintln!("{message}"),
        }
    }

    /// Something accepted that the user should know about.
    pub fn warning(&self, message: &str) {
        self.finish_bar();
        match self.style {
            Style::Json => emit(&json!({"event": "warning", "message": message})),
            _ => eprintln!("warning: {message}"),
        }
    }

    /// A structured event for machines (ignored for people, who get [`Reporter::step`]).
    pub fn event(&self, value: serde_json::Value) {
        if self.style == Style::Json {
            emit(&value);
        }
    }

    /// Bytes of `url` received so far, of `total` when known.
    pub fn download(&self, url: &str, got: u64, total: Option<u64>) {
        let Ok(mut slot) = self.transfer.lock() else {
            return;
        };
        let now = Instant::now();
        let fresh = slot.as_ref().is_none_or(|t| t.url != url);
        if fresh {
            if let Some(previous) = slot.take() {
                end_bar(self.style, &previous);
            }
            *slot = Some(Transfer {
                url: url.to_owned(),
                started: now,
                last_draw: None,
                done: false,
            });
            match self.style {
                Style::Plain => eprintln!("download {url}"),
                Style::Json => emit(&json!({"event": "download", "url": url, "total": total})),
                Style::Terminal => {}
            }
        }
        let Some(transfer) = slot.as_mut() else {
            return;
        };
        let complete = total.is_some_and(|t| got >= t);
        if self.style == Style::Terminal && !transfer.done {
            let due = transfer
                .last_draw
                .is_none_or(|last| now.duration_since(last).as_millis() >= 100);
            if due || complete {
                transfer.last_draw = Some(now);
                draw(transfer, got, total, now);
            }
        }
        if complete && !transfer.done {
            transfer.done = true;
            if self.style == Style::Terminal {
                eprintln!();
            }
        }
    }

    fn finish_bar(&self) {
        if let Ok(mut slot) = self.transfer.lock()
            && let Some(transfer) = slot.take()
        {
            end_bar(self.style, &transfer);
        }
    }
}

fn end_bar(style: Style, transfer: &Transfer) {
    if style == Style::Terminal && !transfer.done && transfer.last_draw.is_some() {
        eprintln!();
    }
}

fn draw(transfer: &Transfer, got: u64, total: Option<u64>, now: Instant) {
    let elapsed = now
        .duration_since(transfer.started)
        .as_secs_f64()
        .max(0.001);
    let rate = got as f64 / elapsed;
    let name = transfer.url.rsplit('/').next().unwrap_or(&transfer.url);
    let line = match total {
        Some(total) if total > 0 => {
            let fraction = (got as f64 / total as f64).min(1.0);
            let filled = (fraction * 24.0) as usize;
            let eta = if rate > 0.0 {
                (total.saturating_sub(got)) as f64 / rate
            } else {
                0.0
            };
            format!(
                "{name} [{}{}] {} / {} {}/s ETA {}",
                "#".repeat(filled),
                " ".repeat(24 - filled),
                human_bytes(got),
                human_bytes(total),
                human_bytes(rate as u64),
                human_duration(eta)
            )
        }
        _ => format!("{name} {} {}/s", human_bytes(got), human_bytes(rate as u64)),
    };
    let mut err = std::io::stderr().lock();
    // A progress line that cannot be drawn is not worth failing a build for.
    let _ = write!(err, "\r\x1b[2K{line}");
    let _ = err.flush();
}

fn emit(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
}

/// `1.5 MiB`, for people.
pub fn human_bytes(bytes: u64) -> String {
    crate::inspect::human_size(bytes)
}

fn human_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_duration(75.0), "1m15s");
        assert_eq!(human_duration(7300.0), "2h01m");
    }
}
