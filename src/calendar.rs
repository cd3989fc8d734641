//! The proleptic Gregorian calendar in UTC, for the few places that turn Unix seconds into
//! dates and back: FAT timestamps, times in messages and reports, release dates.
//!
//! One implementation of Howard Hinnant's day-count algorithms; no time zones, no leap
//! seconds, no clock. Callers decide what range of seconds makes sense for them.

/// Seconds in a day.
pub const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a date (`month` 1-12, `day` 1-31).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1-12, day 1-31) of a day count since 1970-01-01. Any day count
/// a Unix time in seconds can give is in range: nothing overflows.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`, for messages and reports. Times from
/// untrusted input are clamped to about ±35,000 years first.
pub fn format_utc(seconds: i64) -> String {
    let seconds = seconds.clamp(-(1 << 40), 1 << 40);
    let rest = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `YYYY-MM-DD` of Unix seconds, for years 1970 to 9999 only (`None` outside).
pub fn utc_date(seconds: i64) -> Option<String> {
    if !(0..=253_402_300_799).contains(&seconds) {
        return None;
    }
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        for days in [-800_000, -1, 0, 1, 10_957, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_795_704_393), "2026-11-26 14:46:33 UTC");
        assert_eq!(format_utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
        let _ = format_utc(i64::MAX);
        let _ = format_utc(i64::MIN);
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(utc_date(0).as_deref(), Some("1970-01-01"));
        assert_eq!(utc_date(86_399).as_deref(), Some("1970-01-01"));
        assert_eq!(utc_date(951_782_400).as_deref(), Some("2000-02-29"));
        assert_eq!(utc_date(1_700_000_000).as_deref(), Some("2023-11-14"));
        assert_eq!(utc_date(253_402_300_799).as_deref(), Some("9999-12-31"));
        assert_eq!(utc_date(-1), None);
        assert_eq!(utc_date(253_402_300_800), None);
        assert_eq!(utc_date(i64::MAX), None);
    }
}
