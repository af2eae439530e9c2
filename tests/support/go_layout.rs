//! A parser for Go's `2006-01-02 15:04:05.999999999 -0700 MST` in UTC, written apart from the
//! formatter (days from the date by the inverse algorithm) so that each checks the other.

use time_service::clock::UnixTime;

/// `None` for anything that is not exactly the layout: a fraction only when non-zero, no
/// trailing zeros, at most nine digits.
pub fn parse_go_string(text: &str) -> Option<UnixTime> {
    let rest = text.strip_suffix(" +0000 UTC")?;
    let (date, clock) = rest.split_once(' ')?;
    let [year, month, day] = fields(date, '-')?;
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let [hour, minute, second] = fields(hms, ':')?;
    if fraction.len() > 9 || fraction.ends_with('0') || (clock.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    UnixTime::new(
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second,
        nanos,
    )
}

fn fields(text: &str, separator: char) -> Option<[i64; 3]> {
    let mut parts = text
        .splitn(3, separator)
        .map(|part| part.parse::<i64>().ok());
    Some([parts.next()??, parts.next()??, parts.next()??])
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
