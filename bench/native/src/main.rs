//! native-baseline ADDR: serves `time_service::routes::respond` with hyper, logging a line per
//! request to stdout as the component does.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use time_service::clock::UnixTime;
use time_service::routes::{log_line, respond};
use tokio::net::TcpListener;

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let now = UnixTime::now();
    let method = request.method().as_str();
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let reply = respond(method, target, now);
    let _ = writeln!(
        std::io::stdout(),
        "{}",
        log_line(now, method, target, reply.status)
    );
    let mut response = Response::builder().status(reply.status);
    for &(name, value) in reply.headers {
        response = response.header(name, value);
    }
    Ok(response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("valid static headers"))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = TcpListener::bind(&addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}
