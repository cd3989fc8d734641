//! Little-endian fields of on-disk records.
//!
//! Callers read a whole record (superblock, group descriptor, inode, directory block) into a
//! buffer whose length they checked, then pick fields out of it. A field past the end of the
//! buffer reads as zero instead of panicking: for the fixed-size records this cannot happen,
//! and the variable-length parsers check lengths before they look.

/// Reads whole blocks or byte ranges of the filesystem: `(byte or block offset, buffer)`.
pub(crate) type ReadFn<'a> = &'a dyn Fn(u64, &mut [u8]) -> Result<(), super::error::Ext4Error>;

/// The byte at `off`, or 0 past the end.
pub(crate) fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

/// The little-endian `u16` at `off`, or 0 if it does not fit.
pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    array::<2>(b, off).map_or(0, u16::from_le_bytes)
}

/// The little-endian `u32` at `off`, or 0 if it does not fit.
pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    array::<4>(b, off).map_or(0, u32::from_le_bytes)
}

/// `N` bytes at `off`, if they fit.
pub(crate) fn array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    b.get(off..end)?.try_into().ok()
}

/// A 64-bit value split into a low `u32` and a high part.
pub(crate) fn lo_hi(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | (u64::from(hi) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_past_the_end_read_as_zero() {
        let b = [1u8, 2, 3];
        assert_eq!(le16(&b, 1), 0x0302);
        assert_eq!(le16(&b, 2), 0);
        assert_eq!(le32(&b, 0), 0);
        assert_eq!(le32(&b, usize::MAX), 0);
        assert_eq!(u8_at(&b, 3), 0);
        assert_eq!(lo_hi(1, 2), 0x2_0000_0001);
    }
}
