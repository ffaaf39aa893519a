//! Where the server under load is, and the load's plain HTTP requests (creating its session, reading
//! a poll's receipts).
//! Only loopback addresses are accepted: `palabre load` never reaches beyond this machine.

use super::CONNECT_TIMEOUT;
use crate::config::Secret;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the server is: a loopback socket address, and what to put in URLs and `Host`.
pub struct Target {
    pub addr: SocketAddr,
    pub authority: String,
    pub base_path: String,
}

impl Target {
    /// Accepts `http://` or `ws://` URLs whose host is a loopback IP literal or `localhost`;
    /// never resolves a name, so nothing but this machine is ever reached.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: axum::http::Uri = url.parse().with_context(|| format!("--url {url} is not a URL"))?;
        match uri.scheme_str() {
            Some("http" | "ws") => {}
            _ => bail!("--url {url}: use http://127.0.0.1:PORT (plain HTTP on this machine's loopback)"),
        }
        let authority = uri.authority().context("--url needs a host")?;
        if authority.as_str().contains('@') {
            bail!("--url {url}: no user info, please");
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST.into()
        } else {
            host.parse().with_context(|| format!("--url {url}: the host must be a loopback IP address or localhost"))?
        };
        if !ip.is_loopback() {
            bail!("--url {url}: palabre load only runs against this machine's loopback (127.0.0.0/8, ::1)");
        }
        Ok(Target {
            addr: SocketAddr::new(ip, authority.port_u16().unwrap_or(80)),
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}{}/ws", self.authority, self.base_path)
    }
}

/// What the load needs of the created session (the rapporteur key and links are not kept).
#[derive(Deserialize)]
pub struct CreatedReply {
    pub id: String,
    pub code: String,
    pub moderator_key: String,
}

/// Creates the session with one plain HTTP/1.1 request.
pub async fn create_session(
    target: &Target,
    token: Option<&Secret>,
    definition: &[u8],
) -> anyhow::Result<CreatedReply> {
    let path = format!("{}/api/sessions", target.base_path);
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Accept: application/json\r\nConnection: close\r\n",
        target.authority,
        definition.len()
    );
    if let Some(token) = token {
        let _ = write!(head, "Authorization: Bearer {}\r\n", token.expose());
    }
    let (status, body) = exchange(target, &format!("POST {path}"), head, definition).await?;
    match status {
        201 => serde_json::from_slice(&body).with_context(|| format!("POST {path}: unexpected reply body")),
        401 => bail!("POST {path}: 401: the server has an admin token; set PALABRE_ADMIN_TOKEN to it"),
        _ => bail!("POST {path}: {status} {}", String::from_utf8_lossy(&body).chars().take(300).collect::<String>()),
    }
}

/// `GET path` (no credentials): the status and the body.
pub async fn get(target: &Target, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n",
        target.authority
    );
    exchange(target, &format!("GET {path}"), head, &[]).await
}

/// One HTTP/1.1 request (`head` without its final blank line, then `body`) and its reply, within
/// [`CONNECT_TIMEOUT`]; `what` names the request in errors.
async fn exchange(target: &Target, what: &str, mut head: String, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    head.push_str("\r\n");
    let talk = async {
        let mut tcp = TcpStream::connect(target.addr).await?;
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body).await?;
        let mut reply = Vec::new();
        tcp.take(16 << 20).read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(CONNECT_TIMEOUT, talk)
        .await
        .with_context(|| format!("{what}: no answer within {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("{what} to {}: is `palabre serve` running there?", target.addr))?;
    parse_http_reply(&reply).with_context(|| format!("{what}: not an HTTP reply"))
}

/// Splits an HTTP/1.1 reply into its status and its body (de-chunked when needed).
pub fn parse_http_reply(reply: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&reply[..end]).ok()?;
    let body = &reply[end + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
        })
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let (mut out, mut rest) = (Vec::new(), body);
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        for ok in ["http://127.0.0.1:8080", "http://localhost:9000/", "ws://127.0.0.2:1", "http://[::1]:8080"] {
            assert!(Target::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1:8080", "https://127.0.0.1", "http://example.org", "http://u@127.0.0.1"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_replies_are_read_plain_and_chunked() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_http_reply(plain), Some((201, b"{}".to_vec())));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_http_reply(chunked), Some((200, b"abcde".to_vec())));
    }
}
