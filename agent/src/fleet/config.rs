//! `fleet:` and `notifications:` in agent.yaml: the status endpoint the heartbeat goes to and
//! the webhooks that receive events.

use serde::Deserialize;
use std::time::Duration;

/// The fleet status endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FleetConfig {
    pub url: String,
    #[serde(
        default = "default_interval",
        deserialize_with = "ferry_bundle::config_file::duration"
    )]
    pub interval: Duration,
    #[serde(flatten)]
    pub tls: crate::outbound::EndpointTls,
}

/// Payload shapes for webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    Json,
    Slack,
}

/// A webhook that receives events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotificationConfig {
    pub name: String,
    pub url: String,
    #[serde(default = "default_format")]
    pub format: WebhookFormat,
    /// Event kinds to send (default: all): applied, failed, rolled-back, refused,
    /// drift-detected, drift-corrected, source-unreachable.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(flatten)]
    pub tls: crate::outbound::EndpointTls,
}

fn default_format() -> WebhookFormat {
    WebhookFormat::Json
}

fn default_interval() -> Duration {
    Duration::from_secs(300)
}
