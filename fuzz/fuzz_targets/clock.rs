//! Any supported instant: the Go rendering parses back to the same instant and the RFC 3339
//! one agrees with it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use time_service::clock::UnixTime;

#[path = "../../tests/support/go_layout.rs"]
mod go_layout;

fuzz_target!(|input: (i64, u32)| {
    let Some(time) = UnixTime::new(input.0, input.1) else { return };
    assert_eq!(go_layout::parse_go_string(&time.go_string()), Some(time));
    assert_eq!(time.rfc3339()[..10], time.go_string()[..10]);
});
