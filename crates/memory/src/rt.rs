//! The tokio runtime hidden inside the store. The public API is synchronous (like the `Llm` and
//! `Embedder` traits), so callers need no runtime of their own; sqlx and qdrant-client need one.

use std::future::Future;
use std::sync::Arc;

use crate::{Error, Result};

/// A current-thread runtime shared by the store and its indexes.
#[derive(Debug, Clone)]
pub struct Runtime {
    rt: Arc<tokio::runtime::Runtime>,
}

impl Runtime {
    pub fn new() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Invalid(format!("cannot start the memory store's runtime: {e}")))?;
        Ok(Runtime { rt: Arc::new(rt) })
    }

    /// Runs `f` to completion. Called from inside another tokio runtime (where blocking on a
    /// future would panic), it runs on a short-lived helper thread instead.
    pub fn block<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| match s.spawn(|| self.rt.block_on(f)).join() {
                Ok(out) => out,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            self.rt.block_on(f)
        }
    }
}
