//! The smallest spin-sdk HTTP component: every request gets 200 and `hello`, written the same
//! direct way the time service writes its responses.

use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn hello(_request: IncomingRequest, response_out: ResponseOutparam) {
    let response = OutgoingResponse::new(Fields::new());
    let _ = response_out
        .set_with_body(response, b"hello\n".to_vec())
        .await;
}
