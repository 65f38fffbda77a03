//! Exact slab counts #(T ∩ S(w, b, δ)) for given directions, offsets and widths: the building block
//! of the doubling condition, and what the tests check against brute force.
//!
//! A point is inside when |fl(w·x + b)| < δ (the open convention of the module docs). For a fixed
//! b, fl(p + b) is monotone in p, so on sorted projections the count is two binary searches:
//! #{fl(p + b) < δ} − #{fl(p + b) ≤ −δ}, exactly what a brute-force test computes point by point.

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;

use super::projection::{project, sort_values, unit, Points};

/// Count of sorted projections `p` inside the open slab |p + b| < δ.
#[inline]
pub fn count_in_slab(sorted: &[f64], offset: f64, delta: f64) -> usize {
    let below_upper = sorted.partition_point(|&p| p + offset < delta);
    let at_or_below_lower = sorted.partition_point(|&p| p + offset <= -delta);
    below_upper - at_or_below_lower
}

/// Refuses negative, zero or non-finite widths and non-finite offsets.
pub fn check_grid(offsets: &[f64], deltas: &[f64]) -> CoreResult<()> {
    if let Some((i, &b)) = offsets.iter().enumerate().find(|(_, b)| !b.is_finite()) {
        return Err(CoreError::invalid(
            "offsets",
            format!("offset {i} is {b}; offsets must be finite"),
        ));
    }
    if let Some((i, &d)) = deltas
        .iter()
        .enumerate()
        .find(|(_, d)| !(d.is_finite() && **d > 0.0))
    {
        return Err(CoreError::invalid(
            "deltas",
            format!("width {i} is {d}; slab half-widths must be positive and finite"),
        ));
    }
    Ok(())
}

/// Counts for every (direction, offset, width), row-major in that order. Directions are rows of
/// `directions` (normalised here); the points must be finite (checked by the caller).
pub fn slab_counts(
    points: &Points,
    directions: &[Vec<f64>],
    offsets: &[f64],
    deltas: &[f64],
    stop: &Stop,
) -> CoreResult<Vec<u64>> {
    check_grid(offsets, deltas)?;
    let units = directions
        .iter()
        .enumerate()
        .map(|(i, w)| unit(w, "directions", i))
        .collect::<CoreResult<Vec<_>>>()?;
    let per_direction = offsets.len() * deltas.len();
    let mut out = vec![0u64; units.len() * per_direction];
    if per_direction == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(per_direction)
        .zip(units.par_iter())
        .try_for_each(|(row, w)| -> CoreResult<()> {
            stop.check()?;
            let mut p = vec![Vec::new()];
            project(points, &[w.as_slice()], &mut p);
            let mut sorted = p.pop().expect("one projection");
            sort_values(&mut sorted, &mut Vec::new());
            for (ib, &b) in offsets.iter().enumerate() {
                for (ig, &d) in deltas.iter().enumerate() {
                    row[ib * deltas.len() + ig] = count_in_slab(&sorted, b, d) as u64;
                }
            }
            Ok(())
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::MatrixView;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn brute(points: &Points, w: &[f64], b: f64, d: f64) -> u64 {
        (0..points.len())
            .filter(|&i| (super::super::projection::dot(points.row(i), w) + b).abs() < d)
            .count() as u64
    }

    #[test]
    fn counts_equal_brute_force_on_integer_data_with_points_on_the_faces() {
        let mut rng = SmallRng::seed_from_u64(11);
        let (n, d) = (400, 3);
        let data: Vec<f64> = (0..n * d)
            .map(|_| rng.random_range(-4..=4) as f64)
            .collect();
        let points = Points::from_view(MatrixView::from_row_major(&data, n, d));
        let dirs = vec![
            vec![1.0, 0.0, 0.0],
            vec![0.0, -2.0, 0.0],
            vec![0.3, 0.4, -0.5],
        ];
        let offsets = [-2.0, -1.0, 0.0, 0.5, 1.0, 3.0];
        let deltas = [0.5, 1.0, 2.0, 4.0];
        let got = slab_counts(&points, &dirs, &offsets, &deltas, &Stop::never()).unwrap();
        for (iw, w) in dirs.iter().enumerate() {
            let w = unit(w, "w", 0).unwrap();
            for (ib, &b) in offsets.iter().enumerate() {
                for (ig, &dl) in deltas.iter().enumerate() {
                    let at = (iw * offsets.len() + ib) * deltas.len() + ig;
                    assert_eq!(got[at], brute(&points, &w, b, dl), "w{iw} b={b} δ={dl}");
                }
            }
        }
        // The faces are open: on the first axis, b = 0, δ = 1 holds only the points at 0.
        let zeros = (0..n).filter(|&i| points.row(i)[0] == 0.0).count() as u64;
        assert_eq!(got[(2 * deltas.len()) + 1], zeros);
    }

    #[test]
    fn bad_grids_are_refused_by_name() {
        let points = Points::from_view(MatrixView::from_row_major(&[0.0, 1.0], 2, 1));
        let e = slab_counts(&points, &[vec![1.0]], &[0.0], &[0.0], &Stop::never()).unwrap_err();
        assert!(e.to_string().contains("deltas"));
        let e =
            slab_counts(&points, &[vec![1.0]], &[f64::NAN], &[1.0], &Stop::never()).unwrap_err();
        assert!(e.to_string().contains("offsets"));
        let e = slab_counts(&points, &[vec![0.0]], &[0.0], &[1.0], &Stop::never()).unwrap_err();
        assert!(e.to_string().contains("directions"));
    }
}
