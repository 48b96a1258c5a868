//! One bounded child process: the `shell` tool and the task checker both run programs through it.
//!
//! The child gets no stdin, its stdout and stderr are read on their own threads up to a limit
//! (so a chatty program can neither fill a pipe and hang nor fill memory), and it runs under a
//! time limit. On Unix it leads a process group of its own, and the whole group is killed when the
//! limit passes and again when the child exits, so a program that forks into the background
//! (`sleep 100 &`) can neither outlive the call nor keep the pipes open.

use std::io::{self, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use wait_timeout::ChildExt;

/// What a stream printed, cut to the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub text: String,
    /// More than the limit was printed; `text` holds the first part.
    pub cut: bool,
}

/// How a bounded run ended.
#[derive(Debug)]
pub struct Finished {
    /// `None`: the time limit passed and the process group was killed.
    pub status: Option<ExitStatus>,
    pub stdout: Captured,
    pub stderr: Captured,
}

impl Finished {
    /// The exit code as text, or why there is none.
    pub fn code(&self) -> String {
        match self.status {
            Some(s) => s
                .code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "killed by a signal".into()),
            None => "stopped at the time limit".into(),
        }
    }
}

/// Runs `cmd` with no stdin, reading at most `max_output` bytes of each of stdout and stderr,
/// for at most `timeout`. Only starting and waiting can fail; a timeout is a [`Finished`] without
/// a status.
pub fn run_bounded(mut cmd: Command, timeout: Duration, max_output: usize) -> io::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn()?;
    let stdout = read_capped(child.stdout.take(), max_output);
    let stderr = read_capped(child.stderr.take(), max_output);
    let status = match child.wait_timeout(timeout) {
        Ok(status) => status,
        Err(e) => {
            kill_group(&mut child);
            return Err(e);
        }
    };
    // The group is killed either way: what the child left running in the background must not
    // hold the pipes open (the readers would never finish) or outlive the call.
    kill_group(&mut child);
    Ok(Finished {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    })
}

fn read_capped<R: Read + Send + 'static>(
    pipe: Option<R>,
    max: usize,
) -> Option<JoinHandle<Captured>> {
    let pipe = pipe?;
    Some(std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.take(max as u64 + 1).read_to_end(&mut buf);
        let cut = buf.len() > max;
        buf.truncate(max);
        Captured {
            text: String::from_utf8_lossy(&buf).into_owned(),
            cut,
        }
    }))
}

fn join(reader: Option<JoinHandle<Captured>>) -> Captured {
    reader.and_then(|r| r.join().ok()).unwrap_or_default()
}

fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        let pid = rustix::process::Pid::from_child(child);
        // ESRCH (the group is gone already) is the common case after a clean exit.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn captures_both_streams_and_the_exit_code() {
        let done = run_bounded(
            sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(5),
            100,
        )
        .unwrap();
        assert_eq!(done.code(), "3");
        assert_eq!(done.stdout.text, "out\n");
        assert_eq!(done.stderr.text, "err\n");
        assert!(!done.stdout.cut);
    }

    #[test]
    fn output_past_the_limit_is_cut() {
        let done = run_bounded(sh("yes | head -c 100000"), Duration::from_secs(5), 10).unwrap();
        assert_eq!(done.stdout.text, "y\ny\ny\ny\ny\n");
        assert!(done.stdout.cut);
    }

    #[test]
    fn the_time_limit_kills_the_whole_group() {
        let started = Instant::now();
        // The background sleep keeps stdout open: without the group kill the reader never ends.
        let done = run_bounded(sh("sleep 30 & sleep 30"), Duration::from_millis(300), 100).unwrap();
        assert!(done.status.is_none());
        assert_eq!(done.code(), "stopped at the time limit");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn background_children_do_not_outlive_a_finished_call() {
        let started = Instant::now();
        let done =
            run_bounded(sh("sleep 30 & echo started"), Duration::from_secs(20), 100).unwrap();
        assert_eq!(done.code(), "0");
        assert_eq!(done.stdout.text, "started\n");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
