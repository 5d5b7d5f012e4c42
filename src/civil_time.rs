//! Calendar dates of Unix times, UTC only (proleptic Gregorian, no time-zone database): what the
//! signed manifests, the SIPREC metadata and the CLI's tables print.

/// Year, month, day of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Date and time of day of `unix_ms`: (year, month, day, hour, minute, second, millisecond).
fn parts(unix_ms: i64) -> (i64, u32, u32, i64, i64, i64, i64) {
    let secs = unix_ms.div_euclid(1000);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, unix_ms.rem_euclid(1000))
}

/// RFC 3339 UTC with milliseconds: `2026-11-27T02:00:00.000Z`.
pub fn utc_ms(unix_ms: i64) -> String {
    let (y, m, d, h, mi, s, ms) = parts(unix_ms);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// RFC 3339 UTC to the second: `2026-11-27T02:00:00Z`.
pub fn utc(unix_ms: i64) -> String {
    let (y, m, d, h, mi, s, _) = parts(unix_ms);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// For tables: `2026-11-27 02:00:00Z`.
pub fn table(unix_ms: i64) -> String {
    utc(unix_ms).replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_ms(1_795_744_800_123), "2026-11-27T02:00:00.123Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(table(-1000), "1969-12-31 23:59:59Z");
        assert_eq!(civil(-719_468), (0, 3, 1));
    }
}
