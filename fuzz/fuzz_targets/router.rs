//! Any method and request target: the router answers 200, 404 or 405 with a JSON body
//! (empty for HEAD), never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use time_service::clock::UnixTime;
use time_service::routes::respond;

fuzz_target!(|input: (&str, &str, i64, u32)| {
    let (method, target, secs, nanos) = input;
    let Some(now) = UnixTime::new(secs, nanos) else { return };
    let reply = respond(method, target, now);
    assert!(matches!(reply.status, 200 | 404 | 405), "status {}", reply.status);
    assert!(reply.headers.contains(&("content-type", "application/json")));
    if method == "HEAD" {
        assert!(reply.body.is_empty());
    } else {
        let body: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON body");
        assert!(body.is_object() && reply.body.ends_with('\n'));
    }
});
