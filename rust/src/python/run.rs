//! Running a kernel: on netsieve's own thread pool (rebuilt after fork, see `parallel.rs`), with the
//! GIL released, panics caught, and Ctrl-C honoured.
//!
//! The calling thread hands the job to the pool and waits, waking every 50 ms to let Python run
//! its signal handlers. When one raises (KeyboardInterrupt on Ctrl-C), the job's [`Stop`] is
//! requested and the call returns that exception at once. The job owns everything it reads (input
//! holders keep their arrays alive), so it may finish in the background: it stops at its next
//! check, or, inside a third-party kernel that cannot be interrupted (faer's SVD), when that
//! returns; its result is dropped. Kernels that return a partial result when stopped (vertex
//! descent) go through [`run_partial`], which waits for that result on the first Ctrl-C instead.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::Duration;

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

use crate::error::CoreResult;
use crate::interrupt::Stop;
use crate::parallel;

const POLL: Duration = Duration::from_millis(50);

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Runs `job` on the pool with the GIL released; see the module docs.
pub fn run<R, F>(py: Python<'_>, job: F) -> PyResult<R>
where
    R: Send + 'static,
    F: FnOnce(&Stop) -> CoreResult<R> + Send + 'static,
{
    run_ticking(py, job, |_| Ok(()))
}

/// [`run`], calling `tick` with the GIL on every wake (every 50 ms), e.g. to report progress; an
/// error from `tick` stops the job like Ctrl-C.
pub fn run_ticking<R, F, T>(py: Python<'_>, job: F, tick: T) -> PyResult<R>
where
    R: Send + 'static,
    F: FnOnce(&Stop) -> CoreResult<R> + Send + 'static,
    T: Fn(Python<'_>) -> PyResult<()> + Send,
{
    run_inner(py, job, tick, false)
}

/// [`run`] for a kernel that returns what it has when its [`Stop`] is requested (a partial result
/// with its own status): on Ctrl-C the stop is requested and the call waits for that result (one
/// check interval of the kernel) and returns it instead of raising. A second Ctrl-C while waiting,
/// or any other exception from a signal handler, is raised at once as in [`run`].
pub fn run_partial<R, F>(py: Python<'_>, job: F) -> PyResult<R>
where
    R: Send + 'static,
    F: FnOnce(&Stop) -> CoreResult<R> + Send + 'static,
{
    run_inner(py, job, |_| Ok(()), true)
}

fn run_inner<R, F, T>(py: Python<'_>, job: F, tick: T, partial: bool) -> PyResult<R>
where
    R: Send + 'static,
    F: FnOnce(&Stop) -> CoreResult<R> + Send + 'static,
    T: Fn(Python<'_>) -> PyResult<()> + Send,
{
    let pool = parallel::pool()?;
    let stop = Stop::new();
    let job_stop = stop.clone();
    let (tx, rx) = sync_channel(1);
    pool.spawn(move || {
        let out = catch_unwind(AssertUnwindSafe(|| job(&job_stop)));
        // The receiver is gone when the caller was interrupted: the result is dropped.
        let _ = tx.send(out);
    });
    let outcome = py.detach(move || {
        let mut stopping = false;
        loop {
            match rx.recv_timeout(POLL) {
                Ok(out) => return Ok(out),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = Python::attach(|py| py.check_signals().and_then(|_| tick(py))) {
                        stop.request();
                        let first_ctrl_c = partial
                            && !stopping
                            && Python::attach(|py| e.is_instance_of::<PyKeyboardInterrupt>(py));
                        if !first_ctrl_c {
                            return Err(e);
                        }
                        stopping = true;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Ok(Err(
                        Box::new("the worker thread vanished") as Box<dyn std::any::Any + Send>
                    ))
                }
            }
        }
    })?;
    match outcome {
        Ok(result) => Ok(result?),
        Err(payload) => Err(PyRuntimeError::new_err(format!(
            "internal error in netsieve (please report it): {}",
            panic_message(payload.as_ref())
        ))),
    }
}
