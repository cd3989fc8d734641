//! Where partitions may lie: sector arithmetic, alignment, and the extent checks that both
//! readers and both writers share.
//!
//! Alignment is the caller's choice; this module only offers the usual 4 MiB boundary and a
//! rounding helper. It does not pick a layout.

use super::PartitionError;

/// The only logical sector size supported: 512 bytes. Disks with 4096-byte logical sectors
/// (rare outside some USB bridges and NVMe namespaces) are not read or written.
pub const SECTOR_SIZE: u64 = 512;

/// 4 MiB, the alignment SD-card vendors recommend for erase blocks.
pub const ALIGN_4MIB: u64 = 4 << 20;

/// `value` rounded up to a multiple of `align`, or `None` if `align` is zero or the result
/// does not fit a `u64`.
pub fn align_up(value: u64, align: u64) -> Option<u64> {
    value.checked_next_multiple_of(align)
}

/// One partition's place on the disk, in bytes, numbered as the table numbers it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extent {
    pub number: u32,
    pub start: u64,
    pub size: u64,
}

/// Checks that every extent is non-empty, inside the disk, inside the usable byte range
/// `[first_usable, end_usable)`, and that no two overlap.
///
/// The end of the disk is checked before the usable range so that a truncated image is
/// reported as such rather than as a table error.
pub(crate) fn check_extents(
    extents: &[Extent],
    first_usable: u64,
    end_usable: u64,
    disk_size: u64,
) -> Result<(), PartitionError> {
    for extent in extents {
        let number = extent.number;
        if extent.size == 0 {
            return Err(PartitionError::ZeroSized { number });
        }
        let end = extent.start.saturating_add(extent.size);
        if end > disk_size {
            return Err(PartitionError::PastEnd {
                number,
                end,
                disk_size,
            });
        }
        if extent.start < first_usable || end > end_usable {
            return Err(PartitionError::OutsideUsable {
                number,
                start_lba: extent.start / SECTOR_SIZE,
                end_lba: (end - 1) / SECTOR_SIZE,
                first_usable: first_usable / SECTOR_SIZE,
                last_usable: end_usable.saturating_sub(1) / SECTOR_SIZE,
            });
        }
    }
    let mut sorted: Vec<&Extent> = extents.iter().collect();
    sorted.sort_by_key(|e| (e.start, e.number));
    // Sorted by start, any overlap shows up between neighbours.
    for pair in sorted.windows(2) {
        if let [a, b] = pair {
            let a_end = a.start.saturating_add(a.size);
            if b.start < a_end {
                return Err(PartitionError::Overlap {
                    first: a.number,
                    second: b.number,
                    first_end: a_end,
                    second_start: b.start,
                });
            }
        }
    }
    Ok(())
}

/// Fails unless `value` is a whole number of sectors.
pub(crate) fn check_sector_multiple(
    number: u32,
    what: &'static str,
    value: u64,
) -> Result<(), PartitionError> {
    if value.is_multiple_of(SECTOR_SIZE) {
        Ok(())
    } else {
        Err(PartitionError::NotSectorMultiple {
            number,
            what,
            value,
        })
    }
}

/// `N` bytes of `bytes` at `at`, for fixed offsets inside fixed-size on-disk structures.
///
/// Callers pass constant offsets within buffers whose length they fixed themselves, so the
/// zero fill for an out-of-range request never happens; it exists to keep parsing panic-free.
pub(crate) fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = at.checked_add(N).and_then(|end| bytes.get(at..end)) {
        out.copy_from_slice(src);
    }
    out
}

/// Little-endian `u32` at `at`; see [`field`].
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(field(bytes, at))
}

/// Little-endian `u64` at `at`; see [`field`].
pub(crate) fn le_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(field(bytes, at))
}

/// Copies `src` into `bytes` at `at`; the counterpart of [`field`] for building sectors.
pub(crate) fn put(bytes: &mut [u8], at: usize, src: &[u8]) {
    if let Some(dst) = at
        .checked_add(src.len())
        .and_then(|end| bytes.get_mut(at..end))
    {
        dst.copy_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(number: u32, start: u64, size: u64) -> Extent {
        Extent {
            number,
            start,
            size,
        }
    }

    #[test]
    fn align_up_rounds_and_refuses_overflow() {
        assert_eq!(align_up(0, ALIGN_4MIB), Some(0));
        assert_eq!(align_up(1, ALIGN_4MIB), Some(ALIGN_4MIB));
        assert_eq!(align_up(ALIGN_4MIB, ALIGN_4MIB), Some(ALIGN_4MIB));
        assert_eq!(align_up(u64::MAX, ALIGN_4MIB), None);
        assert_eq!(align_up(5, 0), None);
    }

    #[test]
    fn extents_are_checked_for_size_end_range_and_overlap() {
        let disk = 1 << 20;
        assert!(check_extents(&[ext(1, 512, 512), ext(2, 1024, 1024)], 512, disk, disk).is_ok());
        assert!(matches!(
            check_extents(&[ext(1, 512, 0)], 512, disk, disk),
            Err(PartitionError::ZeroSized { number: 1 })
        ));
        assert!(matches!(
            check_extents(&[ext(2, 512, disk)], 512, disk, disk),
            Err(PartitionError::PastEnd { number: 2, end, disk_size }) if end == disk + 512 && disk_size == disk
        ));
        assert!(matches!(
            check_extents(&[ext(1, 0, 512)], 512, disk, disk),
            Err(PartitionError::OutsideUsable { number: 1, .. })
        ));
        assert!(matches!(
            check_extents(&[ext(1, u64::MAX - 1, 512)], 512, disk, disk),
            Err(PartitionError::PastEnd { number: 1, .. })
        ));
        let err = check_extents(
            &[ext(1, 4096, 4096), ext(2, 512, 1024), ext(3, 8000, 512)],
            512,
            disk,
            disk,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            PartitionError::Overlap {
                first: 1,
                second: 3,
                first_end: 8192,
                second_start: 8000
            }
        ));
        assert_eq!(
            err.to_string(),
            "partitions 1 and 3 overlap: partition 1 ends at byte 8192 but partition 3 starts at byte 8000"
        );
    }
}
