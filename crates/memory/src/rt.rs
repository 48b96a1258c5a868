//! The private tokio runtime of the blocking facades: [`crate::MemoryStore`] (over the async
//! store) and [`crate::QdrantIndex`] (whose client is async but whose index trait blocks). An
//! async caller uses [`crate::AsyncMemoryStore`] on its own runtime and never meets this one.

use std::future::Future;
use std::sync::Arc;

use crate::{Error, Result};

/// A current-thread runtime behind a blocking API.
#[derive(Debug, Clone)]
pub struct Runtime {
    rt: Arc<Inner>,
}

#[derive(Debug)]
struct Inner(Option<tokio::runtime::Runtime>);

impl Drop for Inner {
    /// Dropping a runtime blocks, which tokio forbids inside another runtime (a store dropped in
    /// async code); there it is shut down in the background instead.
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            }
        }
    }
}

impl Runtime {
    pub fn new() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Invalid(format!("cannot start the memory store's runtime: {e}")))?;
        Ok(Runtime {
            rt: Arc::new(Inner(Some(rt))),
        })
    }

    /// Runs `f` to completion. Called from inside another tokio runtime (where blocking on a
    /// future would panic), it runs on a short-lived helper thread instead.
    pub fn block<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let Some(rt) = self.rt.0.as_ref() else {
            unreachable!("the runtime is only taken out when it is dropped");
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| match s.spawn(|| rt.block_on(f)).join() {
                Ok(out) => out,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            rt.block_on(f)
        }
    }
}
