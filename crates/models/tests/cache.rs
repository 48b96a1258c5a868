//! Cache behaviour against a local HTTP server: resolve(), custom pulls,
//! pinned-sha mismatches, truncated downloads.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use hamlet_models::{sha256_hex, Error, ModelCache, ModelKind, ModelSpec, Silent, Source};

/// What the server answers for a path: the body and the Content-Length it claims.
#[derive(Clone)]
struct Route {
    path: &'static str,
    body: Vec<u8>,
    claimed_len: usize,
}

/// Serves `routes` on 127.0.0.1 from a background thread; returns the base URL.
fn serve(routes: Vec<Route>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let routes = Arc::clone(&routes);
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                match routes.iter().find(|r| r.path == path) {
                    Some(r) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            r.claimed_len
                        );
                        let _ = stream.write_all(head.as_bytes());
                        let _ = stream.write_all(&r.body);
                    }
                    None => {
                        let _ = stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
                let _ = stream.flush();
            });
        }
    });
    format!("http://{addr}")
}

fn fake_gguf(fill: u8) -> Vec<u8> {
    let mut v = b"GGUF\x03\x00\x00\x00".to_vec();
    v.extend(std::iter::repeat_n(fill, 4096));
    v
}

fn route(path: &'static str, body: Vec<u8>) -> Route {
    let claimed_len = body.len();
    Route {
        path,
        body,
        claimed_len,
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn resolve_prefers_an_existing_file_and_explains_missing_models() {
    let home = tempfile::tempdir().expect("tempdir");
    let cache = ModelCache::new(home.path());
    assert_eq!(cache.models_dir(), home.path().join("models"));

    let file = home.path().join("local.gguf");
    std::fs::write(&file, fake_gguf(1)).expect("write");
    let got = cache
        .resolve(file.to_str().expect("utf8"))
        .expect("resolve path");
    assert_eq!(got, file);

    let not_gguf = home.path().join("notes.txt");
    std::fs::write(&not_gguf, b"hello").expect("write");
    let msg = cache
        .resolve(not_gguf.to_str().expect("utf8"))
        .expect_err("not gguf")
        .to_string();
    assert!(msg.contains("is not a GGUF file (magic"), "{msg}");

    let msg = cache
        .resolve("smollm2-135m")
        .expect_err("not pulled")
        .to_string();
    assert_eq!(
        msg,
        format!(
            "model 'smollm2-135m' is not in the cache at {}: run `hamlet models pull smollm2-135m`",
            home.path().join("models").display()
        )
    );

    let err = cache.resolve("no-such-model").expect_err("unknown");
    assert!(matches!(err, Error::UnknownModel { .. }), "{err:?}");
    let msg = err.to_string();
    for spec in hamlet_models::registry() {
        assert!(msg.contains(spec.name), "{msg} lacks {}", spec.name);
    }

    let msg = cache
        .resolve("/nonexistent/dir/m.gguf")
        .expect_err("missing path")
        .to_string();
    assert!(msg.contains("/nonexistent/dir/m.gguf"), "{msg}");
}

#[test]
fn custom_pull_over_http_is_verified_listed_and_idempotent() {
    let body = fake_gguf(7);
    let base = serve(vec![
        route("/m.gguf", body.clone()),
        route("/not-gguf.bin", b"PK\x03\x04 zip, not gguf".to_vec()),
        Route {
            path: "/short.gguf",
            body: fake_gguf(3),
            claimed_len: 100_000,
        },
    ]);
    let home = tempfile::tempdir().expect("tempdir");
    let cache = ModelCache::new(home.path());

    let err = cache
        .pull("tiny", None, &Silent)
        .expect_err("custom pull needs --from");
    assert!(matches!(err, Error::UnknownModel { .. }), "{err:?}");

    let url = format!("{base}/m.gguf");
    let path = cache.pull("tiny", Some(&url), &Silent).expect("pull");
    assert_eq!(path, cache.models_dir().join("tiny.gguf"));
    assert_eq!(std::fs::read(&path).expect("read"), body);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(cache.models_dir().join("tiny.gguf.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["name"], "tiny");
    assert_eq!(manifest["file"], "tiny.gguf");
    assert_eq!(manifest["sha256"], sha256_hex(&body));
    assert_eq!(manifest["size"], body.len() as u64);
    assert_eq!(manifest["source"], url);
    assert!(manifest["pulled_at"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z')));

    assert_eq!(cache.path_of("tiny"), Some(path.clone()));
    assert_eq!(cache.resolve("tiny").expect("resolve"), path);
    let listed = cache.list().expect("list");
    assert!(listed
        .iter()
        .any(|m| m.name == "tiny" && m.pulled && m.spec.is_none()));
    assert!(listed.iter().any(|m| m.name == "smollm2-135m" && !m.pulled));

    // Idempotent: a second pull (even from a dead URL) returns the cached file.
    let again = cache
        .pull("tiny", Some("http://127.0.0.1:9/gone"), &Silent)
        .expect("idempotent");
    assert_eq!(again, path);

    // Not GGUF: refused, nothing left behind.
    let err = cache
        .pull("zipped", Some(&format!("{base}/not-gguf.bin")), &Silent)
        .expect_err("not gguf");
    assert!(matches!(err, Error::NotGguf { .. }), "{err:?}");

    // Truncated body: an error, nothing left behind.
    let err = cache
        .pull("short", Some(&format!("{base}/short.gguf")), &Silent)
        .expect_err("truncated");
    assert!(matches!(err, Error::Http { .. }), "{err:?}");

    // 404: an error naming the status.
    let msg = cache
        .pull("missing", Some(&format!("{base}/nope")), &Silent)
        .expect_err("404")
        .to_string();
    assert!(msg.contains("404"), "{msg}");

    assert_eq!(
        files_in(&cache.models_dir()),
        vec!["tiny.gguf", "tiny.gguf.json"]
    );
    assert!(matches!(
        cache.pull("../evil", Some(&url), &Silent),
        Err(Error::InvalidName(_))
    ));
}

#[test]
fn pinned_pull_rejects_wrong_bytes_and_accepts_right_ones() {
    let good = fake_gguf(9);
    let bad = fake_gguf(8);
    let base = serve(vec![
        route("/good.gguf", good.clone()),
        route("/bad.gguf", bad.clone()),
    ]);
    let home = tempfile::tempdir().expect("tempdir");
    let cache = ModelCache::new(home.path());
    let sha: &'static str = Box::leak(sha256_hex(&good).into_boxed_str());
    let spec = ModelSpec {
        name: "pinned-test",
        kind: ModelKind::Chat,
        file_name: "pinned-test.gguf",
        description: "test",
        license: "MIT",
        source: Source::Url("http://127.0.0.1:9/unused"),
        sha256: sha,
        size: good.len() as u64,
    };

    let err = cache
        .pull_spec(&spec, Some(&format!("{base}/bad.gguf")), &Silent)
        .expect_err("sha mismatch");
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Mismatch { what: "sha256", .. }),
        "{err:?}"
    );
    assert!(
        msg.contains(sha) && msg.contains(&sha256_hex(&bad)),
        "{msg}"
    );
    assert!(
        files_in(&cache.models_dir()).is_empty(),
        "{:?}",
        files_in(&cache.models_dir())
    );

    let path = cache
        .pull_spec(&spec, Some(&format!("{base}/good.gguf")), &Silent)
        .expect("pull");
    assert_eq!(std::fs::read(&path).expect("read"), good);
    assert_eq!(
        files_in(&cache.models_dir()),
        vec!["pinned-test.gguf", "pinned-test.gguf.json"]
    );
    // Idempotent without touching the network.
    assert_eq!(cache.pull_spec(&spec, None, &Silent).expect("again"), path);

    // A size mismatch is caught too (file tampered with, then re-pulled).
    std::fs::write(&path, b"GGUF").expect("tamper");
    let err = cache
        .pull_spec(&spec, Some(&format!("{base}/bad.gguf")), &Silent)
        .expect_err("still wrong");
    assert!(matches!(err, Error::Mismatch { .. }), "{err:?}");
}

/// An error and its cause on one line, as the binary prints it.
fn with_cause(e: &Error) -> String {
    let cause = std::error::Error::source(e).map(|s| s.to_string());
    format!("{e}: {}", cause.unwrap_or_default())
}

/// `--model` naming a folder or a FIFO used to say "entity not found: entity not found".
#[test]
fn a_model_path_that_is_not_a_file_says_what_it_is() {
    let home = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(home.path());
    let dir = home.path().join("weights");
    std::fs::create_dir(&dir).unwrap();
    let e = cache.resolve(dir.to_str().unwrap()).unwrap_err();
    let chain = with_cause(&e);
    assert!(
        chain.contains("is a folder") && chain.contains(".gguf"),
        "{chain}"
    );
    let fifo = home.path().join("pipe.gguf");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let e = cache.resolve(fifo.to_str().unwrap()).unwrap_err();
    let chain = with_cause(&e);
    assert!(chain.contains("not a regular file"), "{chain}");
    let e = cache
        .resolve(home.path().join("missing.gguf").to_str().unwrap())
        .unwrap_err();
    let chain = with_cause(&e);
    assert!(
        chain.contains("no such file") && !chain.contains("entity not found"),
        "{chain}"
    );
}
