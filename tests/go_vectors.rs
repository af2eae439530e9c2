//! The formatter against instants rendered by Go's own `time` package
//! (`testdata/go-vectors`, output committed in `testdata/go_time_vectors.tsv`).

use time_service::clock::UnixTime;

struct Vector<'a> {
    secs: i64,
    nanos: u32,
    go_string: &'a str,
    unix_nano: Option<&'a str>,
}

fn vectors() -> Vec<Vector<'static>> {
    include_str!("../testdata/go_time_vectors.tsv")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "malformed vector line {line:?}");
            Vector {
                secs: fields[0].parse().unwrap(),
                nanos: fields[1].parse().unwrap(),
                go_string: fields[2],
                unix_nano: (fields[3] != "overflow").then_some(fields[3]),
            }
        })
        .collect()
}

#[test]
fn there_are_enough_vectors_over_the_whole_range() {
    let vectors = vectors();
    assert!(vectors.len() >= 1000, "only {} vectors", vectors.len());
    assert!(vectors
        .iter()
        .any(|v| v.go_string.starts_with("0001-01-01 ")));
    assert!(vectors
        .iter()
        .any(|v| v.go_string.starts_with("9999-12-31 ")));
    assert!(
        vectors.iter().any(|v| v.unix_nano.is_none()),
        "no vector past Go's UnixNano range"
    );
}

#[test]
fn go_string_matches_go() {
    for v in vectors() {
        let time = UnixTime::new(v.secs, v.nanos).expect("vectors stay in the supported range");
        assert_eq!(
            time.go_string(),
            v.go_string,
            "secs={} nanos={}",
            v.secs,
            v.nanos
        );
    }
}

#[test]
fn unix_nanos_matches_go_where_go_has_one() {
    for v in vectors() {
        let time = UnixTime::new(v.secs, v.nanos).unwrap();
        let exact = time.unix_nanos();
        match v.unix_nano {
            Some(go) => assert_eq!(exact.to_string(), go, "secs={} nanos={}", v.secs, v.nanos),
            // Where Go overflows, ours is still exact rather than wrapped.
            None => assert!(
                i64::try_from(exact).is_err(),
                "secs={} nanos={}",
                v.secs,
                v.nanos
            ),
        }
    }
}
