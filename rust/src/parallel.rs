//! The thread pool every kernel runs on.
//!
//! rayon's global pool cannot be rebuilt, and its worker threads do not survive `fork()`: in a
//! forked child (Python's `multiprocessing` with the "fork" start method, DataLoader workers) the
//! first parallel call would wait forever for threads that do not exist. So kernels run inside
//! [`pool`], which remembers the process id it was built in and builds a fresh pool when called
//! from a different process. The stale pool of the parent is leaked on purpose: its threads exist
//! only in the parent, and dropping it in the child would signal threads that are not there.
//!
//! The pool's size follows rayon's rules (`RAYON_NUM_THREADS`, else the number of CPUs).

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{CoreError, CoreResult};

struct PoolOfProcess {
    pid: u32,
    pool: ThreadPool,
}

static CURRENT: AtomicPtr<PoolOfProcess> = AtomicPtr::new(ptr::null_mut());

/// The pool of the current process, built on first use (lock-free, so a fork taken while another
/// thread holds no lock of ours can never leave the child blocked on one).
pub fn pool() -> CoreResult<&'static ThreadPool> {
    let pid = std::process::id();
    let seen = CURRENT.load(Ordering::Acquire);
    // SAFETY: pools are never freed once published (see the module docs), so the pointer stays valid.
    if let Some(slot) = unsafe { seen.as_ref() } {
        if slot.pid == pid {
            return Ok(&slot.pool);
        }
    }
    let built = ThreadPoolBuilder::new()
        .thread_name(|i| format!("netsieve-{i}"))
        .build()
        .map_err(|e| CoreError::Resource(format!("cannot start netsieve's worker threads: {e}")))?;
    let fresh = Box::into_raw(Box::new(PoolOfProcess { pid, pool: built }));
    match CURRENT.compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: just published and never freed.
        Ok(_) => Ok(unsafe { &(*fresh).pool }),
        Err(other) => {
            // Another thread of this process published a pool first: use it, drop ours (its
            // threads exist in this process, so dropping is safe).
            // SAFETY: `fresh` was never shared.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: published pointers are never freed.
            match unsafe { other.as_ref() } {
                Some(slot) if slot.pid == pid => Ok(&slot.pool),
                _ => pool(),
            }
        }
    }
}

/// Runs `op` inside the pool (blocking the caller until it returns).
pub fn install<R: Send>(op: impl FnOnce() -> R + Send) -> CoreResult<R> {
    Ok(pool()?.install(op))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn the_pool_is_built_once_and_runs_parallel_work() {
        let a = pool().unwrap() as *const ThreadPool;
        let b = pool().unwrap() as *const ThreadPool;
        assert_eq!(a, b);
        let sum: u64 = install(|| (0..10_000u64).into_par_iter().sum()).unwrap();
        assert_eq!(sum, 10_000 * 9_999 / 2);
        let name = install(|| std::thread::current().name().map(String::from)).unwrap();
        assert!(name.unwrap().starts_with("netsieve-"));
    }
}
