//! Instants since the Unix epoch and the two ways the service writes them.
//!
//! Supported range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, the four-digit
//! years that Go's layout and RFC 3339 share. [`UnixTime::unix_nanos`] is exact over all of it;
//! Go's `UnixNano` agrees only from 1677-09-21 to 2262-04-11, where it fits an `int64`.

use std::time::{SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: u32 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// An instant in UTC: whole seconds since 1970-01-01T00:00:00Z (negative before it) plus
/// nanoseconds into that second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime {
    secs: i64,
    nanos: u32,
}

/// Calendar fields of a [`UnixTime`] in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

impl UnixTime {
    /// The first supported instant, 0001-01-01T00:00:00Z.
    pub const MIN: UnixTime = UnixTime {
        secs: -62_135_596_800,
        nanos: 0,
    };
    /// The last supported instant, 9999-12-31T23:59:59.999999999Z.
    pub const MAX: UnixTime = UnixTime {
        secs: 253_402_300_799,
        nanos: NANOS_PER_SEC - 1,
    };

    /// `None` unless `nanos` is below one second and the instant is in the supported range.
    pub fn new(secs: i64, nanos: u32) -> Option<UnixTime> {
        let time = UnixTime { secs, nanos };
        (nanos < NANOS_PER_SEC && (Self::MIN..=Self::MAX).contains(&time)).then_some(time)
    }

    pub fn now() -> UnixTime {
        Self::from_system_time(SystemTime::now())
    }

    /// An instant after the epoch as wall clocks report it: seconds and nanoseconds, as WASI's
    /// `wall-clock.now` and `Duration`s since `UNIX_EPOCH` give them.
    pub fn after_epoch(secs: u64, nanos: u32) -> UnixTime {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        UnixTime {
            secs: secs.saturating_add(i64::from(nanos / NANOS_PER_SEC)),
            nanos: nanos % NANOS_PER_SEC,
        }
    }

    /// Clocks before 1970 are possible (a host with an unset clock), so they are handled, not unwrapped.
    pub fn from_system_time(time: SystemTime) -> UnixTime {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => UnixTime::after_epoch(after.as_secs(), after.subsec_nanos()),
            Err(before) => {
                let before = before.duration();
                let (secs, nanos) = (-(before.as_secs() as i64), before.subsec_nanos());
                if nanos == 0 {
                    UnixTime { secs, nanos }
                } else {
                    UnixTime {
                        secs: secs - 1,
                        nanos: NANOS_PER_SEC - nanos,
                    }
                }
            }
        }
    }

    pub fn secs(self) -> i64 {
        self.secs
    }

    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Nanoseconds since the epoch, exact (Go's `UnixNano` wraps outside 1677–2262; this does not).
    pub fn unix_nanos(self) -> i128 {
        i128::from(self.secs) * i128::from(NANOS_PER_SEC) + i128::from(self.nanos)
    }

    pub fn civil(self) -> Civil {
        let days = self.secs.div_euclid(SECS_PER_DAY);
        let second_of_day = self.secs.rem_euclid(SECS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
            nanos: self.nanos,
        }
    }

    /// Go's `t.UTC().String()`, layout `2006-01-02 15:04:05.999999999 -0700 MST`: the fraction
    /// drops trailing zeros and vanishes when zero. No ` m=+…` monotonic suffix: a component
    /// instance lives for one request and has no process clock to report.
    pub fn go_string(self) -> String {
        let c = self.civil();
        let mut out = String::with_capacity(40);
        push_date_and_clock(&mut out, &c, ' ');
        if c.nanos != 0 {
            let mut fraction = String::with_capacity(10);
            fraction.push('.');
            push_padded(&mut fraction, c.nanos.into(), 9);
            out.push_str(fraction.trim_end_matches('0'));
        }
        out.push_str(" +0000 UTC");
        out
    }

    /// RFC 3339 with all nine fraction digits, the form log collectors parse.
    pub fn rfc3339(self) -> String {
        let c = self.civil();
        let mut out = String::with_capacity(30);
        push_date_and_clock(&mut out, &c, 'T');
        out.push('.');
        push_padded(&mut out, c.nanos.into(), 9);
        out.push('Z');
        out
    }
}

// The renderings are built by hand rather than with `format!`: core::fmt would be the largest
// thing in the component (see the README's size figures).

/// `YYYY-MM-DD<separator>hh:mm:ss`.
fn push_date_and_clock(out: &mut String, c: &Civil, separator: char) {
    push_padded(out, c.year.unsigned_abs(), 4); // the supported range has no negative years
    for (before, value) in [
        ('-', c.month),
        ('-', c.day),
        (separator, c.hour),
        (':', c.minute),
        (':', c.second),
    ] {
        out.push(before);
        push_padded(out, value.into(), 2);
    }
}

/// `value` in decimal, zero-padded on the left to `width` digits.
fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value);
    out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    out.push_str(digits);
}

/// Proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days since 0000-03-01, so leap days fall at the end of a year
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64, nanos: u32) -> UnixTime {
        UnixTime::new(secs, nanos).unwrap()
    }

    #[test]
    fn epoch_has_no_fraction() {
        assert_eq!(at(0, 0).go_string(), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(at(0, 0).rfc3339(), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn fraction_loses_trailing_zeros_only() {
        assert_eq!(
            at(0, 500_000_000).go_string(),
            "1970-01-01 00:00:00.5 +0000 UTC"
        );
        assert_eq!(
            at(0, 1).go_string(),
            "1970-01-01 00:00:00.000000001 +0000 UTC"
        );
        assert_eq!(
            at(0, 120_000).go_string(),
            "1970-01-01 00:00:00.00012 +0000 UTC"
        );
    }

    #[test]
    fn the_books_example() {
        let t = at(1_795_371_003, 299_894_067);
        assert_eq!(t.go_string(), "2026-11-22 18:10:03.299894067 +0000 UTC");
        assert_eq!(t.unix_nanos(), 1_795_371_003_299_894_067);
    }

    #[test]
    fn leap_day_and_range_ends() {
        assert_eq!(
            at(951_782_400, 0).go_string(),
            "2000-02-29 00:00:00 +0000 UTC"
        );
        assert_eq!(UnixTime::MIN.go_string(), "0001-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            UnixTime::MAX.go_string(),
            "9999-12-31 23:59:59.999999999 +0000 UTC"
        );
    }

    #[test]
    fn new_rejects_what_is_out_of_range() {
        assert_eq!(UnixTime::new(0, NANOS_PER_SEC), None);
        assert_eq!(
            UnixTime::new(UnixTime::MIN.secs - 1, NANOS_PER_SEC - 1),
            None
        );
        assert_eq!(UnixTime::new(UnixTime::MAX.secs + 1, 0), None);
    }

    #[test]
    fn system_time_before_the_epoch_borrows_a_second() {
        let before = UNIX_EPOCH - Duration::new(1, 250_000_000);
        assert_eq!(UnixTime::from_system_time(before), at(-2, 750_000_000));
        assert_eq!(
            UnixTime::from_system_time(UNIX_EPOCH - Duration::from_secs(3)),
            at(-3, 0)
        );
        assert_eq!(at(-2, 750_000_000).unix_nanos(), -1_250_000_000);
        assert_eq!(
            at(-2, 750_000_000).go_string(),
            "1969-12-31 23:59:58.75 +0000 UTC"
        );
    }

    #[test]
    fn after_epoch_carries_whole_seconds_out_of_the_nanoseconds() {
        assert_eq!(UnixTime::after_epoch(1, 2_500_000_000), at(3, 500_000_000));
        assert_eq!(UnixTime::after_epoch(7, 999_999_999), at(7, 999_999_999));
    }

    #[test]
    fn system_time_after_the_epoch() {
        let after = UNIX_EPOCH + Duration::new(1_795_371_003, 299_894_067);
        assert_eq!(
            UnixTime::from_system_time(after),
            at(1_795_371_003, 299_894_067)
        );
    }
}
