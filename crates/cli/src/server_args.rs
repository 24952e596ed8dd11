//! The HTTP server's operational flags, shared by `cairn up` and `cairn server`: download
//! controls, the public run limit, the metrics token and the shutdown grace period. Unset flags keep
//! [`ServerSettings`]' defaults.

use cairn_http::ServerSettings;
use clap::Args;
use std::num::NonZeroU64;
use std::time::Duration;

/// Download controls, `/metrics` access and graceful shutdown of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Bytes of each download sent at full speed before --download-rate-limit applies (nginx
    /// `limit_rate_after`), e.g. `10MiB`. Default 10 MiB.
    #[arg(long, env = "CAIRN_DOWNLOAD_RATE_AFTER", value_parser = parse_bytes)]
    pub download_rate_after: Option<u64>,
    /// Bytes per second each download may send past --download-rate-after (nginx
    /// `limit_rate`), e.g. `1MiB`; 0 means no limit. Default: no limit.
    #[arg(long, env = "CAIRN_DOWNLOAD_RATE_LIMIT", value_parser = parse_bytes)]
    pub download_rate_limit: Option<u64>,
    /// Results streamed at once by this server; more are refused with 429 and Retry-After.
    /// 0 means no cap. Default 64.
    #[arg(long, env = "CAIRN_MAX_CONCURRENT_DOWNLOADS")]
    pub max_concurrent_downloads: Option<usize>,
    /// Largest result that may be downloaded, by its stored (compressed) size, e.g. `2GiB`;
    /// larger ones are refused with 413. 0 means no cap. Default: no cap.
    #[arg(long, env = "CAIRN_MAX_DOWNLOAD_BYTES", value_parser = parse_bytes)]
    pub max_download_bytes: Option<u64>,
    /// Token that GET /metrics requires as `Authorization: Bearer <token>`. Default: /metrics
    /// is open.
    #[arg(long, env = "CAIRN_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Query runs (not cache hits) one shared dashboard link or query API key may start per
    /// minute; more are refused with 429 and Retry-After while cached results are still served.
    /// 0 means no limit. Default 60.
    #[arg(long, env = "CAIRN_PUBLIC_RUNS_PER_MINUTE")]
    pub public_runs_per_minute: Option<usize>,
    /// Header a balancer or proxy in front sets to the client's address (e.g. X-Forwarded-For;
    /// its last entry is used), for the per-IP login limit. Set it only behind such a
    /// balancer: clients can send the header themselves. Default: the connection's address.
    #[arg(long, env = "CAIRN_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Seconds requests in flight may run after SIGTERM before their connections are closed.
    /// Default 25 (under Kubernetes' default 30 s termination grace period).
    #[arg(long, env = "CAIRN_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<u64>,
}

impl ServerArgs {
    /// Writes the flags given into `settings`.
    pub fn apply(&self, settings: &mut ServerSettings) {
        if let Some(bytes) = self.download_rate_after {
            settings.download_rate_after = bytes;
        }
        if let Some(rate) = self.download_rate_limit {
            settings.download_rate_limit = NonZeroU64::new(rate);
        }
        if let Some(cap) = self.max_concurrent_downloads {
            settings.max_concurrent_downloads = (cap > 0).then_some(cap);
        }
        if let Some(max) = self.max_download_bytes {
            settings.max_download_bytes = (max > 0).then_some(max);
        }
        if let Some(token) = self.metrics_token.as_ref().filter(|t| !t.is_empty()) {
            settings.metrics_token = Some(token.clone());
        }
        if let Some(secs) = self.shutdown_grace {
            settings.shutdown_grace = Duration::from_secs(secs);
        }
        if let Some(header) = self.client_ip_header.as_ref().filter(|h| !h.is_empty()) {
            settings.client_ip_header = Some(header.clone());
        }
        if let Some(runs) = self.public_runs_per_minute {
            settings.public_runs_per_minute = (runs > 0).then_some(runs);
        }
    }
}

/// A byte size: a whole number with an optional unit, `K`/`KiB`, `M`/`MiB`, `G`/`GiB` (all
/// powers of 1024, as nginx reads `10m`), case-insensitive.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size: use e.g. 1048576, 512KiB, 10MiB or 2GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown size unit {other:?}: use KiB, MiB or GiB")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_nginx() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("10m"), Ok(10 << 20));
        assert_eq!(parse_bytes("10MiB"), Ok(10 << 20));
        assert_eq!(parse_bytes("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("10 parsecs").is_err());
        assert!(parse_bytes("99999999999999G").is_err());
    }

    #[test]
    fn zero_lifts_a_limit_and_unset_flags_keep_the_defaults() {
        let mut settings = ServerSettings {
            max_download_bytes: Some(5),
            ..ServerSettings::default()
        };
        ServerArgs {
            download_rate_after: None,
            download_rate_limit: Some(1 << 20),
            max_concurrent_downloads: Some(0),
            max_download_bytes: Some(0),
            metrics_token: Some("t".into()),
            shutdown_grace: None,
            public_runs_per_minute: Some(0),
            client_ip_header: Some("X-Forwarded-For".into()),
        }
        .apply(&mut settings);
        let defaults = ServerSettings::default();
        assert_eq!(settings.download_rate_after, defaults.download_rate_after);
        assert_eq!(settings.download_rate_limit, NonZeroU64::new(1 << 20));
        assert_eq!(settings.max_concurrent_downloads, None);
        assert_eq!(settings.max_download_bytes, None);
        assert_eq!(settings.metrics_token.as_deref(), Some("t"));
        assert_eq!(settings.shutdown_grace, defaults.shutdown_grace);
        assert_eq!(settings.public_runs_per_minute, None);
        assert_eq!(
            settings.client_ip_header.as_deref(),
            Some("X-Forwarded-For")
        );
        assert_eq!(defaults.public_runs_per_minute, Some(60));
    }
}
