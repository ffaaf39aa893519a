//! Command line and environment. Secrets sit in [`Secret`], which never prints its value.

pub use crate::credentials::Secret;

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(name = "palabre", version, about = "Run a live deliberative session: agenda, debate, votes, record.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Serve sessions over HTTP and WebSocket (the default).
    Serve(ServeArgs),
    /// Put a running server under load: many participant sockets, measured fan-out latency or a storm of upvotes.
    Load(crate::load::LoadArgs),
    /// Check that a copy of a finalised record.json is the original: its digest must match its content.
    Verify {
        /// The record.json to check.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Listen address; 0.0.0.0:8080 serves a room's Wi-Fi.
    #[arg(long, env = "PALABRE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Redis URL (redis://host:port/db); unset = embedded in-memory store.
    #[arg(long = "redis", env = "REDIS_URL", hide_env_values = true)]
    pub redis: Option<Secret>,
    /// Bearer token needed to create, list and delete sessions; unset = open (development).
    /// Read from `PALABRE_ADMIN_TOKEN` only: a flag would show it in every process list.
    #[arg(skip = std::env::var("PALABRE_ADMIN_TOKEN").ok().map(Secret::new))]
    pub admin_token: Option<Secret>,
    /// Base of the links and QR codes handed out (default: from the request's Host).
    #[arg(long, env = "PALABRE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Comma list of origins allowed to open a WebSocket (default: the server's own origin).
    #[arg(long, env = "PALABRE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// WebSockets one client address may hold open at once (a venue's NAT puts a whole room
    /// behind one address).
    #[arg(long, env = "PALABRE_SOCKETS_PER_IP", default_value_t = crate::limits::SOCKETS_PER_IP)]
    pub sockets_per_ip: usize,
    /// WebSockets one client address may open per second, sustained (bursts of 2,500 pass).
    #[arg(long, env = "PALABRE_OPENS_PER_IP", default_value_t = crate::limits::OPENS_PER_IP)]
    pub opens_per_ip: u32,
    /// Comma list of reverse-proxy addresses whose `X-Forwarded-For` names the client (the
    /// per-address limits then count each phone, not the proxy).
    #[arg(long, env = "PALABRE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Create the SOU 94 demo session at start and print its links.
    #[arg(long)]
    pub demo: bool,
}

/// What the running app needs to know, independent of how it was given.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub admin_token: Option<Secret>,
    /// Without a trailing slash.
    pub public_url: Option<String>,
    /// Lower-case origins, e.g. `https://palabre.example.org`.
    pub allowed_origins: Vec<String>,
    /// Limits per client address.
    pub limits: crate::limits::Settings,
    /// How long a client has to send its request headers (default: 10 s).
    pub header_timeout: Option<std::time::Duration>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Config {
    pub fn from_args(args: &ServeArgs) -> Self {
        Self {
            admin_token: args.admin_token.clone().filter(|t| !t.expose().is_empty()),
            public_url: args
                .public_url
                .as_deref()
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty()),
            allowed_origins: args
                .allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect(),
            limits: crate::limits::Settings { sockets_per_ip: args.sockets_per_ip, opens_per_ip: args.opens_per_ip },
            header_timeout: None,
            trusted_proxies: args.trusted_proxies.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
    }
}
