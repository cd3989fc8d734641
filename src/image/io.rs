//! Positioned reads from an image file or a part of one.
//!
//! Readers of disk formats take a [`ReadAt`] so they can read a partition inside a larger
//! image without copying it, and so tests can hand them bytes in memory. Every read is
//! bounds-checked: a read past the end is an error, never a short buffer.

use std::io;

/// A source of bytes that can be read at any offset.
pub trait ReadAt {
    /// Fills `buf` with the bytes at `offset`, or fails if any of them lies past the end.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// The number of bytes in the source.
    fn size(&self) -> u64;
}

fn past_end(offset: u64, len: usize, size: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("read of {len} bytes at offset {offset} goes past the end ({size} bytes)"),
    )
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let size = self.len() as u64;
        let start = usize::try_from(offset).map_err(|_| past_end(offset, buf.len(), size))?;
        let end = start
            .checked_add(buf.len())
            .filter(|&end| end <= self.len())
            .ok_or_else(|| past_end(offset, buf.len(), size))?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.len() as u64
    }
}

impl ReadAt for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }

    fn size(&self) -> u64 {
        self.len() as u64
    }
}

/// An open image file. The size is taken once, when it is opened.
#[derive(Debug)]
pub struct ImageFile {
    file: std::fs::File,
    size: u64,
}

impl ImageFile {
    /// Opens `path` read-only.
    pub fn open(path: &std::path::Path) -> io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        Ok(Self { file, size })
    }
}

impl ReadAt for ImageFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.size) {
            return Err(past_end(offset, buf.len(), self.size));
        }
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }

    fn size(&self) -> u64 {
        self.size
    }
}

/// A window `[start, start + len)` of another source, such as one partition of an image.
#[derive(Debug, Clone, Copy)]
pub struct Slice<'a, R: ?Sized> {
    inner: &'a R,
    start: u64,
    len: u64,
}

impl<'a, R: ReadAt + ?Sized> Slice<'a, R> {
    /// A window of `inner`; fails if the window reaches past the end of `inner`.
    pub fn new(inner: &'a R, start: u64, len: u64) -> io::Result<Self> {
        match start.checked_add(len) {
            Some(end) if end <= inner.size() => Ok(Self { inner, start, len }),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "range of {len} bytes at offset {start} goes past the end ({} bytes)",
                    inner.size()
                ),
            )),
        }
    }

    /// The offset of this window in the underlying source.
    pub fn start(&self) -> u64 {
        self.start
    }
}

impl<R: ReadAt + ?Sized> ReadAt for Slice<'_, R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.len) {
            return Err(past_end(offset, buf.len(), self.len));
        }
        self.inner.read_exact_at(buf, self.start + offset)
    }

    fn size(&self) -> u64 {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_inside_and_refuses_past_end() {
        let data: Vec<u8> = (0..=255).collect();
        let s = Slice::new(&data, 16, 32).unwrap();
        let mut buf = [0u8; 4];
        s.read_exact_at(&mut buf, 28).unwrap();
        assert_eq!(buf, [44, 45, 46, 47]);
        assert!(s.read_exact_at(&mut buf, 29).is_err());
        assert!(s.read_exact_at(&mut buf, u64::MAX).is_err());
        assert!(Slice::new(&data, 250, 7).is_err());
        assert!(Slice::new(&data, u64::MAX, 2).is_err());
    }
}
