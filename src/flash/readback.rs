//! The read-back of a flash, pipelined with the writing: a thread that reads every
//! mapped range back from the target as soon as the writer says its bytes are safe to
//! read, hashes it and compares the digest with the block map's.
//!
//! The writer sends [`Mark`]s: `Through(x)` once every written byte below `x` can be read
//! back meaningfully (on a card: written back to the device and dropped from the page
//! cache, so the read comes from the card; on a regular file: written, since the page
//! cache is the file's content), and `All` once the held-back partition table is written
//! too. Ranges that start in the held-back head wait for `All`; the others are checked
//! while later chunks are still being written, so the read-back costs little more than
//! the last chunk's. This module only reads; it decides nothing about writing.

use std::io;
use std::sync::mpsc::{Receiver, Sender};

use sha2::{Digest, Sha256};

use super::chunk::CHUNK;
use super::source::span_len;
use crate::image::bmap::Bmap;
use crate::image::io::ReadAt;

/// What the writer tells the read-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Every written byte below this offset is on the target and can be read back.
    Through(u64),
    /// Everything is written, the head included.
    All,
}

/// What the read-back found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Ranges (first and last block) whose bytes read back differently, in map order.
    pub bad: Vec<(u64, u64)>,
    /// Whether every range was read back; false when the writer stopped early.
    pub complete: bool,
}

/// Where the writer stands, as far as the read-back has heard.
struct Gate<'a> {
    marks: &'a Receiver<Mark>,
    through: u64,
    all: bool,
}

impl Gate<'_> {
    /// Waits until the bytes below `need` may be read; false if the writer hung up first.
    fn wait(&mut self, need: u64) -> bool {
        self.wait_until(|gate| gate.all || gate.through >= need)
    }

    /// Waits until everything, the head included, is written.
    fn wait_all(&mut self) -> bool {
        self.wait_until(|gate| gate.all)
    }

    fn wait_until(&mut self, ready: impl Fn(&Self) -> bool) -> bool {
        while !ready(self) {
            match self.marks.recv() {
                Ok(Mark::Through(x)) => self.through = self.through.max(x),
                Ok(Mark::All) => self.all = true,
                Err(_) => return false,
            }
        }
        true
    }
}

/// Reads back `bmap`'s ranges from `target` as `marks` allow, ranges starting below
/// `head` last. Sends the bytes checked on `done` as it goes (nobody listening is fine).
/// Fails only when the target cannot be read.
pub fn run<R: ReadAt + ?Sized>(
    target: &R,
    bmap: &Bmap,
    head: u64,
    marks: &Receiver<Mark>,
    done: &Sender<u64>,
) -> io::Result<Outcome> {
    let bs = bmap.block_size;
    let spans: Vec<_> = bmap
        .ranges
        .iter()
        .map(|r| {
            let start = r.first.saturating_mul(bs);
            let end = start.saturating_add(span_len(r, bs, bmap.image_size));
            (r, start, end)
        })
        .collect();
    let (deferred, body): (Vec<_>, Vec<_>) =
        spans.into_iter().partition(|&(_, start, _)| start < head);
    let mut gate = Gate {
        marks,
        through: 0,
        all: false,
    };
    let mut buf = vec![0u8; CHUNK];
    let mut outcome = Outcome::default();
    for (range, start, end) in body.into_iter().chain(deferred) {
        if start < head && !gate.wait_all() {
            return Ok(outcome);
        }
        let mut hasher = Sha256::new();
        let mut pos = start;
        while pos < end {
            let len = usize::try_from(end - pos).map_or(CHUNK, |n| n.min(CHUNK));
            let next = pos.saturating_add(len as u64);
            if !gate.wait(next) {
                return Ok(outcome);
            }
            let data = buf.get_mut(..len).unwrap_or_default();
            target.read_exact_at(data, pos)?;
            hasher.update(&*data);
            let _ = done.send(len as u64);
            pos = next;
        }
        if <[u8; 32]>::from(hasher.finalize()) != range.sha256 {
            outcome.bad.push((range.first, range.last));
        }
    }
    outcome.complete = true;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::bmap::BlockRange;
    use std::sync::mpsc;

    const BS: u64 = 4096;

    /// A 24 MiB image with ranges in the head, across chunk boundaries and at the end.
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

    fn check(target: &[u8], map: &Bmap, marks: &[Mark]) -> Outcome {
        let (mark_tx, mark_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        for &m in marks {
            mark_tx.send(m).unwrap();
        }
        drop(mark_tx);
        let outcome = run(target, map, 1 << 20, &mark_rx, &done_tx).unwrap();
        drop(done_tx);
        let checked: u64 = done_rx.iter().sum();
        if outcome.complete {
            let mapped: u64 = map
                .ranges
                .iter()
                .map(|r| span_len(r, BS, map.image_size))
                .sum();
            assert_eq!(checked, mapped);
        }
        outcome
    }

    #[test]
    fn a_good_target_reads_back_clean() {
        let (image, map) = image_and_map();
        let marks = [Mark::Through(8 << 20), Mark::Through(30 << 20), Mark::All];
        let outcome = check(&image, &map, &marks);
        assert_eq!(
            outcome,
            Outcome {
                bad: vec![],
                complete: true
            }
        );
    }

    #[test]
    fn a_bad_range_is_named_and_the_others_still_checked() {
        let (mut image, map) = image_and_map();
        image[(256 * 5 * BS) as usize] ^= 1;
        image[0] ^= 1;
        let outcome = check(&image, &map, &[Mark::Through(u64::MAX), Mark::All]);
        assert!(outcome.complete);
        // The head's range is checked last, after the body.
        assert_eq!(outcome.bad, vec![(512, 256 * 13 + 5), (0, 0)]);
    }

    /// A target that remembers the furthest byte read.
    struct Recorder {
        bytes: Vec<u8>,
        reached: std::cell::Cell<u64>,
    }

    impl ReadAt for Recorder {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            let end = offset + buf.len() as u64;
            self.reached.set(self.reached.get().max(end));
            self.bytes.read_exact_at(buf, offset)
        }

        fn size(&self) -> u64 {
            self.bytes.len() as u64
        }
    }

    #[test]
    fn nothing_is_read_past_the_mark_and_the_head_waits_for_all() {
        let (image, map) = image_and_map();
        for (mark, reached) in [(4u64 << 20, 0u64), (6 << 20, 6 << 20), (15 << 20, 13 << 20)] {
            let target = Recorder {
                bytes: image.clone(),
                reached: std::cell::Cell::new(0),
            };
            let (mark_tx, mark_rx) = mpsc::channel();
            let (done_tx, _done_rx) = mpsc::channel();
            mark_tx.send(Mark::Through(mark)).unwrap();
            drop(mark_tx);
            let outcome = run(&target, &map, 1 << 20, &mark_rx, &done_tx).unwrap();
            assert!(!outcome.complete);
            // Chunks start at their range's start: 2 MiB, 6 MiB, 10 MiB, then 13 MiB + 6 blocks.
            let reached_mib = target.reached.get() >> 20;
            assert_eq!(reached_mib, reached >> 20, "mark {mark}");
            assert!(target.reached.get() <= mark);
        }
        // The whole body but not the head: every body byte checked, the head's range not.
        let (mark_tx, mark_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        mark_tx.send(Mark::Through(u64::MAX)).unwrap();
        drop(mark_tx);
        let outcome = run(&image[..], &map, 1 << 20, &mark_rx, &done_tx).unwrap();
        drop(done_tx);
        assert!(!outcome.complete);
        let body: u64 = map.ranges[2..]
            .iter()
            .map(|r| span_len(r, BS, map.image_size))
            .sum();
        assert_eq!(done_rx.iter().sum::<u64>(), body);
    }

    #[test]
    fn a_target_too_short_is_an_error_not_a_panic() {
        let (image, map) = image_and_map();
        let (mark_tx, mark_rx) = mpsc::channel();
        let (done_tx, _done_rx) = mpsc::channel();
        mark_tx.send(Mark::All).unwrap();
        let short = &image[..(10 << 20)];
        assert!(run(short, &map, 1 << 20, &mark_rx, &done_tx).is_err());
    }
}
