//! Many matrices at once: the one dispatcher behind every batch call (spectra, layer reports,
//! filters), with a memory budget.
//!
//! A per-matrix computation is a [`MatrixTask`]: one generic `run` for both element types and an
//! estimate of the bytes it holds at its peak. [`run_batch`] cuts the input, in order, into
//! consecutive waves whose estimated working sets sum to at most the budget (a matrix larger than
//! the budget forms a wave of its own) and runs each wave in parallel; the kernels inside are
//! parallel too, so a single large matrix still uses every core. Waves bound the memory that is in
//! flight: with plain work stealing, a thread waiting inside one matrix's decomposition may start
//! another matrix, and every matrix of the batch can end up in memory at once.

use rayon::prelude::*;

use crate::error::CoreResult;
use crate::interrupt::Stop;
use crate::matrix::{AnyMatrix, MatrixView, Scalar};

crate::named_enum! {
    /// What a batch call does with a matrix that fails.
    #[derive(Default)]
    pub enum ErrorPolicy for "errors" as "error policy" / "policies" {
        /// Raise the first failure (after the whole batch ran), naming the matrix.
        #[default]
        Raise = "raise",
        /// Return each failure in place of that matrix's result.
        Collect = "collect",
    }
}

/// Default memory budget of a batch call: the estimated working sets of the matrices in flight
/// sum to at most this many bytes.
pub const DEFAULT_MAX_WORKING_BYTES: usize = 1 << 30;

/// One per-matrix computation.
pub trait MatrixTask: Sync {
    /// The result for one matrix.
    type Output: Send;

    /// Estimated bytes held at the peak of [`MatrixTask::run`] on a rows×cols matrix.
    fn working_bytes(&self, rows: usize, cols: usize) -> usize;

    /// Computes the result for one matrix.
    fn run<T: Scalar>(&self, w: MatrixView<'_, T>, stop: &Stop) -> CoreResult<Self::Output>;
}

/// Runs `task` on one matrix of either element type.
pub fn run_one<K: MatrixTask>(task: &K, w: &AnyMatrix<'_>, stop: &Stop) -> CoreResult<K::Output> {
    stop.check()?;
    crate::with_view!(*w, w => task.run(w, stop))
}

/// The waves of [`run_batch`]: index ranges in input order.
pub fn waves(bytes: &[usize], max_working_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = start + 1;
        let mut total = bytes[start];
        while end < bytes.len() && total.saturating_add(bytes[end]) <= max_working_bytes {
            total += bytes[end];
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// Runs `task` on every matrix, in waves that respect `max_working_bytes`; results in input order.
/// After a stop request the remaining matrices report [`crate::error::CoreError::Interrupted`].
pub fn run_batch<K: MatrixTask>(
    task: &K,
    matrices: &[AnyMatrix<'_>],
    max_working_bytes: usize,
    stop: &Stop,
) -> Vec<CoreResult<K::Output>> {
    let bytes: Vec<usize> = matrices
        .iter()
        .map(|w| task.working_bytes(w.nrows(), w.ncols()))
        .collect();
    let mut results = Vec::with_capacity(matrices.len());
    for wave in waves(&bytes, max_working_bytes) {
        let part: Vec<CoreResult<K::Output>> = matrices[wave]
            .par_iter()
            .map(|w| run_one(task, w, stop))
            .collect();
        results.extend(part);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CoreError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count<'a> {
        in_flight: &'a AtomicUsize,
        peak: &'a AtomicUsize,
    }

    impl MatrixTask for Count<'_> {
        type Output = (usize, f64);
        fn working_bytes(&self, rows: usize, cols: usize) -> usize {
            rows * cols
        }
        fn run<T: Scalar>(&self, w: MatrixView<'_, T>, _stop: &Stop) -> CoreResult<(usize, f64)> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(20));
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok((w.nrows() * w.ncols(), w.get(0, 0).to_f64()))
        }
    }

    #[test]
    fn waves_respect_the_budget_and_keep_order() {
        assert_eq!(waves(&[3, 3, 3, 10, 1], 6), vec![0..2, 2..3, 3..4, 4..5]);
        assert_eq!(waves(&[], 6), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(waves(&[1, 1, 1], usize::MAX), vec![0..3]);
    }

    #[test]
    fn batches_run_in_order_within_the_budget() {
        let data: Vec<Vec<f32>> = (0..8).map(|k| vec![k as f32; 16]).collect();
        let views: Vec<AnyMatrix<'_>> = data
            .iter()
            .map(|d| AnyMatrix::F32(MatrixView::from_row_major(d, 4, 4)))
            .collect();
        let (in_flight, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let task = Count {
            in_flight: &in_flight,
            peak: &peak,
        };
        let out =
            crate::parallel::install(|| run_batch(&task, &views, 16, &Stop::never())).unwrap();
        assert_eq!(
            peak.load(Ordering::SeqCst),
            1,
            "a budget of one matrix runs them one by one"
        );
        let firsts: Vec<f64> = out.into_iter().map(|r| r.unwrap().1).collect();
        assert_eq!(firsts, (0..8).map(|k| k as f64).collect::<Vec<_>>());
        let stop = Stop::new();
        stop.request();
        assert!(run_batch(&task, &views, 64, &stop)
            .iter()
            .all(|r| r.as_ref().unwrap_err() == &CoreError::Interrupted));
        assert_eq!(ErrorPolicy::parse("collect").unwrap(), ErrorPolicy::Collect);
    }
}
