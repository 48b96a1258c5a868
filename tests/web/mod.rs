//! The harness of the web viewer's browser tests: chromedriver on a free loopback port (stopped
//! when dropped), a headless Chromium session driven through WebDriver (fantoccini), the
//! `hamlet` process serving the viewer (its address read from its first line of output), and a
//! scripted OpenAI-compatible server for agent runs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path).chain([
        PathBuf::from("/usr/bin"),
        PathBuf::from("/usr/lib/chromium"),
    ]) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// chromedriver, started on a free loopback port and killed when dropped.
pub struct Chromedriver {
    child: Child,
    pub port: u16,
}

impl Chromedriver {
    /// Starts chromedriver; a missing one fails the test with what to install (never a skip).
    pub fn start() -> Chromedriver {
        let bin = find_on_path(&["chromedriver"]).unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed, so the web viewer's browser tests cannot run: \
                 install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; \
                 scripts/test.sh does this through ensure_browser in scripts/setup.sh)"
            )
        });
        let port = free_port();
        // Its own process group, so that the Chromium it starts goes with it (see Drop).
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let d = Chromedriver { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: a test that failed before closing its session leaves no browser behind.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session.
pub async fn browser(driver: &Chromedriver) -> Client {
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1500,1300",
    ];
    args.push("--hide-scrollbars");
    let mut opts = json!({ "args": args });
    if let Some(bin) = find_on_path(&["chromium", "chromium-browser"]) {
        opts["binary"] = json!(bin.to_string_lossy());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), opts);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session through chromedriver")
}

/// A browser session on the viewer at `url`, once its page has loaded its first data.
pub async fn open_viewer(driver: &Chromedriver, url: &str) -> Client {
    let c = browser(driver).await;
    c.goto(url).await.expect("open the viewer");
    let ready = "document.body.dataset.ready === 'true'";
    wait_for(&c, ready, "the page to load", 30).await;
    c
}

/// Evaluates `expr` in the page until it is truthy; returns its value.
pub async fn wait_for(c: &Client, expr: &str, what: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let script = format!("try {{ return ({expr}); }} catch (e) {{ return null; }}");
    loop {
        let v = c
            .execute(&script, vec![])
            .await
            .expect("run a script in the page");
        let truthy = match &v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return v;
        }
        if Instant::now() > deadline {
            let error = c
                .execute("return document.getElementById('error').textContent + ' | ' + document.getElementById('status').textContent", vec![])
                .await
                .unwrap_or_default();
            panic!("waited {secs} s for {what} ({expr}); page says: {error}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .expect("run a script in the page")
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// A `hamlet` process serving the viewer; killed when dropped.
pub struct Viewer {
    child: Child,
    pub url: String,
    /// The rest of its stdout, line by line.
    pub lines: mpsc::Receiver<String>,
}

impl Viewer {
    /// Runs `hamlet ARGS` and waits for the address it prints first.
    pub fn start(mut cmd: Command) -> Viewer {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hamlet");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        let first = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "hamlet printed no address: {}",
                    erx.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
                )
            });
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("the first line names no address: {first}"))
            .to_string();
        Viewer {
            child,
            url,
            lines: rx,
        }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scripted OpenAI-compatible chat server: the first action writes `hello.txt`, every later
/// one finishes; a reflection request gets a plan. Streams its replies as the real API does.
pub fn scripted_model() -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind the scripted model");
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .expect("port");
    std::thread::spawn(move || {
        let mut actions = 0;
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let reply = if body.contains("\\\"progress\\\"") || body.contains("\"progress\"") {
                json!({"progress": "the file is next", "plan": "write hello.txt, then finish"})
            } else {
                actions += 1;
                if actions == 1 {
                    json!({"thoughts": {"observation": "nothing yet", "goal_met": "no", "next": "write the file"},
                           "tool": "write_file", "args": {"path": "hello.txt", "content": "hi"}})
                } else {
                    json!({"thoughts": {"observation": "the file is written", "goal_met": "yes", "next": "finish"},
                           "tool": "finish", "args": {"answer": "wrote hi into hello.txt"}})
                }
            };
            let chunk = json!({"choices": [{"index": 0, "delta": {"content": reply.to_string()}, "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}});
            let sse = format!("data: {chunk}\n\ndata: [DONE]\n\n");
            let header =
                tiny_http::Header::from_bytes("Content-Type", "text/event-stream").expect("header");
            let _ = req.respond(tiny_http::Response::from_string(sse).with_header(header));
        }
    });
    format!("http://127.0.0.1:{port}/v1")
}

/// The repository's `docs/` folder (the screenshot goes there).
pub fn docs() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs"))
}
