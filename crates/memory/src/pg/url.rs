//! [`PgUrl`]: a `postgres://` URL as the store takes it: the connection options, the schema the
//! store lives in (`?schema=NAME`, default `hamlet`), and a form fit to print (no password).

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::ConnectOptions;

use crate::{Error, Result};

/// The schema a store lives in when the URL names none.
pub const DEFAULT_SCHEMA: &str = "hamlet";

/// A PostgreSQL store's address.
#[derive(Clone)]
pub struct PgUrl {
    // Boxed: the options are large, and a `PgUrl` travels in command-line values.
    options: Box<PgConnectOptions>,
    schema: String,
    shown: String,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Display for PgUrl {
    /// The URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgUrl {
    /// Whether `s` names a PostgreSQL database rather than a directory.
    pub fn is_postgres(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    /// Parses `postgres://user:password@host:port/database?schema=NAME&…`. `schema` is the
    /// store's own parameter; the others are libpq's, as sqlx reads them (`sslmode`, …).
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |why: String| {
            Error::Url(format!(
                "{}: {why} (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE, optionally ?schema=NAME)",
                redact(url)
            ))
        };
        if !Self::is_postgres(url) {
            return Err(bad("not a postgres:// URL".into()));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut schema = DEFAULT_SCHEMA.to_string();
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", name)) => schema = name.to_string(),
                _ => rest.push(pair),
            }
        }
        check_schema(&schema).map_err(bad)?;
        let libpq = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let options = Box::new(PgConnectOptions::from_str(&libpq).map_err(|e| bad(e.to_string()))?);
        let shown = if schema == DEFAULT_SCHEMA {
            redact(&libpq)
        } else {
            format!("{} (schema {schema})", redact(&libpq))
        };
        Ok(PgUrl {
            options,
            schema,
            shown,
        })
    }

    /// The connection options: the store's schema first on the search path (then `public`,
    /// where the `vector` extension usually lives), and pgvector's iterative index scan in
    /// strict order, so that an HNSW scan with a filter (one agent's memories) goes on until
    /// it has as many rows as asked, in exact distance order.
    pub(crate) fn connect_options(&self) -> PgConnectOptions {
        let path = format!("{},public", self.schema);
        // A big batch insert takes seconds by design; sqlx's slow-statement warning would
        // print each one, so statements are logged at debug level only.
        (*self.options)
            .clone()
            .application_name("hamlet")
            .log_statements(log::LevelFilter::Debug)
            .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1))
            .options([
                ("search_path", path.as_str()),
                ("hnsw.iterative_scan", "strict_order"),
                // A wider first candidate list than pgvector's 40: recall@10 0.97 -> higher.
                ("hnsw.ef_search", "100"),
            ])
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The same database with another schema (tests give each store its own).
    pub fn with_schema(&self, schema: &str) -> Result<Self> {
        check_schema(schema).map_err(Error::Url)?;
        let base = self.shown.split(" (schema").next().unwrap_or(&self.shown);
        Ok(PgUrl {
            options: self.options.clone(),
            schema: schema.to_string(),
            shown: format!("{base} (schema {schema})"),
        })
    }
}

/// A schema name the store accepts: a plain lower-case SQL identifier, so it needs no quoting.
fn check_schema(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "schema {name:?} is not a plain identifier: use lower-case letters, digits and _ (at most 63)"
        ))
    }
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (Some(auth), host),
        None => (None, rest),
    };
    match auth.map(|a| a.split_once(':')) {
        Some(Some((user, _))) => format!("{scheme}://{user}:***@{host}"),
        Some(None) => format!("{scheme}://{}@{host}", auth.unwrap_or_default()),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_the_stores_and_the_password_is_never_shown() {
        let u = PgUrl::parse(
            "postgres://ada:s3cret@db.example:5433/town?schema=town_a&sslmode=disable",
        )
        .expect("parses");
        assert_eq!(u.schema(), "town_a");
        let shown = u.to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("ada:***@db.example:5433/town?sslmode=disable"),
            "{shown}"
        );
        assert_eq!(
            PgUrl::parse("postgresql://h/db").expect("parses").schema(),
            "hamlet"
        );
    }

    #[test]
    fn bad_urls_and_schemas_say_what_to_write() {
        for (url, says) in [
            ("mysql://h/db", "not a postgres:// URL"),
            ("postgres://h/db?schema=Town", "not a plain identifier"),
            ("postgres://h/db?schema=a;drop", "not a plain identifier"),
            ("postgres://u:pw@h:notaport/db", "expected postgres://"),
        ] {
            let e = PgUrl::parse(url).expect_err(url).to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains(":pw@"), "{e}");
        }
    }
}
