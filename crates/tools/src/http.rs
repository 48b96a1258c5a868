//! `http_get`: fetch a page as readable text, away from private networks unless allowed.
//!
//! The host is resolved here, every address is checked, and the request is pinned to the checked
//! address, so a DNS answer cannot change between the check and the connection. Redirects are
//! followed here, hop by hop, each hop resolved, checked and pinned the same way.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::{Policy, ToolContext, ToolError, ToolResult};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpArgs {
    /// An http:// or https:// URL.
    pub url: String,
}

pub(crate) fn http_get(ctx: &ToolContext, a: HttpArgs) -> ToolResult<String> {
    fetch(&ctx.policy, &a.url)
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
    match crate::address::reserved(ip) {
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

/// One GET with no redirects followed, connected to `addr` whatever DNS says of `host` now.
fn get_pinned(
    policy: &Policy,
    url: &url::Url,
    host: &str,
    addr: SocketAddr,
) -> ToolResult<reqwest::blocking::Response> {
    let client = reqwest::blocking::Client::builder()
        .timeout(policy.http_timeout)
        .resolve(host, addr)
        // A proxy from the environment would connect to the host itself, around the check.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hamlet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ToolError::failed(format!("HTTP client: {e}")))?;
    client.get(url.clone()).send().map_err(|e| {
        let mut msg = format!("GET {url} failed: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        ToolError::failed(msg)
    })
}

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// Fetches `raw_url` and returns readable text (HTML converted to text).
pub fn fetch(policy: &Policy, raw_url: &str) -> ToolResult<String> {
    fetch_with(policy, raw_url, &|url| resolve_checked(policy, url))
}

/// Resolves and checks a URL's host: the name and the one address the request is pinned to.
type Resolver<'a> = dyn Fn(&url::Url) -> ToolResult<(String, SocketAddr)> + 'a;

/// [`fetch`] with the resolver passed in. Redirects are followed here, not by reqwest, so every
/// hop is resolved once, checked, and connected to the address that was checked: a DNS answer
/// cannot change between the check and the connection on any hop.
fn fetch_with(policy: &Policy, raw_url: &str, resolve: &Resolver) -> ToolResult<String> {
    let mut url = parse_url(raw_url)?;
    let mut hops = 0;
    let resp = loop {
        let (host, addr) = resolve(&url).map_err(|e| match (hops, e) {
            (0, e) => e,
            (_, ToolError::Refused(m)) => ToolError::refused(format!("redirect to {url}: {m}")),
            (_, e) => ToolError::failed(format!("redirect to {url}: {e}")),
        })?;
        let resp = get_pinned(policy, &url, &host, addr)?;
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .filter(|_| resp.status().is_redirection());
        let Some(location) = location else {
            break resp;
        };
        let next = location
            .to_str()
            .ok()
            .and_then(|l| url.join(l).ok())
            .ok_or_else(|| {
                ToolError::failed(format!("{url} redirects to an unreadable address"))
            })?;
        hops += 1;
        if hops > MAX_REDIRECTS {
            return Err(ToolError::failed(format!(
                "GET {raw_url}: more than {MAX_REDIRECTS} redirects"
            )));
        }
        if !matches!(next.scheme(), "http" | "https") {
            return Err(ToolError::refused(format!(
                "{url} redirects to {next}: only http and https URLs can be fetched"
            )));
        }
        url = next;
    };
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
            assert_eq!(crate::address::reserved(ip).is_some(), private, "{ip}");
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

    /// A one-thread HTTP server answering each request with the next canned response; it records
    /// the Host header of each request.
    fn canned(
        responses: impl FnOnce(u16) -> Vec<String>,
    ) -> (u16, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let responses = responses(port);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for resp in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                    if let Some(h) = line.to_ascii_lowercase().strip_prefix("host: ") {
                        tx.send(h.trim().to_string()).unwrap();
                    }
                    line.clear();
                }
                stream.write_all(resp.as_bytes()).unwrap();
            }
        });
        (port, rx)
    }

    #[test]
    fn every_redirect_hop_connects_to_the_address_that_was_checked() {
        // `.invalid` names never resolve (RFC 6761): if reqwest looked a hop up again instead of
        // using the checked address, the fetch would fail.
        let (port, hosts) = canned(|port| {
            vec![
            format!("HTTP/1.1 302 Found\r\nLocation: http://second.invalid:{port}/b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndone".into(),
        ]
        });
        let seen = std::sync::Mutex::new(Vec::new());
        let policy = Policy {
            allow_private_network: true,
            ..Policy::default()
        };
        let resolve = |url: &url::Url| {
            let host = url.host_str().unwrap().to_string();
            seen.lock().unwrap().push(host.clone());
            let addr = SocketAddr::from(([127, 0, 0, 1], url.port().unwrap()));
            check_address(&policy, &host, addr.ip())?;
            Ok((host, addr))
        };
        let text =
            fetch_with(&policy, &format!("http://first.invalid:{port}/a"), &resolve).unwrap();
        assert_eq!(text, "done");
        assert_eq!(*seen.lock().unwrap(), ["first.invalid", "second.invalid"]);
        let hosts: Vec<String> = hosts.try_iter().collect();
        assert_eq!(
            hosts,
            [
                format!("first.invalid:{port}"),
                format!("second.invalid:{port}")
            ]
        );
    }

    #[test]
    fn a_redirect_hop_that_fails_the_check_is_refused() {
        let (port, _hosts) = canned(|_| {
            vec![
            "HTTP/1.1 301 Moved\r\nLocation: /next\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        ]
        });
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let policy = Policy {
            allow_private_network: true,
            ..Policy::default()
        };
        let resolve = |url: &url::Url| {
            // The first answer is allowed; the second (the DNS-rebinding case) is refused.
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Ok((
                    url.host_str().unwrap().to_string(),
                    SocketAddr::from(([127, 0, 0, 1], port)),
                ))
            } else {
                Err(ToolError::refused("rebound to a private address"))
            }
        };
        let err =
            fetch_with(&policy, &format!("http://rebind.invalid:{port}/"), &resolve).unwrap_err();
        assert!(err.is_refusal(), "{err}");
        assert!(
            err.to_string()
                .contains("redirect to http://rebind.invalid"),
            "{err}"
        );
    }
}
