//! The endpoint: [`LocalS3`] configures and starts it, [`RunningS3`] is the running server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::events::{Notifier, ObjectCreated};
use crate::faults::{Faults, Operation};
use crate::json::{Endpoint, JsonService, JsonServices, PageService, Pages, is_page_path};
use crate::store::LocalStore;

/// Default access key id.
pub const DEFAULT_ACCESS_KEY: &str = "local";
/// Default secret access key.
pub const DEFAULT_SECRET_KEY: &str = "localsecret";
/// Default region.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How long [`RunningS3::shutdown`] lets requests in flight finish before cutting them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The settings of a local S3 endpoint; [`start`](Self::start) runs it.
///
/// ```no_run
/// # async fn example() -> Result<(), local_s3::Error> {
/// let s3 = local_s3::LocalS3::builder().bucket("data").start().await?;
/// let client = s3.client();
/// client.put_object().bucket("data").key("incoming/a.csv").body(b"a,b\n".to_vec().into()).send().await.unwrap();
/// s3.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct LocalS3 {
    root: Option<PathBuf>,
    port: u16,
    access_key: String,
    secret_key: String,
    region: String,
    buckets: Vec<(String, bool)>,
    json_services: JsonServices,
    pages: Pages,
}

impl LocalS3 {
    /// The default settings: a fresh temporary data folder (removed at shutdown), an ephemeral
    /// port, credentials [`DEFAULT_ACCESS_KEY`] / [`DEFAULT_SECRET_KEY`], region
    /// [`DEFAULT_REGION`], no bucket.
    pub fn builder() -> Self {
        Self {
            root: None,
            port: 0,
            access_key: DEFAULT_ACCESS_KEY.to_owned(),
            secret_key: DEFAULT_SECRET_KEY.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            buckets: Vec::new(),
            json_services: JsonServices::default(),
            pages: Pages::default(),
        }
    }

    /// Keeps the data in this folder (created if missing, kept at shutdown): the object
    /// store's format file, metadata database and blobs (see the crate docs). A folder of
    /// another format, or one an older local-s3 (s3s-fs) filled, is refused at start.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self
    }

    /// Listens on this port of 127.0.0.1 (0, the default: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The only credentials the endpoint accepts (every request must be signed with them).
    pub fn credentials(
        mut self,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        self.access_key = access_key.into();
        self.secret_key = secret_key.into();
        self
    }

    /// The region clients should sign for, and that `GetBucketLocation` reports.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Creates this bucket at start, unless it exists (may be called several times). It is
    /// not versioned, as a new S3 bucket: one version per key, no version ids.
    pub fn bucket(mut self, name: impl Into<String>) -> Self {
        self.buckets.push((name.into(), false));
        self
    }

    /// Creates this bucket at start with versioning enabled (or enables it on the existing
    /// bucket), as the deployed bucket is: every write gets a version id, reads and deletes
    /// take `versionId`, deletes add delete markers, and notifications carry the version id.
    pub fn versioned_bucket(mut self, name: impl Into<String>) -> Self {
        self.buckets.push((name.into(), true));
        self
    }

    /// Also answers this AWS JSON-protocol service on the endpoint: requests whose
    /// `X-Amz-Target` header starts with its [`target_prefix`](JsonService::target_prefix) and
    /// a dot go to it, every other request to S3 (may be called several times; the first
    /// service whose prefix matches answers). Its requests are **not** authenticated: their
    /// signature is not checked.
    pub fn json_service(mut self, service: Arc<dyn JsonService>) -> Self {
        self.json_services.push(service);
        self
    }

    /// Also serves these web pages on the endpoint, under their [`path`](PageService::path)
    /// (`GET` and `HEAD` only, **not** authenticated); replaces pages given before.
    ///
    /// # Panics
    ///
    /// If the path is not `/` and one segment of one or two characters (a name no bucket can
    /// have, so that no S3 request goes to the pages).
    pub fn pages(mut self, pages: Arc<dyn PageService>) -> Self {
        assert!(
            is_page_path(pages.path()),
            "the pages' path must be / and one or two characters, not {:?}",
            pages.path()
        );
        self.pages = Pages(Some(pages));
        self
    }

    /// Starts serving on the current tokio runtime; the server runs until
    /// [`RunningS3::shutdown`] or until the [`RunningS3`] is dropped.
    pub async fn start(self) -> Result<RunningS3, Error> {
        let (root, temporary) = match self.root {
            Some(root) => (root, false),
            None => (fresh_temp_dir(), true),
        };
        let store = match LocalStore::new(&root, self.region.clone()) {
            Ok(store) => store,
            Err(error) => {
                if temporary {
                    remove_temp_dir(Some(&root));
                }
                return Err(error);
            }
        };
        let root = store.root().to_owned();
        let owned_root = temporary.then(|| root.clone());
        for (bucket, versioned) in &self.buckets {
            if let Err(error) = store.ensure_bucket(bucket, *versioned).await {
                remove_temp_dir(owned_root.as_deref());
                return Err(error);
            }
        }
        let listener = match TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await {
            Ok(listener) => listener,
            Err(source) => {
                remove_temp_dir(owned_root.as_deref());
                return Err(Error::Bind {
                    port: self.port,
                    source,
                });
            }
        };
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            port: self.port,
            source,
        })?;
        let faults = store.faults();
        let notifier = store.notifier();
        let service = {
            let mut builder = S3ServiceBuilder::new(store);
            builder.set_auth(SimpleAuth::from_single(
                self.access_key.clone(),
                self.secret_key.clone(),
            ));
            builder.build()
        };
        let endpoint = Endpoint::new(service, self.json_services, self.pages);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, endpoint, stopped));
        tracing::info!(endpoint = %format!("http://{addr}"), root = %root.display(), "local S3 started");
        Ok(RunningS3 {
            addr,
            root,
            owned_root,
            access_key: self.access_key,
            secret_key: self.secret_key,
            region: self.region,
            faults,
            notifier,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running local S3 endpoint. Dropping it stops the server too (without waiting).
#[derive(Debug)]
pub struct RunningS3 {
    addr: SocketAddr,
    root: PathBuf,
    /// The temporary data folder to remove at the end, if we created it.
    owned_root: Option<PathBuf>,
    access_key: String,
    secret_key: String,
    region: String,
    faults: Faults,
    notifier: Arc<Notifier>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningS3 {
    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data folder (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The region clients sign for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The access key id and secret access key the server accepts.
    pub fn credentials(&self) -> (&str, &str) {
        (&self.access_key, &self.secret_key)
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// How many requests for `operation` reached the store ([`Faults::requests_seen`]).
    pub fn requests_seen(&self, operation: Operation) -> u64 {
        self.faults.requests_seen(operation)
    }

    /// A receiver of the [`ObjectCreated`] notifications published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ObjectCreated> {
        self.notifier.subscribe()
    }

    /// An SDK client for this endpoint: [`client_config`](Self::client_config) as is.
    pub fn client(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(self.client_config().build())
    }

    /// Uploads `body` under `key` in `bucket` (one PutObject) and returns the job document
    /// its `Object Created` event carries: the key form-URL-encoded as events spell it, the
    /// size, the ETag, the version id (in a versioned bucket), and sequencer
    /// `0000000000000001` (tests that order events set their own). What processor tests start
    /// from.
    pub async fn upload_job(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
    ) -> Result<shared::Job, aws_sdk_s3::Error> {
        let output = self
            .client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.to_vec().into())
            .send()
            .await?;
        Ok(shared::Job {
            bucket: bucket.to_owned(),
            object: shared::JobObject {
                key: shared::encode_event_key(key),
                size: body.len() as u64,
                etag: output.e_tag().map(|etag| etag.trim_matches('"').to_owned()),
                version_id: output.version_id().map(str::to_owned),
                sequencer: Some("0000000000000001".to_owned()),
            },
        })
    }

    /// SDK settings for this endpoint, to adjust before building a client: endpoint URL,
    /// path-style addressing, the static credentials, the region, and
    /// [`test_retry_config`] (3 attempts, short backoff).
    pub fn client_config(&self) -> aws_sdk_s3::config::Builder {
        let credentials =
            Credentials::new(&self.access_key, &self.secret_key, None, None, "local-s3");
        aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .region(Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .retry_config(test_retry_config())
    }

    /// The environment a program (or `aws --endpoint-url`) needs to reach this endpoint:
    /// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_DEFAULT_REGION`. Path-style addressing has no standard variable: the
    /// program must enable it (`force_path_style(true)` in the Rust SDK; the AWS CLI uses it
    /// for custom endpoints).
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ENDPOINT_URL_S3", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
        ]
    }

    /// Stops accepting connections, lets requests in flight finish (at most
    /// [`SHUTDOWN_GRACE`]), and removes the data folder if it was a temporary one.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "the local S3 server task failed");
        }
        remove_temp_dir(self.owned_root.take().as_deref());
    }
}

impl Drop for RunningS3 {
    fn drop(&mut self) {
        // Dropping the sender stops the accept loop; connections finish in the background.
        drop(self.stop.take());
        remove_temp_dir(self.owned_root.take().as_deref());
    }
}

/// Retry settings suited to tests against a local endpoint: standard mode, 3 attempts in all,
/// backoff from 10 ms up to 100 ms (with jitter), instead of the SDK's 1 s then 20 s.
pub fn test_retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(100))
}

/// The accept loop: one HTTP/1.1 connection per task, until `stopped` fires or its sender is
/// dropped, then a graceful shutdown.
async fn serve(listener: TcpListener, service: Endpoint, mut stopped: oneshot::Receiver<()>) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let connection = http.serve_connection(TokioIo::new(stream), service.clone());
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}: cut");
    }
    tracing::info!("local S3 stopped");
}

/// A new, empty folder under the system's temporary folder.
fn fresh_temp_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    std::env::temp_dir().join(format!(
        "local-s3-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

fn remove_temp_dir(root: Option<&Path>) {
    if let Some(root) = root
        && let Err(error) = std::fs::remove_dir_all(root)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(root = %root.display(), %error, "cannot remove the temporary data folder");
    }
}
