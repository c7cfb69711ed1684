//! Time as OpenSIPS prints it (no time crate).

pub(super) fn civil(t: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wday = ((days + 4).rem_euclid(7)) as u32; // 1970-01-01 was a Thursday
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs / 60 % 60) as u32,
        (secs % 60) as u32,
        wday,
    )
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// HTTP `Date` layout: `Thu, 26 Nov 2026 11:06:36 GMT`.
pub(crate) fn http_date(t: u64) -> String {
    let (y, m, d, hh, mm, ss, wd) = civil(t);
    format!(
        "{}, {d:02} {} {y} {hh:02}:{mm:02}:{ss:02} GMT",
        DAYS[wd as usize],
        MONTHS[(m - 1) as usize]
    )
}

/// `ctime()` layout, UTC: `Thu Nov 26 11:06:18 2026`.
pub(crate) fn ctime(t: u64) -> String {
    let (y, m, d, hh, mm, ss, wd) = civil(t);
    format!(
        "{} {} {d:2} {hh:02}:{mm:02}:{ss:02} {y}",
        DAYS[wd as usize],
        MONTHS[(m - 1) as usize]
    )
}

/// `2026-11-26 11:06:16`, UTC.
pub(super) fn datetime(t: u64) -> String {
    let (y, m, d, hh, mm, ss, _) = civil(t);
    format!("{y}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
}
