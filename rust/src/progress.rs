//! Progress of a long kernel, read by the caller while the kernel runs: units of work done out of
//! a total that the kernel may raise as it learns more (the local search adds directions).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Shared counters; clones observe the same progress.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<(AtomicUsize, AtomicUsize)>);

impl Progress {
    /// A fresh counter at 0 of 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `units` to the total.
    pub fn expect(&self, units: usize) {
        self.0 .1.fetch_add(units, Ordering::Relaxed);
    }

    /// Marks `units` as done.
    pub fn advance(&self, units: usize) {
        self.0 .0.fetch_add(units, Ordering::Relaxed);
    }

    /// (done, total).
    pub fn get(&self) -> (usize, usize) {
        (
            self.0 .0.load(Ordering::Relaxed),
            self.0 .1.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_counts() {
        let p = Progress::new();
        let q = p.clone();
        p.expect(10);
        q.advance(3);
        assert_eq!(p.get(), (3, 10));
    }
}
