//! The read-back of a flash, pipelined with the writing: a thread that reads every
//! mapped range back from the target as soon as the writer says its bytes are safe to
//! read, hashes it and compares the digest with the block map's.
//!
//! The writer moves a [`Gate`]: `through(x)` once every written byte below `x` can be read
//! back meaningfully (on a card: written back to the device and dropped from the page
//! cache, so the read comes from the card; on a regular file: written, since the page
//! cache is the file's content), `all()` once the held-back partition table is written
//! too, and `close()` when it stops. Ranges that start in the held-back head wait for
//! `all`; the others are checked while later chunks are still being written, one range
//! per thread and core, so the read-back ends soon after the last write. This module only
//! reads; it decides nothing about writing.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

use super::source::span_len;
use crate::image::bmap::{BlockRange, Bmap};
use crate::image::io::ReadAt;

/// Read size: small enough that each piece is still in the core's cache when hashed.
const READ: usize = 1 << 20;

/// Read-back threads at most; ranges are independent, so they share the cores.
const MAX_THREADS: usize = 4;

/// What the writer has told the read-back so far.
#[derive(Debug, Default)]
struct Marks {
    /// Every written byte below this offset may be read back.
    through: u64,
    /// Everything is written, the head included.
    all: bool,
    /// The writer stopped (done or failed): nothing more will become readable.
    closed: bool,
}

/// Where the writer stands, shared by the writer and the read-back threads.
#[derive(Debug, Default)]
pub struct Gate {
    marks: Mutex<Marks>,
    moved: Condvar,
}

impl Gate {
    /// A gate that lets nothing through yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Marks> {
        // A panicking holder leaves plain numbers behind: still meaningful.
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, change: impl FnOnce(&mut Marks)) {
        change(&mut self.lock());
        self.moved.notify_all();
    }

    /// Every written byte below `offset` may now be read back.
    pub fn through(&self, offset: u64) {
        self.update(|m| m.through = m.through.max(offset));
    }

    /// Everything is written, the held-back head included.
    pub fn all(&self) {
        self.update(|m| m.all = true);
    }

    /// The writer is done or failed; waiting threads give up on what is not readable.
    pub fn close(&self) {
        self.update(|m| m.closed = true);
    }

    /// Waits until `ready`; false if the writer closed the gate first.
    fn wait(&self, ready: impl Fn(&Marks) -> bool) -> bool {
        let mut marks = self.lock();
        loop {
            if ready(&marks) {
                return true;
            }
            if marks.closed {
                return false;
            }
            marks = self
                .moved
                .wait(marks)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Closes the gate when dropped, so the read-back never waits for a writer that failed.
pub struct CloseOnDrop<'a>(pub &'a Gate);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// What the read-back found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Ranges (first and last block) whose bytes read back differently, in map order.
    pub bad: Vec<(u64, u64)>,
    /// Whether every range was read back; false when the writer stopped early.
    pub complete: bool,
}

/// One range to check: its map entry and byte span.
struct Span<'a> {
    range: &'a BlockRange,
    start: u64,
    end: u64,
    in_head: bool,
}

/// Reads back `bmap`'s ranges from `target` as `gate` allows, on up to one thread per
/// core, each taking the next unchecked range; ranges starting below `head` go last.
/// Sends the bytes checked on `done` as it goes (nobody listening is fine). Fails only
/// when the target cannot be read.
pub fn run<R: ReadAt + Sync + ?Sized>(
    target: &R,
    bmap: &Bmap,
    head: u64,
    gate: &Gate,
    done: &Sender<u64>,
) -> io::Result<Outcome> {
    let bs = bmap.block_size;
    let spans: Vec<Span<'_>> = bmap
        .ranges
        .iter()
        .map(|range| {
            let start = range.first.saturating_mul(bs);
            let end = start.saturating_add(span_len(range, bs, bmap.image_size));
            Span {
                range,
                start,
                end,
                in_head: start < head,
            }
        })
        .collect();
    let (deferred, body): (Vec<_>, Vec<_>) = spans.into_iter().partition(|s| s.in_head);
    let work: Vec<Span<'_>> = body.into_iter().chain(deferred).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS)
        .min(work.len().max(1));
    let next = AtomicUsize::new(0);
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let done = done.clone();
                let (work, next) = (&work, &next);
                scope.spawn(move || check_spans(target, work, next, gate, &done))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a read-back thread stopped")))
            })
            .collect::<Vec<_>>()
    });
    let mut outcome = Outcome {
        bad: Vec::new(),
        complete: true,
    };
    for result in results {
        let (bad, complete) = result?;
        outcome.bad.extend(bad);
        outcome.complete &= complete;
    }
    outcome.bad.sort_unstable();
    Ok(outcome)
}

/// One read-back thread: takes the next span until none is left or the gate closes.
fn check_spans<R: ReadAt + ?Sized>(
    target: &R,
    work: &[Span<'_>],
    next: &AtomicUsize,
    gate: &Gate,
    done: &Sender<u64>,
) -> io::Result<(Vec<(u64, u64)>, bool)> {
    let mut buf = vec![0u8; READ];
    let mut bad = Vec::new();
    while let Some(span) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
        if span.in_head && !gate.wait(|m| m.all) {
            return Ok((bad, false));
        }
        let mut hasher = Sha256::new();
        let mut pos = span.start;
        while pos < span.end {
            let len = usize::try_from(span.end - pos).map_or(READ, |n| n.min(READ));
            let need = pos.saturating_add(len as u64);
            if !gate.wait(|m| m.all || m.through >= need) {
                return Ok((bad, false));
            }
            let data = buf.get_mut(..len).unwrap_or_default();
            target.read_exact_at(data, pos)?;
            hasher.update(&*data);
            let _ = done.send(len as u64);
            pos = need;
        }
        if <[u8; 32]>::from(hasher.finalize()) != span.range.sha256 {
            bad.push((span.range.first, span.range.last));
        }
    }
    Ok((bad, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::mpsc;

    const BS: u64 = 4096;

    /// A 24 MiB image with ranges in the head, across the head's end, over several reads
    /// and at the end.
    fn image_and_map() -> (Vec<u8>, Bmap) {
        let mut image = vec![0u8; 24 << 20];
        for (i, b) in image.iter_mut().enumerate() {
            *b = (i as u64).wrapping_mul(2_654_435_761).to_le_bytes()[3];
        }
        let blocks = [
            (0, 0),
            (200, 300),
            (256 * 2, 256 * 13 + 5),
            (256 * 20, 6143),
        ];
        let ranges = blocks
            .iter()
            .map(|&(first, last)| {
                let bytes = &image[(first * BS) as usize..((last + 1) * BS) as usize];
                BlockRange {
                    first,
                    last,
                    sha256: Sha256::digest(bytes).into(),
                }
            })
            .collect();
        let map = Bmap {
            image_size: image.len() as u64,
            block_size: BS,
            ranges,
        };
        (image, map)
    }

    fn mapped(map: &Bmap, ranges: &[BlockRange]) -> u64 {
        ranges.iter().map(|r| span_len(r, BS, map.image_size)).sum()
    }

    /// Runs the read-back after the writer said `through` (and `all`) and stopped;
    /// returns the outcome and the bytes reported checked.
    fn check(
        target: &(impl ReadAt + Sync + ?Sized),
        map: &Bmap,
        through: u64,
        all: bool,
    ) -> (Outcome, u64) {
        let gate = Gate::new();
        gate.through(through);
        if all {
            gate.all();
        }
        gate.close();
        let (done_tx, done_rx) = mpsc::channel();
        let outcome = run(target, map, 1 << 20, &gate, &done_tx).unwrap();
        drop(done_tx);
        (outcome, done_rx.iter().sum())
    }

    #[test]
    fn a_good_target_reads_back_clean() {
        let (image, map) = image_and_map();
        let (outcome, checked) = check(&image[..], &map, 30 << 20, true);
        let clean = Outcome {
            bad: vec![],
            complete: true,
        };
        assert_eq!(outcome, clean);
        assert_eq!(checked, mapped(&map, &map.ranges));
    }

    #[test]
    fn bad_ranges_are_named_in_map_order_and_the_others_still_checked() {
        let (mut image, map) = image_and_map();
        image[(256 * 5 * BS) as usize] ^= 1;
        image[0] ^= 1;
        let (outcome, checked) = check(&image[..], &map, u64::MAX, true);
        assert!(outcome.complete);
        assert_eq!(outcome.bad, vec![(0, 0), (512, 256 * 13 + 5)]);
        assert_eq!(checked, mapped(&map, &map.ranges));
    }

    #[test]
    fn a_writer_that_writes_while_it_checks_is_followed() {
        // The read-back starts before anything is written and follows the marks.
        let (image, map) = image_and_map();
        let gate = Gate::new();
        let (done_tx, done_rx) = mpsc::channel();
        let outcome = std::thread::scope(|scope| {
            let checker = scope.spawn(|| run(&image[..], &map, 1 << 20, &gate, &done_tx));
            let _closer = CloseOnDrop(&gate);
            for mib in 2..=24u64 {
                gate.through(mib << 20);
            }
            gate.all();
            checker.join().unwrap()
        })
        .unwrap();
        drop(done_tx);
        assert!(outcome.complete && outcome.bad.is_empty());
        assert_eq!(done_rx.iter().sum::<u64>(), mapped(&map, &map.ranges));
    }

    /// A target that remembers the furthest byte read.
    struct Recorder {
        bytes: Vec<u8>,
        reached: AtomicU64,
    }

    impl ReadAt for Recorder {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            let end = offset + buf.len() as u64;
            self.reached.fetch_max(end, Ordering::Relaxed);
            self.bytes.read_exact_at(buf, offset)
        }

        fn size(&self) -> u64 {
            self.bytes.len() as u64
        }
    }

    #[test]
    fn nothing_is_read_past_the_mark_and_the_head_waits_for_all() {
        let (image, map) = image_and_map();
        let range_end = (256 * 13 + 6) * BS;
        for mark in [1u64 << 20, 4 << 20, 6 << 20, 15 << 20] {
            let target = Recorder {
                bytes: image.clone(),
                reached: AtomicU64::new(0),
            };
            let (outcome, _) = check(&target, &map, mark, false);
            assert!(!outcome.complete);
            // Nothing below 2 MiB is body; the body is read up to the mark.
            let reached = target.reached.load(Ordering::Relaxed);
            let expected = if mark <= 2 << 20 {
                0
            } else {
                mark.min(range_end)
            };
            assert_eq!(reached, expected, "mark {mark}");
        }
        // The whole body but not the head: every body byte checked, the head's ranges not.
        let (outcome, checked) = check(&image[..], &map, u64::MAX, false);
        assert!(!outcome.complete);
        assert_eq!(checked, mapped(&map, &map.ranges[2..]));
    }

    #[test]
    fn a_target_too_short_is_an_error_not_a_panic() {
        let (image, map) = image_and_map();
        let gate = Gate::new();
        gate.all();
        let (done_tx, _done_rx) = mpsc::channel();
        let short = &image[..(10 << 20)];
        assert!(run(short, &map, 1 << 20, &gate, &done_tx).is_err());
    }
}
