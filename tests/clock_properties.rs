//! Properties of the formatter for any instant in the supported range: the Go rendering parses
//! back to the same instant and follows the rules the Go vectors show.

use proptest::prelude::*;
use time_service::clock::UnixTime;

#[path = "support/go_layout.rs"]
mod go_layout;
use go_layout::parse_go_string;

fn any_supported_instant() -> impl Strategy<Value = UnixTime> {
    (
        UnixTime::MIN.secs()..=UnixTime::MAX.secs(),
        0..1_000_000_000u32,
    )
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
