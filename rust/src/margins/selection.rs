//! The k smallest margins by selection (expected and worst-case O(N), `select_nth_unstable`),
//! not by sorting: the points a margin-based data reduction keeps.

use std::cmp::Ordering;

use crate::error::{CoreError, CoreResult};
use crate::matrix::Scalar;

/// Total order (margin, index): ties in the margin go to the smaller index, so the result never
/// depends on the selection algorithm's internal pivots. −0 and +0 are the same margin: adding +0
/// turns −0 into +0 before `total_cmp` (which alone would order −0 < +0); NaN is rejected upfront.
#[inline]
fn by_margin_then_index<T: Scalar>(m: &[T], a: u64, b: u64) -> Ordering {
    let margin = |i: u64| m[i as usize].to_f64() + 0.0;
    margin(a).total_cmp(&margin(b)).then(a.cmp(&b))
}

/// Indices of the `k` smallest margins, in ascending (margin, index) order.
///
/// Selection costs O(N); the final ordering of the k winners costs O(k log k).
/// −Inf and +Inf are ordinary values here, −0 and +0 are equal margins; NaN is an error.
pub fn lowest_margins<T: Scalar>(m: &[T], k: usize) -> CoreResult<Vec<u64>> {
    if m.is_empty() {
        return Err(CoreError::Empty { what: "margins" });
    }
    if let Some(i) = m.iter().position(|v| v.to_f64().is_nan()) {
        return Err(CoreError::NonFinite {
            what: "margins",
            value: f64::NAN,
            location: format!("index {i}"),
        });
    }
    if k > m.len() {
        return Err(CoreError::invalid(
            "k",
            format!(
                "must lie in 0..{} (the number of margins), got {k}",
                m.len()
            ),
        ));
    }
    if k == 0 {
        return Ok(Vec::new());
    }
    let mut idx: Vec<u64> = (0..m.len() as u64).collect();
    if k < m.len() {
        idx.select_nth_unstable_by(k - 1, |&a, &b| by_margin_then_index(m, a, b));
        idx.truncate(k);
    }
    idx.sort_unstable_by(|&a, &b| by_margin_then_index(m, a, b));
    Ok(idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_stable_sort_with_ties() {
        let m: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 23) as f32 - 5.0).collect();
        let mut order: Vec<u64> = (0..m.len() as u64).collect();
        order.sort_by(|&a, &b| m[a as usize].partial_cmp(&m[b as usize]).unwrap());
        for k in [0, 1, 5, 44, 999, 1000] {
            assert_eq!(lowest_margins(&m, k).unwrap(), order[..k].to_vec(), "k={k}");
        }
    }

    #[test]
    fn rejects_nan_and_too_large_k() {
        assert!(lowest_margins(&[1.0f64, f64::NAN], 1).is_err());
        assert!(lowest_margins(&[1.0f64], 2).is_err());
        assert!(lowest_margins::<f64>(&[], 0).is_err());
    }

    #[test]
    fn signed_zeros_are_equal_margins_and_ties_go_to_the_smaller_index() {
        // lowest_margins([0., -0., 0., -0.], 4) gave [1, 3, 0, 2]: total_cmp orders −0 < +0.
        let m = [0.0f64, -0.0, 0.0, -0.0];
        for k in 1..=4 {
            assert_eq!(
                lowest_margins(&m, k).unwrap(),
                (0..k as u64).collect::<Vec<_>>()
            );
        }
        let m = [1.0f32, 0.0, -0.0, f32::NEG_INFINITY, -0.0, 0.0];
        assert_eq!(lowest_margins(&m, 6).unwrap(), vec![3, 1, 2, 4, 5, 0]);
        assert_eq!(lowest_margins(&m, 3).unwrap(), vec![3, 1, 2]);
    }
}
