//! The flash progress bar: phase, percentage, bytes, rate and time left, redrawn on one
//! terminal line at most ten times a second; one line per phase when standard error is
//! not a terminal. It only draws; the writer reports.

use std::io::Write;
use std::time::{Duration, Instant};

use super::writer::Phase;

const REDRAW: Duration = Duration::from_millis(100);
const WIDTH: u64 = 24;

/// Draws progress on standard error.
pub struct Bar {
    terminal: bool,
    phase: Option<Phase>,
    started: Instant,
    last: Option<Instant>,
}

impl Bar {
    /// A bar redrawn in place when `terminal`, plain lines otherwise.
    pub fn new(terminal: bool) -> Self {
        Self {
            terminal,
            phase: None,
            started: Instant::now(),
            last: None,
        }
    }

    /// Shows `done` of `total` bytes in `phase`.
    pub fn update(&mut self, phase: Phase, done: u64, total: u64) {
        let name = match phase {
            Phase::Write => "writing",
            Phase::ReadBack => "reading back",
        };
        if self.phase != Some(phase) {
            if self.phase.is_some() && self.terminal {
                eprintln!();
            }
            self.phase = Some(phase);
            self.started = Instant::now();
            self.last = None;
            if !self.terminal {
                eprintln!("{name} {}", human(total));
            }
        }
        if !self.terminal {
            return;
        }
        let now = Instant::now();
        if done < total && self.last.is_some_and(|t| now - t < REDRAW) {
            return;
        }
        self.last = Some(now);
        eprint!("\r{}", line(name, done, total, now - self.started));
        if done >= total {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    }
}

/// One rendering of the bar.
pub fn line(name: &str, done: u64, total: u64, elapsed: Duration) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = ((fraction * WIDTH as f64) as u64).min(WIDTH);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '-' })
        .collect();
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let eta = if rate > 0.0 {
        let left = (total.saturating_sub(done)) as f64 / rate;
        format!("{}:{:02}", left as u64 / 60, left as u64 % 60)
    } else {
        "-:--".to_string()
    };
    format!(
        "{name:>12} [{bar}] {:>3}% {} of {} {}/s ETA {eta}  ",
        (fraction * 100.0) as u64,
        human(done),
        human(total),
        human(rate as u64)
    )
}

fn human(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    format!("{:.1} MiB", bytes as f64 / MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_rate_and_eta() {
        let l = line("writing", 50 << 20, 100 << 20, Duration::from_secs(5));
        assert!(l.contains(" 50%"), "{l}");
        assert!(l.contains("10.0 MiB/s"), "{l}");
        assert!(l.contains("ETA 0:05"), "{l}");
    }
}
