//! The AWS clients `deploy`, `preflight`, `destroy` and `outputs` use, and how their failures
//! read.

use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::deploy::DeployError;
use crate::request::check_region;

/// The AWS clients, configured from the environment (credentials, region,
/// `AWS_ENDPOINT_URL`; `PIPELINE_S3_PATH_STYLE=true` for an S3 endpoint on loopback).
#[derive(Debug, Clone)]
pub struct Clients {
    pub(crate) cloudformation: aws_sdk_cloudformation::Client,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) lambda: aws_sdk_lambda::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) ecr: aws_sdk_ecr::Client,
    pub(crate) region: String,
}

impl Clients {
    /// Clients for `region`, or the environment's region.
    pub async fn new(region: Option<&str>) -> Result<Clients, DeployError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_owned()));
        }
        let config = loader.load().await;
        let Some(region) = config.region().map(ToString::to_string) else {
            return Err(DeployError::NoRegion);
        };
        check_region(&region)?;
        let path_style = std::env::var(shared::env::S3_PATH_STYLE)
            .is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(path_style)
                .build(),
        );
        Ok(Clients {
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            s3,
            sts: aws_sdk_sts::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            region,
        })
    }

    /// The region the clients talk to.
    pub fn region(&self) -> &str {
        &self.region
    }
}

/// An SDK failure as one line: the service's error code and message when it sent them, the
/// whole error chain otherwise (timeouts, connection failures).
pub(crate) fn describe<E>(error: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// An SDK failure while doing `what`.
pub(crate) fn aws_error<E>(what: impl Into<String>, error: &E) -> DeployError
where
    E: ProvideErrorMetadata + std::error::Error,
{
    DeployError::Aws {
        what: what.into(),
        detail: describe(error),
    }
}
