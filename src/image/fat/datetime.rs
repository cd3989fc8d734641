//! FAT dates and times and their conversion to and from Unix seconds.
//!
//! FAT stores local time with no zone and 2-second resolution, from 1980 to 2107. We treat
//! it as UTC both ways, so a build made anywhere writes the same bytes. This module knows
//! nothing of directory entries; it only packs and unpacks the 16-bit date and time words.

/// A FAT date word, time word and the 10 ms creation-time refinement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatDateTime {
    /// Bits 15-9 year since 1980, 8-5 month, 4-0 day.
    pub date: u16,
    /// Bits 15-11 hour, 10-5 minute, 4-0 seconds / 2.
    pub time: u16,
    /// Hundredths of a second past `time` (0-199), used only for creation times.
    pub tenths: u8,
}

use crate::calendar::{SECONDS_PER_DAY, civil_from_days, days_from_civil};

/// Unix seconds of a FAT date and time read as UTC.
///
/// Fields out of range on disk (month 0, day 0) are clamped to the nearest valid value
/// instead of refused, as Linux does, because a bad timestamp should not hide a file.
pub fn to_unix(date: u16, time: u16) -> i64 {
    let year = 1980 + i64::from(date >> 9);
    let month = i64::from((date >> 5) & 0x0f).clamp(1, 12);
    let day = i64::from(date & 0x1f).max(1);
    let hour = i64::from(time >> 11);
    let minute = i64::from((time >> 5) & 0x3f);
    let second = i64::from(time & 0x1f) * 2;
    days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second
}

/// The FAT encoding of Unix seconds taken as UTC, clamped to FAT's range 1980-2107.
///
/// Odd seconds round down in `time` and are kept in `tenths`.
pub fn from_unix(secs: i64) -> FatDateTime {
    let min = days_from_civil(1980, 1, 1) * SECONDS_PER_DAY;
    let max = days_from_civil(2107, 12, 31) * SECONDS_PER_DAY + SECONDS_PER_DAY - 1;
    let secs = secs.clamp(min, max);
    let days = secs.div_euclid(SECONDS_PER_DAY);
    let rem = secs.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    // The clamp above keeps every field inside its bit width, so the casts cannot truncate.
    let date = (((year - 1980) as u16) << 9) | ((month as u16) << 5) | day as u16;
    let (hour, minute, second) = (rem / 3600, rem / 60 % 60, rem % 60);
    let time = ((hour as u16) << 11) | ((minute as u16) << 5) | (second / 2) as u16;
    let tenths = ((second % 2) * 100) as u8;
    FatDateTime { date, time, tenths }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_round_trip() {
        // 2024-02-29 13:37:42 UTC
        let t = 1_709_213_862;
        let f = from_unix(t);
        assert_eq!(f.date, ((2024 - 1980) << 9) | (2 << 5) | 29);
        assert_eq!(f.time, (13 << 11) | (37 << 5) | 21);
        assert_eq!(f.tenths, 0);
        assert_eq!(to_unix(f.date, f.time), t);
        assert_eq!(from_unix(t + 1).tenths, 100);
        assert_eq!(to_unix(from_unix(t + 1).date, from_unix(t + 1).time), t);
    }

    #[test]
    fn out_of_range_is_clamped() {
        assert_eq!(to_unix(from_unix(0).date, from_unix(0).time), 315_532_800);
        let last = from_unix(i64::MAX);
        assert_eq!(last.date >> 9, 127);
        assert_eq!(to_unix(0, 0), 315_532_800);
        // Garbage words never panic.
        let _ = to_unix(u16::MAX, u16::MAX);
    }
}
