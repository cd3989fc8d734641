//! A small reader of zip archives, for base images published as `.zip` (Raspbian until 2020):
//! finds the end-of-central-directory record (and its ZIP64 form, for archives past 4 GiB or
//! 65535 entries), lists the central directory, and streams one entry, stored or deflated,
//! checking its size and CRC-32 as it goes.
//!
//! It does not write archives, extract to disk, follow split (multi-disk) archives, decrypt,
//! or decode methods other than stored (0) and deflate (8). Every offset and length comes
//! from an untrusted file: each is bounds-checked against the file before use, so a damaged
//! or hostile archive gives a [`ZipError`], never a panic or an outsized allocation.

use std::io::{self, BufReader, Read};

use crate::image::io::ReadAt;

const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_LEN: usize = 56;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;
/// The end record may be followed by a comment of up to 65535 bytes.
const MAX_COMMENT: usize = 0xFFFF;
/// A base image's archive lists a handful of entries; a directory this large is damage.
const MAX_CENTRAL_DIRECTORY: u64 = 16 << 20;
const ZIP64_EXTRA_ID: u16 = 0x0001;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
/// Stored, no compression.
pub const METHOD_STORED: u16 = 0;
/// Deflate (RFC 1951).
pub const METHOD_DEFLATE: u16 = 8;

/// Why a zip archive or one of its entries cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// Reading the archive failed (including reads past its end).
    #[error("cannot read the archive: {0}")]
    Io(#[from] io::Error),
    /// No end-of-central-directory record in the last 64 KiB.
    #[error(
        "no end-of-central-directory record: the file is not a zip archive, or it is truncated (download it again)"
    )]
    NoEndRecord,
    /// The archive is one part of a split archive.
    #[error("the archive spans several disks (a split archive); join its parts into one file")]
    MultiDisk,
    /// The ZIP64 end records are missing or inconsistent.
    #[error("the ZIP64 end record is damaged: {0}")]
    BadZip64(String),
    /// The central directory lies outside the file or is implausibly large.
    #[error(
        "the central directory ({size} bytes at offset {offset}) does not fit in the archive of {archive} bytes; the file is truncated or damaged"
    )]
    DirectoryOutOfBounds {
        /// Where the directory claims to start.
        offset: u64,
        /// Its claimed size.
        size: u64,
        /// Where it must end (the end record's offset).
        archive: u64,
    },
    /// An entry of the central directory cannot be parsed.
    #[error("central directory entry {index} is damaged: {reason}")]
    BadEntry {
        /// Its position in the directory, from 0.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The entry is encrypted.
    #[error("`{name}` is encrypted; give an unencrypted archive")]
    Encrypted {
        /// The entry.
        name: String,
    },
    /// The entry is compressed with a method this reader does not decode.
    #[error(
        "`{name}` is compressed with zip method {method}, which is not supported (only stored and deflate are); recompress it, or give the .img, .img.xz or .img.gz"
    )]
    UnsupportedMethod {
        /// The entry.
        name: String,
        /// The zip method number.
        method: u16,
    },
    /// The entry's local header is missing or disagrees with the central directory.
    #[error("the local header of `{name}` is damaged: {reason}")]
    BadLocalHeader {
        /// The entry.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The entry's data lies outside the file.
    #[error(
        "the data of `{name}` ({size} bytes at offset {offset}) lies outside the archive's {limit} bytes of entries; the file is truncated or damaged"
    )]
    DataOutOfBounds {
        /// The entry.
        name: String,
        /// Where its data starts.
        offset: u64,
        /// Its compressed size.
        size: u64,
        /// Where entry data must end (the central directory's start).
        limit: u64,
    },
    /// The entry decompressed to another size than its header gives.
    #[error(
        "`{name}` holds {actual} bytes when unpacked, but its header says {header}; the archive is damaged"
    )]
    SizeMismatch {
        /// The entry.
        name: String,
        /// The size in the header.
        header: u64,
        /// The size found (for a too long entry: where reading stopped).
        actual: u64,
    },
    /// The entry's CRC-32 does not match its contents.
    #[error(
        "`{name}` has CRC-32 {actual:08x}, but its header says {expected:08x}; the archive is damaged"
    )]
    CrcMismatch {
        /// The entry.
        name: String,
        /// The CRC in the header.
        expected: u32,
        /// The CRC of the contents.
        actual: u32,
    },
}

/// One entry of the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Its name (not UTF-8 bytes replaced), `/`-separated; directories end in `/`.
    pub name: String,
    /// The compression method ([`METHOD_STORED`], [`METHOD_DEFLATE`], …).
    pub method: u16,
    /// The general-purpose flags.
    pub flags: u16,
    /// The CRC-32 of the contents.
    pub crc32: u32,
    /// Bytes of compressed data.
    pub compressed_size: u64,
    /// Bytes once decompressed.
    pub uncompressed_size: u64,
    /// Where its local header starts.
    pub local_header: u64,
}

impl ZipEntry {
    /// Whether this entry is a directory.
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
}

/// An opened archive: its entries, read from the central directory.
#[derive(Debug)]
pub struct ZipArchive<'a, R: ReadAt + ?Sized> {
    source: &'a R,
    entries: Vec<ZipEntry>,
    /// Where entry data must end: the start of the central directory.
    data_limit: u64,
}

impl<'a, R: ReadAt + ?Sized> ZipArchive<'a, R> {
    /// Reads the end record and the central directory of `source`.
    pub fn open(source: &'a R) -> Result<Self, ZipError> {
        let end = find_end(source)?;
        let archive_end = end.directory_end;
        let fits = end
            .directory_offset
            .checked_add(end.directory_size)
            .is_some_and(|e| e <= archive_end);
        if !fits || end.directory_size > MAX_CENTRAL_DIRECTORY {
            return Err(ZipError::DirectoryOutOfBounds {
                offset: end.directory_offset,
                size: end.directory_size,
                archive: archive_end,
            });
        }
        // Bounded by MAX_CENTRAL_DIRECTORY just above.
        let mut directory = vec![0u8; end.directory_size as usize];
        source.read_exact_at(&mut directory, end.directory_offset)?;
        let entries = parse_directory(&directory, end.entries)?;
        Ok(Self {
            source,
            entries,
            data_limit: end.directory_offset,
        })
    }

    /// The entries, in directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// A reader of `entry`'s decompressed contents, which fails when the size or CRC-32 turns
    /// out different from the header's (the error wraps a [`ZipError`]).
    pub fn reader(&self, entry: &ZipEntry) -> Result<EntryReader<'a>, ZipError>
    where
        R: Sync,
    {
        let name = || entry.name.clone();
        if entry.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 {
            return Err(ZipError::Encrypted { name: name() });
        }
        if entry.method != METHOD_STORED && entry.method != METHOD_DEFLATE {
            return Err(ZipError::UnsupportedMethod {
                name: name(),
                method: entry.method,
            });
        }
        if entry.method == METHOD_STORED && entry.compressed_size != entry.uncompressed_size {
            return Err(ZipError::SizeMismatch {
                name: name(),
                header: entry.uncompressed_size,
                actual: entry.compressed_size,
            });
        }
        let data = self.local_data_offset(entry)?;
        let in_bounds = data
            .checked_add(entry.compressed_size)
            .is_some_and(|end| end <= self.data_limit);
        if !in_bounds {
            return Err(ZipError::DataOutOfBounds {
                name: name(),
                offset: data,
                size: entry.compressed_size,
                limit: self.data_limit,
            });
        }
        let raw = SliceReader {
            source: self.source,
            position: data,
            end: data.saturating_add(entry.compressed_size),
        };
        let inner: Box<dyn Read + Send + 'a> = if entry.method == METHOD_DEFLATE {
            Box::new(flate2::bufread::DeflateDecoder::new(
                BufReader::with_capacity(256 << 10, raw),
            ))
        } else {
            Box::new(raw)
        };
        Ok(EntryReader {
            inner,
            name: entry.name.clone(),
            expected_size: entry.uncompressed_size,
            expected_crc: entry.crc32,
            produced: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Checks the local header against the central directory and returns where the data
    /// starts.
    fn local_data_offset(&self, entry: &ZipEntry) -> Result<u64, ZipError> {
        let bad = |reason: String| ZipError::BadLocalHeader {
            name: entry.name.clone(),
            reason,
        };
        let mut header = [0u8; LOCAL_LEN];
        self.source
            .read_exact_at(&mut header, entry.local_header)
            .map_err(|e| {
                bad(format!(
                    "cannot read it at offset {}: {e}",
                    entry.local_header
                ))
            })?;
        let field = |at: usize, len: usize| le(&header, at, len).unwrap_or(0);
        if field(0, 4) != u64::from(LOCAL_SIGNATURE) {
            return Err(bad(format!(
                "no local header signature at offset {}",
                entry.local_header
            )));
        }
        if field(8, 2) != u64::from(entry.method) {
            return Err(bad(format!(
                "it gives method {}, the central directory {}",
                field(8, 2),
                entry.method
            )));
        }
        let name_len = field(26, 2);
        let extra_len = field(28, 2);
        let flags = u16::try_from(field(6, 2)).unwrap_or(0);
        if flags & FLAG_DATA_DESCRIPTOR == 0 {
            let (mut compressed, mut uncompressed) = (field(18, 4), field(22, 4));
            let wanted = [
                uncompressed == 0xFFFF_FFFF,
                compressed == 0xFFFF_FFFF,
                false,
                false,
            ];
            if wanted.contains(&true) {
                // At most 65535 bytes.
                let mut extra = vec![0u8; extra_len as usize];
                let extra_at = entry
                    .local_header
                    .checked_add(LOCAL_LEN as u64)
                    .and_then(|o| o.checked_add(name_len))
                    .ok_or_else(|| bad("its offset overflows".to_owned()))?;
                self.source
                    .read_exact_at(&mut extra, extra_at)
                    .map_err(|e| bad(format!("cannot read its extra field: {e}")))?;
                let [u, c, _, _] = zip64_values(&extra, wanted).map_err(bad)?;
                uncompressed = u.unwrap_or(uncompressed);
                compressed = c.unwrap_or(compressed);
            }
            if compressed != entry.compressed_size || uncompressed != entry.uncompressed_size {
                return Err(bad(format!(
                    "it gives {compressed} compressed and {uncompressed} unpacked bytes, the central directory {} and {}",
                    entry.compressed_size, entry.uncompressed_size
                )));
            }
            if field(14, 4) != u64::from(entry.crc32) {
                return Err(bad(format!(
                    "it gives CRC-32 {:08x}, the central directory {:08x}",
                    field(14, 4),
                    entry.crc32
                )));
            }
        }
        entry
            .local_header
            .checked_add(LOCAL_LEN as u64)
            .and_then(|o| o.checked_add(name_len))
            .and_then(|o| o.checked_add(extra_len))
            .ok_or_else(|| bad("its offset overflows".to_owned()))
    }
}

/// What the end records say.
struct End {
    entries: u64,
    directory_size: u64,
    directory_offset: u64,
    /// Where the central directory must end: the first end record.
    directory_end: u64,
}

/// Finds the end-of-central-directory record, following it to the ZIP64 one when present.
fn find_end<R: ReadAt + ?Sized>(source: &R) -> Result<End, ZipError> {
    let size = source.size();
    let tail_len = size.min((EOCD_LEN + MAX_COMMENT) as u64);
    let tail_start = size.saturating_sub(tail_len);
    // At most 64 KiB + 22 bytes.
    let mut tail = vec![0u8; tail_len as usize];
    source.read_exact_at(&mut tail, tail_start)?;
    let last = tail
        .len()
        .checked_sub(EOCD_LEN)
        .ok_or(ZipError::NoEndRecord)?;
    // The last record whose comment fits in the file: a signature inside a comment would
    // otherwise be taken for the record.
    let at = (0..=last)
        .rev()
        .find(|&i| {
            le(&tail, i, 4) == Some(u64::from(EOCD_SIGNATURE))
                && le(&tail, i + 20, 2).is_some_and(|c| i + EOCD_LEN + c as usize <= tail.len())
        })
        .ok_or(ZipError::NoEndRecord)?;
    let field = |offset: usize, len: usize| le(&tail, at + offset, len).unwrap_or(0);
    let eocd_offset = tail_start.saturating_add(at as u64);
    if field(4, 2) != 0 || field(6, 2) != 0 || field(8, 2) != field(10, 2) {
        return Err(ZipError::MultiDisk);
    }
    let mut end = End {
        entries: field(10, 2),
        directory_size: field(12, 4),
        directory_offset: field(16, 4),
        directory_end: eocd_offset,
    };
    let needs_zip64 = end.entries == 0xFFFF
        || end.directory_size == 0xFFFF_FFFF
        || end.directory_offset == 0xFFFF_FFFF;
    let locator_at = eocd_offset.checked_sub(ZIP64_LOCATOR_LEN as u64);
    let mut locator = [0u8; ZIP64_LOCATOR_LEN];
    let has_locator = match locator_at {
        Some(at) => {
            source.read_exact_at(&mut locator, at)?;
            le(&locator, 0, 4) == Some(u64::from(ZIP64_LOCATOR_SIGNATURE))
        }
        None => false,
    };
    if !has_locator {
        if needs_zip64 {
            return Err(ZipError::BadZip64(
                "the end record defers to a ZIP64 record, but there is no ZIP64 locator".into(),
            ));
        }
        return Ok(end);
    }
    let lfield = |offset: usize, len: usize| le(&locator, offset, len).unwrap_or(0);
    if lfield(4, 4) != 0 || lfield(16, 4) > 1 {
        return Err(ZipError::MultiDisk);
    }
    let record_at = lfield(8, 8);
    let record_end = record_at.checked_add(ZIP64_EOCD_LEN as u64);
    if record_end.is_none_or(|e| e > locator_at.unwrap_or(0)) {
        return Err(ZipError::BadZip64(format!(
            "the locator points at offset {record_at}, past the end records"
        )));
    }
    let mut record = [0u8; ZIP64_EOCD_LEN];
    source.read_exact_at(&mut record, record_at)?;
    let rfield = |offset: usize, len: usize| le(&record, offset, len).unwrap_or(0);
    if rfield(0, 4) != u64::from(ZIP64_EOCD_SIGNATURE) {
        return Err(ZipError::BadZip64(format!(
            "no ZIP64 end record signature at offset {record_at}"
        )));
    }
    if rfield(16, 4) != 0 || rfield(20, 4) != 0 || rfield(24, 8) != rfield(32, 8) {
        return Err(ZipError::MultiDisk);
    }
    end.entries = rfield(32, 8);
    end.directory_size = rfield(40, 8);
    end.directory_offset = rfield(48, 8);
    end.directory_end = record_at;
    Ok(end)
}

/// Parses `count` central directory entries from `directory`.
fn parse_directory(directory: &[u8], count: u64) -> Result<Vec<ZipEntry>, ZipError> {
    let most = directory.len() / CENTRAL_LEN;
    if count > most as u64 {
        return Err(ZipError::BadEntry {
            index: most,
            reason: format!(
                "the end record counts {count} entries, but the {}-byte directory holds at most {most}",
                directory.len()
            ),
        });
    }
    // Bounded by `most` just above.
    let mut entries = Vec::with_capacity(count as usize);
    let mut at = 0usize;
    for index in 0..count as usize {
        let bad = |reason: String| ZipError::BadEntry { index, reason };
        let field = |offset: usize, len: usize| {
            at.checked_add(offset)
                .and_then(|o| le(directory, o, len))
                .ok_or_else(|| bad("it runs past the end of the central directory".into()))
        };
        if field(0, 4)? != u64::from(CENTRAL_SIGNATURE) {
            return Err(bad(format!("no entry signature at directory offset {at}")));
        }
        let name_len = field(28, 2)? as usize;
        let extra_len = field(30, 2)? as usize;
        let comment_len = field(32, 2)? as usize;
        let slice = |from: usize, len: usize| {
            at.checked_add(from)
                .and_then(|start| Some(start..start.checked_add(len)?))
                .and_then(|range| directory.get(range))
                .ok_or_else(|| bad("its name or extra field runs past the directory".into()))
        };
        let name_bytes = slice(CENTRAL_LEN, name_len)?;
        let extra = slice(CENTRAL_LEN + name_len, extra_len)?;
        let mut compressed_size = field(20, 4)?;
        let mut uncompressed_size = field(24, 4)?;
        let disk = field(34, 2)?;
        let mut local_header = field(42, 4)?;
        let wanted = [
            uncompressed_size == 0xFFFF_FFFF,
            compressed_size == 0xFFFF_FFFF,
            local_header == 0xFFFF_FFFF,
            disk == 0xFFFF,
        ];
        if wanted.contains(&true) {
            let values = zip64_values(extra, wanted).map_err(bad)?;
            uncompressed_size = values[0].unwrap_or(uncompressed_size);
            compressed_size = values[1].unwrap_or(compressed_size);
            local_header = values[2].unwrap_or(local_header);
            if values[3].is_some_and(|d| d != 0) {
                return Err(ZipError::MultiDisk);
            }
        } else if disk != 0 {
            return Err(ZipError::MultiDisk);
        }
        entries.push(ZipEntry {
            name: String::from_utf8_lossy(name_bytes).into_owned(),
            method: field(10, 2)? as u16,
            flags: field(8, 2)? as u16,
            crc32: field(16, 4)? as u32,
            compressed_size,
            uncompressed_size,
            local_header,
        });
        at = at
            .checked_add(CENTRAL_LEN + name_len + extra_len + comment_len)
            .ok_or_else(|| bad("its length overflows".into()))?;
    }
    Ok(entries)
}

/// The values of the ZIP64 extended-information extra field: uncompressed size, compressed
/// size, local header offset (8 bytes each) and disk number (4 bytes), each present only when
/// `wanted` (its header field is saturated), in that order.
fn zip64_values(extra: &[u8], wanted: [bool; 4]) -> Result<[Option<u64>; 4], String> {
    let mut at = 0usize;
    while let (Some(id), Some(len)) = (le(extra, at, 2), le(extra, at + 2, 2)) {
        let start = at + 4;
        let data = start
            .checked_add(len as usize)
            .and_then(|end| extra.get(start..end))
            .ok_or_else(|| "an extra field runs past its entry".to_owned())?;
        if id == u64::from(ZIP64_EXTRA_ID) {
            return read_zip64(data, wanted);
        }
        at = start.saturating_add(len as usize);
    }
    Err("sizes or offsets are saturated, but there is no ZIP64 extra field".to_owned())
}

/// Reads the wanted values of one ZIP64 extra field's data.
fn read_zip64(data: &[u8], wanted: [bool; 4]) -> Result<[Option<u64>; 4], String> {
    let widths = [8usize, 8, 8, 4];
    let mut values = [None; 4];
    let mut offset = 0usize;
    for ((slot, want), width) in values.iter_mut().zip(wanted).zip(widths) {
        if !want {
            continue;
        }
        *slot = Some(le(data, offset, width).ok_or_else(|| {
            "the ZIP64 extra field is shorter than the saturated fields need".to_owned()
        })?);
        offset += width;
    }
    Ok(values)
}

/// The little-endian unsigned integer of `len` (at most 8) bytes at `at`, if it fits.
fn le(bytes: &[u8], at: usize, len: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(len)?)?;
    Some(
        field
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

/// Reads `[position, end)` of a source in order.
struct SliceReader<'a, R: ?Sized> {
    source: &'a R,
    position: u64,
    end: u64,
}

impl<R: ReadAt + ?Sized> Read for SliceReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.position);
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let Some(part) = buf.get_mut(..n) else {
            return Ok(0);
        };
        if n == 0 {
            return Ok(0);
        }
        self.source.read_exact_at(part, self.position)?;
        self.position = self.position.saturating_add(n as u64);
        Ok(n)
    }
}

/// One entry's contents, checked against its header's size and CRC-32 as they stream.
pub struct EntryReader<'a> {
    inner: Box<dyn Read + Send + 'a>,
    name: String,
    expected_size: u64,
    expected_crc: u32,
    produced: u64,
    crc: crc32fast::Hasher,
}

impl std::fmt::Debug for EntryReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryReader")
            .field("name", &self.name)
            .field("expected_size", &self.expected_size)
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

impl EntryReader<'_> {
    fn fail(&self, error: ZipError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            if self.produced != self.expected_size {
                return Err(self.fail(ZipError::SizeMismatch {
                    name: self.name.clone(),
                    header: self.expected_size,
                    actual: self.produced,
                }));
            }
            let actual = self.crc.clone().finalize();
            if actual != self.expected_crc {
                return Err(self.fail(ZipError::CrcMismatch {
                    name: self.name.clone(),
                    expected: self.expected_crc,
                    actual,
                }));
            }
            return Ok(0);
        }
        self.produced = self.produced.saturating_add(n as u64);
        if self.produced > self.expected_size {
            return Err(self.fail(ZipError::SizeMismatch {
                name: self.name.clone(),
                header: self.expected_size,
                actual: self.produced,
            }));
        }
        self.crc.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use proptest::prelude::*;

    use super::*;

    /// One entry for [`build`].
    struct Spec<'a> {
        name: &'a str,
        data: &'a [u8],
        method: u16,
    }

    /// A zip archive as the common writers lay it out; `zip64` adds the ZIP64 end records
    /// and saturates every size and offset so they must be read from the extra fields.
    fn build(specs: &[Spec], zip64: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for spec in specs {
            let compressed = if spec.method == METHOD_DEFLATE {
                let mut enc =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(spec.data).unwrap();
                enc.finish().unwrap()
            } else {
                spec.data.to_vec()
            };
            let crc = crc32fast::hash(spec.data);
            let offset = out.len() as u64;
            let (size32, offset32) = if zip64 {
                (u32::MAX, u32::MAX)
            } else {
                (0, offset as u32)
            };
            let mut local_extra = Vec::new();
            let mut central_extra = Vec::new();
            if zip64 {
                local_extra.extend_from_slice(&1u16.to_le_bytes());
                local_extra.extend_from_slice(&16u16.to_le_bytes());
                local_extra.extend_from_slice(&(spec.data.len() as u64).to_le_bytes());
                local_extra.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
                central_extra.extend_from_slice(&1u16.to_le_bytes());
                central_extra.extend_from_slice(&24u16.to_le_bytes());
                central_extra.extend_from_slice(&(spec.data.len() as u64).to_le_bytes());
                central_extra.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
                central_extra.extend_from_slice(&offset.to_le_bytes());
            }
            let sizes = |buf: &mut Vec<u8>| {
                if zip64 {
                    buf.extend_from_slice(&size32.to_le_bytes());
                    buf.extend_from_slice(&size32.to_le_bytes());
                } else {
                    buf.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
                    buf.extend_from_slice(&(spec.data.len() as u32).to_le_bytes());
                }
            };
            out.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0]);
            out.extend_from_slice(&spec.method.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0x21, 0]);
            out.extend_from_slice(&crc.to_le_bytes());
            sizes(&mut out);
            out.extend_from_slice(&(spec.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(local_extra.len() as u16).to_le_bytes());
            out.extend_from_slice(spec.name.as_bytes());
            out.extend_from_slice(&local_extra);
            out.extend_from_slice(&compressed);
            central.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
            central.extend_from_slice(&[20, 3, 20, 0, 0, 0]);
            central.extend_from_slice(&spec.method.to_le_bytes());
            central.extend_from_slice(&[0, 0, 0x21, 0]);
            central.extend_from_slice(&crc.to_le_bytes());
            sizes(&mut central);
            central.extend_from_slice(&(spec.name.len() as u16).to_le_bytes());
            central.extend_from_slice(&(central_extra.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 6]);
            central.extend_from_slice(&0o100644u32.wrapping_shl(16).to_le_bytes());
            central.extend_from_slice(&offset32.to_le_bytes());
            central.extend_from_slice(spec.name.as_bytes());
            central.extend_from_slice(&central_extra);
        }
        let directory_offset = out.len() as u64;
        out.extend_from_slice(&central);
        let count = specs.len() as u64;
        if zip64 {
            let record = out.len() as u64;
            out.extend_from_slice(&ZIP64_EOCD_SIGNATURE.to_le_bytes());
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&[45, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&(central.len() as u64).to_le_bytes());
            out.extend_from_slice(&directory_offset.to_le_bytes());
            out.extend_from_slice(&ZIP64_LOCATOR_SIGNATURE.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&record.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        out.extend_from_slice(&EOCD_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let (count16, size32, offset32) = if zip64 {
            (0xFFFF, u32::MAX, u32::MAX)
        } else {
            (count as u16, central.len() as u32, directory_offset as u32)
        };
        out.extend_from_slice(&count16.to_le_bytes());
        out.extend_from_slice(&count16.to_le_bytes());
        out.extend_from_slice(&size32.to_le_bytes());
        out.extend_from_slice(&offset32.to_le_bytes());
        out.extend_from_slice(&7u16.to_le_bytes());
        out.extend_from_slice(b"comment");
        out
    }

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 27) as u8)
            .collect()
    }

    fn read_all(archive: &ZipArchive<'_, Vec<u8>>, index: usize) -> Result<Vec<u8>, String> {
        let entry = archive.entries()[index].clone();
        let mut reader = archive.reader(&entry).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn reads_stored_and_deflated_entries() {
        let data = sample();
        for zip64 in [false, true] {
            let bytes = build(
                &[
                    Spec {
                        name: "dir/",
                        data: b"",
                        method: METHOD_STORED,
                    },
                    Spec {
                        name: "a.img",
                        data: &data,
                        method: METHOD_DEFLATE,
                    },
                    Spec {
                        name: "readme.txt",
                        data: b"hello",
                        method: METHOD_STORED,
                    },
                ],
                zip64,
            );
            let archive = ZipArchive::open(&bytes).unwrap();
            let names: Vec<&str> = archive.entries().iter().map(|e| e.name.as_str()).collect();
            assert_eq!(names, ["dir/", "a.img", "readme.txt"], "zip64 {zip64}");
            assert!(archive.entries()[0].is_dir());
            assert_eq!(archive.entries()[1].uncompressed_size, data.len() as u64);
            assert_eq!(read_all(&archive, 1).unwrap(), data, "zip64 {zip64}");
            assert_eq!(read_all(&archive, 2).unwrap(), b"hello");
            assert_eq!(read_all(&archive, 0).unwrap(), b"");
        }
    }

    #[test]
    fn a_changed_byte_of_data_fails_the_crc() {
        let data = sample();
        let mut bytes = build(
            &[Spec {
                name: "a.img",
                data: &data,
                method: METHOD_STORED,
            }],
            false,
        );
        bytes[30 + 5 + 1000] ^= 1;
        let archive = ZipArchive::open(&bytes).unwrap();
        let err = read_all(&archive, 0).unwrap_err();
        assert!(err.contains("CRC-32"), "{err}");
    }

    #[test]
    fn sizes_that_disagree_are_refused() {
        let data = sample();
        let bytes = build(
            &[Spec {
                name: "a.img",
                data: &data,
                method: METHOD_DEFLATE,
            }],
            false,
        );
        let directory = bytes.len() - 22 - 7 - (46 + 5);
        // A central directory that promises one byte more than the data holds.
        let mut longer = bytes.clone();
        longer[directory + 24] = longer[directory + 24].wrapping_add(1);
        let archive = ZipArchive::open(&longer).unwrap();
        let err = archive.reader(&archive.entries()[0]).unwrap_err();
        assert!(matches!(err, ZipError::BadLocalHeader { .. }), "{err}");
        // Both headers agree on a size the data does not have.
        let mut both = longer;
        both[22] = both[22].wrapping_add(1);
        let archive = ZipArchive::open(&both).unwrap();
        let err = read_all(&archive, 0).unwrap_err();
        assert!(err.contains("holds 100000 bytes when unpacked"), "{err}");
    }

    #[test]
    fn unsupported_and_encrypted_entries_are_named() {
        let mut bytes = build(
            &[Spec {
                name: "a.img",
                data: b"abc",
                method: 12,
            }],
            false,
        );
        let archive = ZipArchive::open(&bytes).unwrap();
        let err = archive.reader(&archive.entries()[0]).unwrap_err();
        assert!(
            err.to_string()
                .contains("`a.img` is compressed with zip method 12")
        );
        let directory = bytes.len() - 22 - 7 - (46 + 5);
        bytes[directory + 8] |= 1;
        let archive = ZipArchive::open(&bytes).unwrap();
        let err = archive.reader(&archive.entries()[0]).unwrap_err();
        assert!(matches!(err, ZipError::Encrypted { .. }), "{err}");
    }

    #[test]
    fn not_a_zip_is_a_clear_error() {
        assert!(matches!(
            ZipArchive::open(&vec![0u8; 100]),
            Err(ZipError::NoEndRecord)
        ));
        assert!(matches!(
            ZipArchive::open(&Vec::new()),
            Err(ZipError::NoEndRecord)
        ));
        let bytes = build(
            &[Spec {
                name: "a.img",
                data: b"abc",
                method: METHOD_STORED,
            }],
            false,
        );
        let truncated = bytes[10..].to_vec();
        assert!(matches!(
            ZipArchive::open(&truncated),
            Err(ZipError::DirectoryOutOfBounds { .. })
        ));
    }

    /// Runs the whole reader on `bytes`: what it must survive without panicking.
    fn exercise(bytes: &Vec<u8>) {
        if let Ok(archive) = ZipArchive::open(bytes) {
            for entry in archive.entries().to_vec() {
                if let Ok(mut reader) = archive.reader(&entry) {
                    let mut sink = Vec::new();
                    let _ = (&mut reader).take(1 << 20).read_to_end(&mut sink);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            exercise(&bytes);
        }

        #[test]
        fn mutated_archives_never_panic(
            zip64 in any::<bool>(),
            changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = build(
                &[
                    Spec { name: "a.img", data: &[7u8; 3000], method: METHOD_DEFLATE },
                    Spec { name: "b.txt", data: b"hello", method: METHOD_STORED },
                ],
                zip64,
            );
            for (index, value) in changes {
                let at = index.index(bytes.len());
                bytes[at] = value;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len()));
            }
            exercise(&bytes);
        }
    }
}
