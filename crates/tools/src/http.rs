//! `http_get`: fetch a page as readable text, away from private networks unless allowed.
//!
//! The host is resolved here, every address is checked, and the request is pinned to the checked
//! address, so a DNS answer cannot change between the check and the connection. Redirects are
//! followed only to hosts that pass the same check.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::{Policy, Tool, ToolContext, ToolError, ToolResult};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpArgs {
    /// An http:// or https:// URL.
    pub url: String,
}

/// Fetches a URL.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpGet;

impl Tool for HttpGet {
    const NAME: &'static str = "http_get";
    type Args = HttpArgs;
    type Output = String;
    fn description(&self) -> String {
        "Fetch a web page by URL and return its readable text.".into()
    }
    fn call(&self, ctx: &ToolContext, a: HttpArgs) -> ToolResult<String> {
        fetch(&ctx.policy, &a.url)
    }
}

/// Why an address may not be reached, or `None` when it is a public address.
fn private_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if v4.is_broadcast() || v4.is_multicast() {
                Some("broadcast/multicast")
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                Some("carrier-grade NAT")
            } else if v4.is_documentation() || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private_kind(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("private (unique local)")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else {
                None
            }
        }
    }
}

/// Checks that `addr` may be reached under `policy`.
pub fn check_address(policy: &Policy, host: &str, ip: IpAddr) -> ToolResult<()> {
    let listed = policy
        .allow_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host) || h.parse::<IpAddr>().is_ok_and(|a| a == ip));
    if listed {
        return Ok(());
    }
    match private_kind(ip) {
        Some(kind) if !policy.allow_private_network => Err(ToolError::refused(format!(
            "{host} resolves to {ip}, a {kind} address; private, loopback and link-local addresses are refused unless the agent allows them ([network] allow-private = true, or the host in [network] allow-hosts)"
        ))),
        _ => Ok(()),
    }
}

fn resolve_checked(policy: &Policy, url: &url::Url) -> ToolResult<(String, SocketAddr)> {
    let host = url
        .host_str()
        .ok_or_else(|| ToolError::InvalidArgs(format!("{url} has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| ToolError::failed(format!("cannot resolve {host}: {e}")))?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| ToolError::failed(format!("{host} has no address")))?;
    for a in &addrs {
        check_address(policy, &host, a.ip())?;
    }
    Ok((host, first))
}

fn parse_url(raw: &str) -> ToolResult<url::Url> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| ToolError::InvalidArgs(format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ToolError::refused(format!(
            "{raw:?}: only http and https URLs can be fetched"
        )));
    }
    Ok(url)
}

/// Fetches `raw_url` and returns readable text (HTML converted to text).
pub fn fetch(policy: &Policy, raw_url: &str) -> ToolResult<String> {
    let url = parse_url(raw_url)?;
    let (host, addr) = resolve_checked(policy, &url)?;
    let redirect_policy = policy.clone();
    let client = reqwest::blocking::Client::builder()
        .timeout(policy.http_timeout)
        .resolve(&host, addr)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("more than 5 redirects");
            }
            let next = attempt.url().to_string();
            match resolve_checked(&redirect_policy, attempt.url()) {
                Ok(_) => attempt.follow(),
                Err(e) => attempt.error(format!("redirect to {next} {e}")),
            }
        }))
        .user_agent(concat!("hamlet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ToolError::failed(format!("HTTP client: {e}")))?;
    let resp = client.get(url.clone()).send().map_err(|e| {
        let mut msg = format!("GET {url} failed: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        ToolError::failed(msg)
    })?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut body = Vec::new();
    resp.take(policy.http_max_bytes as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| ToolError::failed(format!("reading {url}: {e}")))?;
    let cut = body.len() > policy.http_max_bytes;
    body.truncate(policy.http_max_bytes);
    if !status.is_success() {
        let snippet: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(ToolError::failed(format!(
            "GET {url}: HTTP {status}: {snippet}"
        )));
    }
    let is_html = content_type.contains("html")
        || (content_type.is_empty() && body.windows(5).any(|w| w.eq_ignore_ascii_case(b"<html")));
    let mut text = if is_html {
        html2text::from_read(&body[..], 100)
            .map_err(|e| ToolError::failed(format!("cannot read the HTML of {url}: {e}")))?
    } else if content_type.starts_with("text/")
        || content_type.contains("json")
        || content_type.contains("xml")
        || std::str::from_utf8(&body).is_ok()
    {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        return Err(ToolError::failed(format!(
            "{url} returned {content_type}, which is not text"
        )));
    };
    if cut {
        text.push_str(&format!("\n[page cut at {} bytes]", policy.http_max_bytes));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for (ip, private) in [
            ("127.0.0.1", true),
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("100.64.0.1", true),
            ("0.0.0.0", true),
            ("::1", true),
            ("fd00::1", true),
            ("fe80::1", true),
            ("::ffff:127.0.0.1", true),
            ("8.8.8.8", false),
            ("93.184.216.34", false),
            ("2606:4700::1111", false),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(private_kind(ip).is_some(), private, "{ip}");
        }
    }

    #[test]
    fn schemes_other_than_http_are_refused() {
        let p = Policy::default();
        assert!(fetch(&p, "file:///etc/passwd").unwrap_err().is_refusal());
        assert!(matches!(
            fetch(&p, "not a url").unwrap_err(),
            ToolError::InvalidArgs(_)
        ));
    }
}
