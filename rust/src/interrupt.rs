//! Cooperative cancellation. A long computation receives a [`Stop`] and checks it between blocks
//! of work (matrices of a batch, panels of a reduction, rows of a margin pass); once the caller has
//! requested a stop, the next check returns [`CoreError::Interrupted`]. The Python binding requests
//! a stop when the user presses Ctrl-C. Third-party kernels (faer's SVD and eigensolvers) cannot be
//! interrupted from outside; a stop takes effect at the next check after they return.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{CoreError, CoreResult};

/// A shared stop request; clones observe the same request.
#[derive(Clone, Debug, Default)]
pub struct Stop(Option<Arc<AtomicBool>>);

impl Stop {
    /// A token whose stop can be requested.
    pub fn new() -> Self {
        Stop(Some(Arc::new(AtomicBool::new(false))))
    }

    /// A token that never stops (direct Rust callers, tests).
    pub fn never() -> Self {
        Stop(None)
    }

    /// Asks every holder of this token to stop at its next check.
    pub fn request(&self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a stop has been requested.
    #[inline]
    pub fn is_requested(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// `Err(Interrupted)` once a stop has been requested.
    #[inline]
    pub fn check(&self) -> CoreResult<()> {
        if self.is_requested() {
            Err(CoreError::Interrupted)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_request() {
        let a = Stop::new();
        let b = a.clone();
        assert!(b.check().is_ok());
        a.request();
        assert_eq!(b.check(), Err(CoreError::Interrupted));
        let never = Stop::never();
        never.request();
        assert!(never.check().is_ok());
    }
}
