//! [`CloudWatchConfig`]: where CloudWatch is, how long to wait, how much to read.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use shipcore::model::FieldError;
use std::time::Duration;

/// A setting is wrong.
/// It wraps a [`FieldError`]; `e.field` and `e.problem` read its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CloudWatch configuration: {0}")]
pub struct ConfigError(pub FieldError);

shipcore::field_error_wrapper!(ConfigError);

/// Static credentials (for a local endpoint such as moto, or tests); the secret never
/// appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &shipcore::redact::REDACTED)
            .finish()
    }
}

/// How [`CloudWatchSource::connect`](crate::CloudWatchSource::connect) reaches CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWatchConfig {
    /// Region (`eu-west-1`); empty: the standard AWS chain (`AWS_REGION`, profile).
    pub region: String,
    /// Another endpoint (`http://127.0.0.1:5000` for moto); none: AWS's.
    pub endpoint: Option<String>,
    /// Credentials; none: the standard AWS chain (environment, profile, role).
    pub credentials: Option<StaticCredentials>,
    /// Whole-call timeout (default 10 s).
    pub timeout: Duration,
    /// Connect timeout (default 3 s).
    pub connect_timeout: Duration,
    /// Window of instant queries (default 5 min).
    pub lookback: Duration,
    /// Pages of one answer followed at most (default 10).
    pub max_pages: u32,
    /// Data points of one answer at most (default 100,800, AWS's own limit per call).
    pub max_datapoints: usize,
}

impl CloudWatchConfig {
    /// Defaults in `region`.
    pub fn new(region: impl Into<String>) -> Self {
        CloudWatchConfig {
            region: region.into(),
            endpoint: None,
            credentials: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            lookback: Duration::from_secs(300),
            max_pages: 10,
            max_datapoints: 100_800,
        }
    }

    /// With another endpoint URL.
    #[must_use]
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// With static credentials.
    #[must_use]
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.credentials = Some(StaticCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        });
        self
    }

    /// With another whole-call timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With another instant-query window.
    #[must_use]
    pub fn lookback(mut self, lookback: Duration) -> Self {
        self.lookback = lookback;
        self
    }

    /// Checks the settings.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !self.region.is_empty()
            && !self
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ConfigError::from(FieldError::new(
                "region",
                format!("{:?} is not an AWS region name", self.region),
            )));
        }
        if let Some(e) = &self.endpoint {
            let (scheme, rest) = e.split_once("://").unwrap_or(("", e));
            if !matches!(scheme, "http" | "https") || rest.is_empty() {
                return Err(ConfigError::from(FieldError::new(
                    "endpoint",
                    format!("{} is not an http(s) URL", shipcore::redact::url(e)),
                )));
            }
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if authority.contains('@') {
                return Err(ConfigError::from(FieldError::new(
                    "endpoint",
                    "must not carry credentials (user:pass@); use credentials",
                )));
            }
        }
        if let Some(c) = &self.credentials {
            if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                return Err(ConfigError::from(FieldError::new(
                    "credentials",
                    "both the access key id and the secret must be given",
                )));
            }
        }
        for (field, d) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
            ("lookback", self.lookback),
        ] {
            if d.is_zero() {
                return Err(ConfigError::from(FieldError::new(
                    field,
                    "must be greater than zero",
                )));
            }
        }
        if self.max_pages == 0 {
            return Err(ConfigError::from(FieldError::new(
                "max_pages",
                "must be at least 1",
            )));
        }
        if self.max_datapoints == 0 {
            return Err(ConfigError::from(FieldError::new(
                "max_datapoints",
                "must be at least 1",
            )));
        }
        Ok(())
    }

    /// The AWS SDK configuration: retries off (shipcore retries and journals them), the
    /// timeouts, region, endpoint and credentials given.
    pub async fn sdk_config(&self) -> Result<SdkConfig, ConfigError> {
        self.check()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(self.timeout)
                    .operation_attempt_timeout(self.timeout)
                    .connect_timeout(self.connect_timeout)
                    .read_timeout(self.timeout)
                    .build(),
            );
        if !self.region.is_empty() {
            loader = loader.region(Region::new(self.region.clone()));
        }
        if let Some(e) = &self.endpoint {
            loader = loader.endpoint_url(e.clone());
        }
        if let Some(c) = &self.credentials {
            loader = loader.credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                None,
                None,
                "shipcore-static",
            ));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(ConfigError::from(FieldError::new(
                "region",
                "no region given and none in the environment (AWS_REGION) or profile",
            )));
        }
        Ok(sdk)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_field_and_hides_secrets() {
        assert!(CloudWatchConfig::new("eu-west-1").check().is_ok());
        let field = |c: CloudWatchConfig| c.check().unwrap_err().0.field;
        assert_eq!(field(CloudWatchConfig::new("EU West")), "region");
        assert_eq!(
            field(CloudWatchConfig::new("us-east-1").endpoint("ftp://x")),
            "endpoint"
        );
        let e = CloudWatchConfig::new("us-east-1")
            .endpoint("http://AKIA:s3cr3t@127.0.0.1:5000")
            .check()
            .unwrap_err();
        assert_eq!(e.field, "endpoint");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert_eq!(
            field(CloudWatchConfig::new("us-east-1").timeout(Duration::ZERO)),
            "timeout"
        );
        assert_eq!(
            field(CloudWatchConfig::new("us-east-1").credentials("a", "")),
            "credentials"
        );
        let c = CloudWatchConfig::new("us-east-1").credentials("AKIAX", "s3cr3t");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t") && dbg.contains("AKIAX"), "{dbg}");
    }
}
