//! Properties of the formatter for any instant in the supported range: the Go rendering parses
//! back to the same instant and follows the rules the Go vectors show.

use proptest::prelude::*;
use time_service::clock::UnixTime;

/// Parses Go's `2006-01-02 15:04:05.999999999 +0000 UTC` independently of the formatter:
/// days from the calendar date by the inverse algorithm, then seconds and the fraction.
fn parse_go_string(text: &str) -> Option<UnixTime> {
    let rest = text.strip_suffix(" +0000 UTC")?;
    let (date, clock) = rest.split_once(' ')?;
    let mut date_fields = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date_fields.next()?.ok()?, date_fields.next()?.ok()?, date_fields.next()?.ok()?);
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    if fraction.len() > 9 || fraction.ends_with('0') || (clock.contains('.') && fraction.is_empty()) {
        return None;
    }
    let nanos: u32 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    let mut hms_fields = hms.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute, second) = (hms_fields.next()?.ok()?, hms_fields.next()?.ok()?, hms_fields.next()?.ok()?);
    UnixTime::new(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second, nanos)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn any_supported_instant() -> impl Strategy<Value = UnixTime> {
    (UnixTime::MIN.secs()..=UnixTime::MAX.secs(), 0..1_000_000_000u32)
        .prop_map(|(secs, nanos)| UnixTime::new(secs, nanos).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn go_string_round_trips(time in any_supported_instant()) {
        prop_assert_eq!(parse_go_string(&time.go_string()), Some(time));
    }

    #[test]
    fn go_string_follows_gos_rules(time in any_supported_instant()) {
        let text = time.go_string();
        let fraction = text[19..text.len() - 10].to_string();
        // Fixed-width date and clock, the fraction only when non-zero and without trailing zeros.
        prop_assert!(text.len() >= 29 && text.len() <= 39, "{}", text);
        prop_assert_eq!(fraction.is_empty(), time.subsec_nanos() == 0);
        prop_assert!(!fraction.ends_with('0'), "{}", text);
        let civil = time.civil();
        prop_assert!((1..=12).contains(&civil.month) && (1..=31).contains(&civil.day));
        prop_assert!(civil.hour < 24 && civil.minute < 60 && civil.second < 60);
    }

    #[test]
    fn rfc3339_names_the_same_instant(time in any_supported_instant()) {
        let (go, rfc) = (time.go_string(), time.rfc3339());
        prop_assert_eq!(&go[..10], &rfc[..10]);
        prop_assert_eq!(&go[11..19], &rfc[11..19]);
        prop_assert_eq!(rfc[20..29].parse::<u32>().unwrap(), time.subsec_nanos());
    }

    #[test]
    fn order_is_preserved(a in any_supported_instant(), b in any_supported_instant()) {
        prop_assert_eq!(a.cmp(&b), a.rfc3339().cmp(&b.rfc3339()));
    }
}
