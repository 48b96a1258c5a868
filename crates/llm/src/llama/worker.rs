//! A thread that owns a llama.cpp model and context and runs jobs sent to it.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use hamlet_core::{Error, Result};

pub(crate) struct Worker<J: Send + 'static> {
    tx: Option<Sender<J>>,
    handle: Option<JoinHandle<()>>,
}

impl<J: Send + 'static> Worker<J> {
    /// Starts `body` on a new thread. `body` loads what it needs, calls `ready` once with the
    /// outcome (an error ends the thread), then runs the jobs it receives until the handle drops.
    pub(crate) fn spawn<T, F>(name: &str, body: F) -> Result<(Self, T)>
    where
        T: Send + 'static,
        F: FnOnce(Receiver<J>, &dyn Fn(Result<T>)) + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<J>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<T>>(1);
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let ready = move |r: Result<T>| {
                    let _ = ready_tx.send(r);
                };
                body(rx, &ready);
            })
            .map_err(|e| Error::backend("starting the llama.cpp worker thread", e))?;
        let value = ready_rx.recv().map_err(|_| {
            Error::backend(
                "loading the model",
                "the worker thread stopped before it was ready",
            )
        })??;
        Ok((
            Worker {
                tx: Some(tx),
                handle: Some(handle),
            },
            value,
        ))
    }

    pub(crate) fn send(&self, job: J) -> Result<()> {
        self.tx
            .as_ref()
            .ok_or_else(|| Error::backend("llama.cpp worker", "stopped"))?
            .send(job)
            .map_err(|_| Error::backend("llama.cpp worker", "the worker thread has stopped"))
    }
}

impl<J: Send + 'static> Drop for Worker<J> {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
