//! The page, compiled in: no CDN, no files to find at run time.

/// `(path, content type, body)` of every asset.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../assets/index.html"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    (
        "/common.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/common.js"),
    ),
    (
        "/town.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/town.js"),
    ),
    (
        "/agent.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/agent.js"),
    ),
];
