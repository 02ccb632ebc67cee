//! The local Runtime API driving a real `lambda_runtime` binary: the `echo_function` example.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use local_lambda::{
    EXIT_ERROR_TYPE, InitFailure, InvocationResult, LocalFunction, LocalFunctionBuilder,
    LocalLambdaError, LogStream, TIMEOUT_ERROR_TYPE,
};
use serde_json::{Value, json};

/// The example binary `cargo test` builds next to this test binary (built here if missing).
fn echo_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile_dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("target/<profile>/deps/<test binary>")
                .to_owned();
            let binary = profile_dir
                .join("examples")
                .join(format!("echo_function{}", std::env::consts::EXE_SUFFIX));
            if !binary.exists() {
                // `cargo test --test integration` builds no example: build it with the same cargo.
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let mut build = Command::new(cargo);
                build.args([
                    "build",
                    "-q",
                    "-p",
                    "local-lambda",
                    "--example",
                    "echo_function",
                ]);
                if let Some(target_dir) = profile_dir.parent() {
                    build.env("CARGO_TARGET_DIR", target_dir);
                }
                if profile_dir.ends_with("release") {
                    build.arg("--release");
                }
                let status = build.status().expect("cargo runs");
                assert!(
                    status.success() && binary.exists(),
                    "cannot build {}",
                    binary.display()
                );
            }
            binary
        })
        .clone()
}

fn echo() -> LocalFunctionBuilder {
    LocalFunction::builder(echo_binary()).name("echo")
}

fn error_of(result: &InvocationResult) -> (&str, &str) {
    match result {
        InvocationResult::Error {
            error_type,
            error_message,
        } => (error_type, error_message),
        InvocationResult::Success(value) => panic!("expected an error, got {value}"),
    }
}

#[tokio::test]
async fn a_payload_makes_the_round_trip() {
    let function = echo().start().await.unwrap();
    let payload =
        json!({ "bucket": "data", "key": "incoming/a b.csv", "size": 12, "tags": [1, null, "é"] });
    let invocation = function.invoke(&payload).await.unwrap();
    assert_eq!(invocation.result, InvocationResult::Success(payload));
    assert_eq!(invocation.request_id.len(), 36);
    assert!(
        invocation.init_duration.is_some(),
        "the first invocation reports the init"
    );
    function.shutdown().await;
}

#[tokio::test]
async fn the_runtime_sees_lambdas_headers_and_environment() {
    let function = echo()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "eu-west-3")
        .timeout(Duration::from_secs(5))
        .memory_mb(512)
        .start()
        .await
        .unwrap();
    let before = std::time::SystemTime::now();
    let invocation = function.invoke(&json!({ "context": true })).await.unwrap();
    let InvocationResult::Success(seen) = invocation.result else {
        panic!("{:?}", invocation.result)
    };
    assert_eq!(seen["request_id"], invocation.request_id.as_str());
    assert_eq!(
        seen["function_arn"],
        "arn:aws:lambda:eu-west-3:000000000000:function:echo"
    );
    assert_eq!(function.function_arn(), seen["function_arn"]);
    let deadline = seen["deadline_ms"].as_u64().unwrap();
    let start_ms = u64::try_from(
        before
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!(
        (start_ms + 4_000..=start_ms + 6_000).contains(&deadline),
        "deadline {deadline} vs start {start_ms}"
    );
    assert!(seen["trace_id"].as_str().unwrap().starts_with("Root=1-"));

    let env = &seen["env"];
    let sandbox = function.sandbox().unwrap();
    assert_eq!(
        env["AWS_LAMBDA_RUNTIME_API"],
        sandbox.runtime_api.to_string()
    );
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "echo");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/echo");
    assert!(
        env["AWS_LAMBDA_LOG_STREAM_NAME"]
            .as_str()
            .unwrap()
            .contains("/[$LATEST]")
    );
    assert_eq!(env["AWS_REGION"], "eu-west-3");
    assert_eq!(env["AWS_DEFAULT_REGION"], "eu-west-3");
    assert_eq!(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:9");
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["_X_AMZN_TRACE_ID"], seen["trace_id"]);
    let task_root = echo_binary().parent().unwrap().canonicalize().unwrap();
    assert_eq!(env["LAMBDA_TASK_ROOT"], task_root.display().to_string());
    assert_eq!(seen["cwd"], task_root.display().to_string());
    for absent in [
        "HOME",
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "CARGO",
        "RUST_TEST_THREADS",
    ] {
        assert!(
            env.get(absent).is_none(),
            "{absent} leaked into the function"
        );
    }
    assert_eq!(
        env.get("PATH").map(Value::as_str),
        Some(std::env::var("PATH").ok().as_deref())
    );
    function.shutdown().await;
}

#[tokio::test]
async fn a_function_error_keeps_the_type_it_reported() {
    let function = echo().start().await.unwrap();
    let invocation = function
        .invoke(&json!({ "fail": "InvalidInput" }))
        .await
        .unwrap();
    let (error_type, error_message) = error_of(&invocation.result);
    assert_eq!(error_type, "InvalidInput");
    assert_eq!(
        error_message,
        "echo_function failed with InvalidInput as asked"
    );
    // A function error leaves the environment warm.
    let pid = function.pid();
    let again = function.invoke(&json!({ "ok": 1 })).await.unwrap();
    assert!(again.result.is_success());
    assert_eq!(function.pid(), pid);
    assert_eq!(function.cold_starts(), 1);
}

#[tokio::test]
async fn the_process_stays_warm_between_invocations() {
    let function = echo().start().await.unwrap();
    let pid = function.pid().unwrap();
    let init = function.init_duration().unwrap();
    eprintln!("echo_function init duration: {init:?}");
    let mut inits = Vec::new();
    for n in 0..3 {
        let invocation = function.invoke(&json!({ "n": n })).await.unwrap();
        assert_eq!(
            invocation.result,
            InvocationResult::Success(json!({ "n": n }))
        );
        eprintln!("invocation {n}: {:?}", invocation.duration);
        inits.push(invocation.init_duration);
        assert_eq!(function.pid(), Some(pid), "same process");
    }
    assert_eq!(inits, [Some(init), None, None], "init measured once");
    assert_eq!(function.cold_starts(), 1);
    assert_eq!(function.init_duration(), Some(init));
    assert!(init > Duration::ZERO && init < Duration::from_secs(5));
    let handled = function
        .recent_logs()
        .iter()
        .filter(|line| {
            line.stream == LogStream::Stdout && line.line.starts_with("echo_function: handling ")
        })
        .count();
    assert_eq!(handled, 3, "{:?}", function.recent_logs());
}

#[tokio::test]
async fn concurrent_invocations_take_turns_in_one_environment() {
    let function = Arc::new(echo().start().await.unwrap());
    let pid = function.pid();
    let started = Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|n| {
            let function = Arc::clone(&function);
            tokio::spawn(async move { function.invoke(&json!({ "sleep_ms": 150, "n": n })).await })
        })
        .collect();
    for call in calls {
        assert!(call.await.unwrap().unwrap().result.is_success());
    }
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "serialized"
    );
    assert_eq!(function.pid(), pid);
    assert_eq!(function.cold_starts(), 1);
}

/// How many invocations the echo function has started handling so far.
fn handling(function: &LocalFunction) -> usize {
    function
        .recent_logs()
        .iter()
        .filter(|line| line.line.starts_with("echo_function: handling "))
        .count()
}

#[tokio::test]
async fn past_its_concurrency_limit_an_invocation_is_throttled_not_queued() {
    let limit = std::num::NonZeroUsize::new(2).unwrap();
    let function = Arc::new(echo().concurrency_limit(limit).start().await.unwrap());
    assert_eq!(function.concurrency_limit(), Some(limit));
    assert_eq!(
        function.sandboxes().len(),
        1,
        "the second starts when needed"
    );
    let sleep_ms = 1_200;
    let started = Instant::now();
    let calls: Vec<_> = (0..2)
        .map(|n| {
            let function = Arc::clone(&function);
            tokio::spawn(async move {
                function
                    .invoke(&json!({ "sleep_ms": sleep_ms, "n": n }))
                    .await
            })
        })
        .collect();
    // Both are in their handler (the second in an environment started cold for it).
    while handling(&function) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            function.recent_logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused_at = Instant::now();
    let error = function.invoke(&json!({ "n": 2 })).await.unwrap_err();
    assert!(
        refused_at.elapsed() < Duration::from_millis(200),
        "refused at once, not queued: {:?}",
        refused_at.elapsed()
    );
    let LocalLambdaError::TooManyRequests {
        function: name,
        limit: reported,
        request_id,
    } = &error
    else {
        panic!("expected throttling, got {error}")
    };
    assert_eq!((name.as_str(), *reported), ("echo", 2));
    assert_eq!(request_id.len(), 36);
    assert!(
        error
            .to_string()
            .contains(local_lambda::TOO_MANY_REQUESTS_MESSAGE),
        "{error}"
    );
    assert_eq!(function.throttles(), 1);
    assert_eq!(handling(&function), 2, "the function never saw it");

    for call in calls {
        assert!(call.await.unwrap().unwrap().result.is_success());
    }
    // Side by side, in two processes: not one after the other.
    assert!(
        started.elapsed() < Duration::from_millis(2 * sleep_ms),
        "{:?}",
        started.elapsed()
    );
    let sandboxes = function.sandboxes();
    assert_eq!(sandboxes.len(), 2);
    assert_ne!(sandboxes[0].pid, sandboxes[1].pid);
    assert_ne!(sandboxes[0].runtime_api, sandboxes[1].runtime_api);
    assert_eq!(function.cold_starts(), 2);

    // Once they are done, both environments serve again, warm.
    let again: Vec<_> = (0..2)
        .map(|n| {
            let function = Arc::clone(&function);
            tokio::spawn(async move { function.invoke(&json!({ "sleep_ms": 100, "n": n })).await })
        })
        .collect();
    for call in again {
        let invocation = call.await.unwrap().unwrap();
        assert!(invocation.result.is_success());
        assert_eq!(invocation.init_duration, None, "warm");
    }
    assert_eq!(function.cold_starts(), 2);
    assert_eq!(function.throttles(), 1);
    assert_eq!(function.sandboxes(), sandboxes);

    function.shutdown().await;
    assert!(sandboxes.iter().all(|sandbox| !process_alive(sandbox.pid)));
    assert!(function.sandboxes().is_empty());
    let error = function.invoke(&json!({})).await.unwrap_err();
    assert!(
        matches!(error, LocalLambdaError::ShutDown { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_timeout_kills_the_process_and_the_next_invocation_starts_cold() {
    let function = echo()
        .timeout(Duration::from_millis(700))
        .start()
        .await
        .unwrap();
    let first_pid = function.pid().unwrap();
    let started = Instant::now();
    let invocation = function
        .invoke(&json!({ "sleep_ms": 10_000 }))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let (error_type, error_message) = error_of(&invocation.result);
    assert_eq!(error_type, TIMEOUT_ERROR_TYPE);
    assert_eq!(
        error_message,
        format!(
            "RequestId: {} Error: Task timed out after 0.70 seconds",
            invocation.request_id
        )
    );
    assert!(
        elapsed >= Duration::from_millis(700) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(function.pid(), None, "the environment is gone");
    assert!(!process_alive(first_pid), "the process was killed");

    let next = function
        .invoke(&json!({ "after": "timeout" }))
        .await
        .unwrap();
    assert_eq!(
        next.result,
        InvocationResult::Success(json!({ "after": "timeout" }))
    );
    assert!(next.init_duration.is_some(), "a cold start");
    assert_ne!(function.pid(), Some(first_pid));
    assert_eq!(function.cold_starts(), 2);
    function.shutdown().await;
}

#[tokio::test]
async fn an_exit_mid_invocation_is_an_exit_error_then_the_function_recovers() {
    let function = echo().start().await.unwrap();
    let first_pid = function.pid().unwrap();
    let invocation = function.invoke(&json!({ "exit": 7 })).await.unwrap();
    let (error_type, error_message) = error_of(&invocation.result);
    assert_eq!(error_type, EXIT_ERROR_TYPE);
    assert_eq!(
        error_message,
        format!(
            "RequestId: {} Error: Runtime exited with error: exit status 7",
            invocation.request_id
        )
    );
    assert_eq!(function.pid(), None);
    assert!(
        function
            .recent_logs()
            .iter()
            .any(|line| line.stream == LogStream::Stderr
                && line.line == "echo_function: exiting with 7 as asked"),
        "{:?}",
        function.recent_logs()
    );

    let next = function.invoke(&json!({ "after": "exit" })).await.unwrap();
    assert_eq!(
        next.result,
        InvocationResult::Success(json!({ "after": "exit" }))
    );
    assert!(next.init_duration.is_some());
    assert_ne!(function.pid(), Some(first_pid));
    assert_eq!(function.cold_starts(), 2);
}

#[tokio::test]
async fn a_cancelled_invocation_kills_the_process_and_the_next_starts_cold() {
    let function = echo().start().await.unwrap();
    let first_pid = function.pid().unwrap();
    let call = function.invoke(&json!({ "sleep_ms": 10_000 }));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), call)
            .await
            .is_err()
    );
    assert_eq!(function.pid(), None);
    let deadline = Instant::now() + Duration::from_secs(3);
    while process_alive(first_pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!process_alive(first_pid));

    let next = function
        .invoke(&json!({ "after": "cancel" }))
        .await
        .unwrap();
    assert_eq!(
        next.result,
        InvocationResult::Success(json!({ "after": "cancel" }))
    );
    assert!(next.init_duration.is_some());
    assert_eq!(function.cold_starts(), 2);
}

#[tokio::test]
async fn a_binary_that_exits_at_init_fails_start_with_its_output() {
    let error = echo()
        .env("ECHO_FUNCTION_EXIT_AT_INIT", "3")
        .start()
        .await
        .unwrap_err();
    let LocalLambdaError::Init {
        function,
        cause,
        log_tail,
    } = &error
    else {
        panic!("{error}")
    };
    assert_eq!(function, "echo");
    assert_eq!(
        cause,
        &InitFailure::Exited {
            status: "exit status 3".into()
        }
    );
    assert!(
        log_tail
            .iter()
            .any(|line| line.stream == LogStream::Stderr
                && line.line.contains("told to fail at init")),
        "{log_tail:?}"
    );
    let message = error.to_string();
    assert!(
        message
            .starts_with("function echo failed to initialize: the process ended (exit status 3)"),
        "{message}"
    );
    assert!(
        message.contains("[stderr] echo_function: told to fail at init"),
        "{message}"
    );
}

#[tokio::test]
async fn an_init_error_posted_by_the_runtime_fails_start_with_its_type() {
    let error = echo()
        .env("ECHO_FUNCTION_INIT_ERROR", "no configuration")
        .start()
        .await
        .unwrap_err();
    match error {
        LocalLambdaError::Init {
            cause:
                InitFailure::Reported {
                    error_type,
                    error_message,
                },
            ..
        } => {
            assert_eq!(error_type, "EchoInitError");
            assert_eq!(error_message, "no configuration");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_missing_binary_is_a_spawn_error() {
    let error = LocalFunction::builder("/nonexistent/bootstrap")
        .start()
        .await
        .unwrap_err();
    assert!(matches!(error, LocalLambdaError::Spawn { .. }), "{error}");
}

#[tokio::test]
async fn after_shutdown_the_process_is_gone_and_invocations_fail() {
    let function = echo().start().await.unwrap();
    let pid = function.pid().unwrap();
    function.shutdown().await;
    assert!(!process_alive(pid));
    assert_eq!(function.pid(), None);
    let error = function.invoke(&json!({})).await.unwrap_err();
    assert!(
        matches!(error, LocalLambdaError::ShutDown { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn dropping_the_function_kills_the_process() {
    let function = echo().start().await.unwrap();
    let pid = function.pid().unwrap();
    drop(function);
    let deadline = Instant::now() + Duration::from_secs(3);
    while process_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!process_alive(pid));
}

#[tokio::test]
async fn an_oversized_payload_is_refused_before_the_function_sees_it() {
    let function = echo().start().await.unwrap();
    let payload = "x".repeat(local_lambda::MAX_PAYLOAD_BYTES);
    let error = function.invoke(&payload).await.unwrap_err();
    assert!(
        matches!(error, LocalLambdaError::PayloadTooLarge { .. }),
        "{error}"
    );
    assert_eq!(function.cold_starts(), 1);
}

/// Whether a process runs (a zombie — dead but not reaped — counts as gone).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
