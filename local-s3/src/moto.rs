//! moto's server on a free loopback port: the tests' second, independent AWS implementation
//! (S3, and CloudFormation for `infra deploy`).

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server, stopped on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    endpoint: String,
}

impl MotoServer {
    /// The Python that has moto: `PIPELINE_PYTHON`, else the venv `scripts/setup-tools`
    /// creates at the workspace root.
    pub fn python() -> PathBuf {
        std::env::var_os("PIPELINE_PYTHON").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python"),
            PathBuf::from,
        )
    }

    /// Starts `python -m moto.server`.
    pub fn start() -> MotoServer {
        MotoServer::spawn(vec!["-m".into(), "moto.server".into()])
    }

    /// Starts a script that runs moto's server itself (to patch moto first), passing it
    /// moto's `-H HOST -p PORT` arguments.
    pub fn start_script(script: &Path) -> MotoServer {
        MotoServer::spawn(vec![script.as_os_str().to_owned()])
    }

    fn spawn(mut args: Vec<OsString>) -> MotoServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        args.extend([
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string().into(),
        ]);
        let python = MotoServer::python();
        let child = Command::new(&python)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto with {}: {e}; run `make tools` (or set PIPELINE_PYTHON)",
                    python.display()
                )
            });
        let mut moto = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto exited at start ({status}): is moto[server] installed? run `make tools`"
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
