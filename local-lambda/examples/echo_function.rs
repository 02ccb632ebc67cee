//! A tiny Lambda function for this crate's tests, built on `lambda_runtime` like the real
//! processor.
//!
//! It answers its payload, except for these payloads:
//! - `{"fail": "SomeName"}`: an error whose `Diagnostic::error_type` is `SomeName`;
//! - `{"sleep_ms": n}`: sleeps `n` ms first (then answers the payload);
//! - `{"exit": code}`: ends the process with `code` mid-invocation;
//! - `{"context": true}`: answers what the runtime saw (request id, deadline, ARN, trace id,
//!   its environment and working directory).
//!
//! At start, `ECHO_FUNCTION_EXIT_AT_INIT=code` makes it print to stderr and exit with `code`,
//! and `ECHO_FUNCTION_INIT_ERROR=message` makes it post `/runtime/init/error` (type
//! `EchoInitError`) and exit with 1.

use std::io::{Read as _, Write as _};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    if let Ok(code) = std::env::var("ECHO_FUNCTION_EXIT_AT_INIT") {
        eprintln!("echo_function: told to fail at init (ECHO_FUNCTION_EXIT_AT_INIT={code})");
        std::process::exit(code.parse().unwrap_or(1));
    }
    if let Ok(message) = std::env::var("ECHO_FUNCTION_INIT_ERROR") {
        eprintln!("echo_function: reporting an init error");
        post_init_error(&message);
        std::process::exit(1);
    }
    println!("echo_function: initialized");
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let LambdaEvent { payload, context } = event;
    println!("echo_function: handling {}", context.request_id);
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
        eprintln!("echo_function: exiting with {code} as asked");
        std::process::exit(i32::try_from(code).unwrap_or(1));
    }
    if let Some(name) = payload.get("fail").and_then(Value::as_str) {
        return Err(Diagnostic {
            error_type: name.to_owned(),
            error_message: format!("echo_function failed with {name} as asked"),
        });
    }
    if payload.get("context") == Some(&Value::Bool(true)) {
        let env: serde_json::Map<String, Value> = std::env::vars()
            .map(|(name, value)| (name, Value::String(value)))
            .collect();
        return Ok(json!({
            "request_id": context.request_id,
            "deadline_ms": context.deadline,
            "function_arn": context.invoked_function_arn,
            "trace_id": context.xray_trace_id,
            "env": env,
            "cwd": std::env::current_dir().map(|dir| dir.display().to_string()).ok(),
        }));
    }
    Ok(payload)
}

/// Posts `/runtime/init/error` by hand: `lambda_runtime` 1.x only does it for SnapStart hooks.
fn post_init_error(message: &str) {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API is set");
    let body = json!({ "errorType": "EchoInitError", "errorMessage": message }).to_string();
    let mut stream = std::net::TcpStream::connect(&api).expect("the Runtime API listens");
    write!(
        stream,
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.InitError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("the request is sent");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    eprintln!(
        "echo_function: init error posted: {}",
        response.lines().next().unwrap_or_default()
    );
}
