//! The web viewer's glue: `--web`, `--port` and `--host` on `watch`, `sim` and `run`, the server
//! started on a run folder with its address printed first, and the approver that asks the page.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use hamlet_agent::{Approval, Approver};
use hamlet_core::trace::Action;
use hamlet_web::{Answer, Approvals, Kind, Options, Server};

use crate::cmd::run::Approved;

/// `--web [--port P] [--host H]`.
#[derive(Debug, Clone, clap::Args)]
pub struct WebArgs {
    /// Serve the viewer in a web browser (the address is printed first).
    #[arg(long)]
    pub web: bool,
    /// The viewer's port (0: any free port).
    #[arg(long, default_value_t = hamlet_web::DEFAULT_PORT, requires = "web")]
    pub port: u16,
    /// The address the viewer listens on (loopback by default; 0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1", requires = "web")]
    pub host: String,
}

/// Starts the viewer on `run_dir` and prints its address on stdout.
pub fn start(run_dir: &Path, kind: Kind, web: &WebArgs) -> Result<Server> {
    let opts = Options {
        host: web.host.clone(),
        port: web.port,
    };
    let server = Server::start(run_dir, kind, &opts)
        .with_context(|| format!("starting the web viewer for {}", run_dir.display()))?;
    println!("viewer: {} (Ctrl-C to stop)", server.url());
    let _ = std::io::stdout().flush();
    Ok(server)
}

/// Keeps serving until Ctrl-C sets `stop`.
pub fn serve_until(server: Server, stop: &AtomicBool) {
    eprintln!("the viewer keeps serving {} until Ctrl-C", server.url());
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
}

/// `hamlet run --web`: each action waits for an answer in the page.
pub struct WebApprover {
    pub approvals: Approvals,
    pub approved: Approved,
}

impl Approver for WebApprover {
    fn approve(&mut self, step: u32, action: &Action) -> Approval {
        if self.approved.take() {
            return Approval::Run;
        }
        eprintln!(
            "step {step}: {} {} waits for approval in the web page",
            action.tool, action.args
        );
        match self.approvals.ask(step, action) {
            Answer::Run => Approval::Run,
            Answer::RunAll => {
                self.approved = Approved(None);
                Approval::Run
            }
            Answer::Decline { feedback } => Approval::Decline { feedback },
            Answer::Quit => Approval::Quit,
        }
    }
}
