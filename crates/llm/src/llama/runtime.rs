//! The one thread that runs llama.cpp for the whole process.
//!
//! llama.cpp parallelises each decode with OpenMP, and OpenMP keeps one team of threads per
//! calling thread. Two models decoding from two threads (an agent's chat model and its embedding
//! model, or the benchmark's baseline beside Hamlet) leave two teams spinning against each other:
//! measured on 2 cores, generation fell from ~87 to ~34 tokens/s. So every model, context and
//! decode lives on this single thread; handles elsewhere send it jobs. Objects are kept in a
//! thread-local table keyed by id, so nothing that llama.cpp owns ever crosses threads.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::OnceLock;

use hamlet_core::{Error, Result};

type Task = Box<dyn FnOnce() + Send>;

thread_local! {
    static OBJECTS: RefCell<HashMap<u64, Box<dyn Any>>> = RefCell::new(HashMap::new());
    static ON_RUNTIME: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn sender() -> Result<&'static Sender<Task>> {
    static RUNTIME: OnceLock<std::result::Result<Sender<Task>, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Task>();
            std::thread::Builder::new()
                .name("hamlet-llama".into())
                .spawn(move || {
                    ON_RUNTIME.with(|r| r.set(true));
                    for task in rx {
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(task)).is_err() {
                            tracing::error!("a llama.cpp job panicked");
                        }
                    }
                })
                .map(|_| tx)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::backend("starting the llama.cpp thread", e.clone()))
}

/// Queues `task` on the llama.cpp thread without waiting for it.
pub(crate) fn submit(task: impl FnOnce() + Send + 'static) -> Result<()> {
    sender()?
        .send(Box::new(task))
        .map_err(|_| Error::backend("llama.cpp thread", "it has stopped"))
}

/// Runs `f` on the llama.cpp thread and waits for its result.
pub(crate) fn run<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R> {
    let (tx, rx) = mpsc::sync_channel(1);
    submit(move || {
        let _ = tx.send(f());
    })?;
    rx.recv().map_err(|_| {
        Error::backend(
            "llama.cpp thread",
            "the job panicked (RUST_LOG=error shows where)",
        )
    })
}

/// Keeps `value` on the llama.cpp thread; call from that thread. Returns its id.
pub(crate) fn keep<T: 'static>(value: T) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    OBJECTS.with(|o| o.borrow_mut().insert(id, Box::new(value)));
    id
}

/// Runs `f` on the object `id` of type `T`; call from the llama.cpp thread.
pub(crate) fn with<T: 'static, R>(id: u64, f: impl FnOnce(&mut T) -> R) -> Result<R> {
    OBJECTS.with(|o| {
        let mut objects = o.borrow_mut();
        let obj = objects
            .get_mut(&id)
            .and_then(|b| b.downcast_mut::<T>())
            .ok_or_else(|| Error::backend("llama.cpp thread", format!("object {id} is gone")))?;
        Ok(f(obj))
    })
}

/// An object kept on the llama.cpp thread; dropping the handle frees it there.
#[derive(Debug)]
pub(crate) struct Handle(pub(crate) u64);

impl Drop for Handle {
    fn drop(&mut self) {
        let id = self.0;
        let free = move || {
            let removed = OBJECTS.with(|o| o.borrow_mut().remove(&id));
            drop(removed);
        };
        if ON_RUNTIME.with(|r| r.get()) {
            free();
        } else {
            let _ = run(free);
        }
    }
}
