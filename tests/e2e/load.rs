//! Sustained load at concurrency 64: every request answered, all 2xx. `make test` sends a few
//! thousand; `make load-local` sends 100,000 (LOAD_REQUESTS).

use crate::support::{oha, Server};
use anyhow::{ensure, Result};

const CONCURRENCY: u32 = 64;

pub fn sustained(server: &Server) -> Result<()> {
    let requests: u64 = std::env::var("LOAD_REQUESTS").map_or(Ok(3000), |n| n.parse())?;
    for path in ["/time", "/nanotime"] {
        let report = oha(
            server.addr,
            path,
            &["-n", &requests.to_string()],
            CONCURRENCY,
        )?;
        println!(
            "    {path}: {} responses at c={CONCURRENCY}, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, {} non-2xx",
            report.responses, report.requests_per_sec, report.p50_ms, report.p99_ms, report.errors, report.non_2xx
        );
        ensure!(
            report.errors == 0 && report.non_2xx == 0,
            "{path}: {report:?}"
        );
        ensure!(
            report.responses == requests,
            "{path}: {} responses to {requests} requests",
            report.responses
        );
    }
    Ok(())
}
