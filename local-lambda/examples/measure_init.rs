//! Measures a function's init duration as Lambda reports it: from spawning the runtime
//! process to its first request to the Runtime API (`/runtime/invocation/next`).
//!
//! ```text
//! cargo build --release -p lambda-processor
//! cargo run --release -p local-lambda --example measure_init -- target/release/lambda-processor [RUNS]
//! ```
//!
//! Starts the binary RUNS times (10 by default), one cold start each, and prints every init
//! duration, then the minimum, median and maximum. The function gets the environment Lambda
//! would give it and nothing else; `NAME=VALUE` arguments after RUNS add variables.

use std::process::ExitCode;
use std::time::Duration;

use local_lambda::LocalFunction;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(binary) = args.next() else {
        eprintln!("usage: measure_init BINARY [RUNS] [NAME=VALUE]...");
        return ExitCode::from(2);
    };
    let runs: usize = match args.next().map(|runs| runs.parse()) {
        None => 10,
        Some(Ok(runs)) if runs > 0 => runs,
        Some(_) => {
            eprintln!("RUNS must be a positive number");
            return ExitCode::from(2);
        }
    };
    let mut env = Vec::new();
    for assignment in args {
        let Some((name, value)) = assignment.split_once('=') else {
            eprintln!("{assignment}: expected NAME=VALUE");
            return ExitCode::from(2);
        };
        env.push((name.to_owned(), value.to_owned()));
    }

    let mut durations = Vec::with_capacity(runs);
    for run in 1..=runs {
        let function = match LocalFunction::builder(&binary)
            .envs(env.iter().cloned())
            .start()
            .await
        {
            Ok(function) => function,
            Err(error) => {
                eprintln!("run {run}: {error}");
                return ExitCode::FAILURE;
            }
        };
        let init = function.init_duration().unwrap_or_default();
        function.shutdown().await;
        println!("run {run}: init {}", millis(init));
        durations.push(init);
    }
    durations.sort();
    println!(
        "init over {runs} cold starts: min {}, median {}, max {}",
        millis(durations[0]),
        millis(durations[durations.len() / 2]),
        millis(durations[durations.len() - 1])
    );
    ExitCode::SUCCESS
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
