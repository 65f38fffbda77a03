//! Where the time of `shrink(W, "operator")` goes, step by step, on a float32 N×M matrix with 32
//! planted components (issue #16), and the per-step costs of `singular_values`' own routes.
//!
//!     cargo run --release --example filter_profile -- filter ROWS COLS [SPIKES]
//!     cargo run --release --example filter_profile -- routes ROWS COLS
//!     cargo run --release --example filter_profile -- refine ROWS COLS
//!
//! One line per step: wall seconds and process CPU seconds. The pool size follows
//! RAYON_NUM_THREADS (default: every CPU). `routes` prints one JSON row of
//! benches/results/route_costs.json (column_check, gram_product, condition_check, eigenvalues, svd:
//! the route's two-stage SVD, svd_faer: faer's one-stage SVD, for comparison; eigenvalues_kept:
//! the same keeping the band form and its reflectors, as the automatic route does from the
//! two-stage size on; refine_five: the refinement of five tiny columns' values). `refine` times the
//! refinement against the width of its subspace, and the SVD.

use std::time::Instant;

use _netsieve::interrupt::Stop;
use _netsieve::linalg::band_eigenvectors::band_eigenvectors;
use _netsieve::linalg::decomposition::{
    gram_factor_check, gram_lower, has_negligible_column, parallelism, svd_singular_values,
    tridiagonal_condition_passes, Factors,
};
use _netsieve::linalg::leading_eigenvectors::leading_eigenvectors;
use _netsieve::linalg::small_values::{plan_refinement, refined_values, Refinement};
use _netsieve::linalg::symmetric_eigenvalues::{tridiagonalise, tridiagonalise_keeping_band};
use _netsieve::linalg::tridiagonal_eigenvalues::tridiagonal_eigenvalues;
use _netsieve::matrix::{to_f64_mat, MatrixView};
use _netsieve::shrinkage::filter::{filter_matrix, GivenOptions, ShrinkMethod};
use _netsieve::shrinkage::reconstruct::reconstruct_row_major;
use faer::Mat;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use rand_distr::StandardNormal;

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

struct Clock(Instant, f64);

impl Clock {
    fn start() -> Self {
        Clock(Instant::now(), cpu_seconds())
    }
    fn lap(&mut self, label: &str) -> f64 {
        let (wall, cpu) = (self.0.elapsed().as_secs_f64(), cpu_seconds() - self.1);
        eprintln!("{label:<44} wall {wall:8.3} s   cpu {cpu:8.3} s");
        *self = Clock::start();
        wall
    }
}

/// Gaussian noise plus `spikes` planted rank-one components of strengths 2..4 times the detection
/// threshold (the bench's draw), float32, row-major.
fn planted(rows: usize, cols: usize, spikes: usize) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(0);
    let mut w: Vec<f32> = (0..rows * cols)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect();
    let threshold = ((rows * cols) as f64).powf(0.25);
    for k in 0..spikes {
        let theta = threshold * (2.0 + 2.0 * k as f64 / spikes.max(1) as f64);
        let a: Vec<f64> = (0..rows).map(|_| rng.sample(StandardNormal)).collect();
        let b: Vec<f64> = (0..cols).map(|_| rng.sample(StandardNormal)).collect();
        let scale = theta / ((rows * cols) as f64).sqrt();
        for i in 0..rows {
            for j in 0..cols {
                w[i * cols + j] += (scale * a[i] * b[j]) as f32;
            }
        }
    }
    w
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|x| x.parse().ok()).unwrap_or(d);
    let mode = args.first().map(String::as_str).unwrap_or("filter");
    let (rows, cols, spikes) = (arg(1, 2048), arg(2, 5632), arg(3, 32));
    let stop = Stop::never();
    let w = planted(rows, cols, spikes);
    let view = MatrixView::from_row_major(&w, rows, cols);
    let tall = if rows < cols { view.t() } else { view };
    eprintln!(
        "{mode} {rows}x{cols}, {spikes} planted, {} threads",
        rayon::current_num_threads()
    );
    let mut clock = Clock::start();
    let a = to_f64_mat(tall);
    clock.lap("f64 copy (tall orientation)");
    let par = parallelism(a.nrows(), a.ncols());
    let negligible = has_negligible_column(a.as_ref());
    let column_check = clock.lap("column check (negligible column)");
    let g = gram_lower(a.as_ref(), par);
    let gram = clock.lap("Gram product (lower triangle)");
    let m = g.ncols();
    if mode == "routes" {
        let mut work = g.clone();
        clock = Clock::start();
        let t = tridiagonalise(&mut work, par, &stop).unwrap();
        let reduce = clock.lap("tridiagonalisation");
        let passes = !negligible && tridiagonal_condition_passes(&t);
        let check = clock.lap("condition check (Sturm count)");
        let lambda = tridiagonal_eigenvalues(&t.diag, &t.subdiag).unwrap();
        let values = clock.lap("tridiagonal eigenvalues (root-free QR)");
        assert!(passes && lambda.len() == m);
        let _ = svd_singular_values(&mut a.clone(), par, &stop).unwrap();
        let svd = clock.lap("SVD values (the route's: two-stage bidiagonalisation)");
        let _ = a.singular_values().unwrap();
        let svd_faer = clock.lap("SVD values (faer's one-stage)");
        // Five tiny columns (norms 1e-6..1e-9 relative): the refinement of five values.
        let mut tiny = a.clone();
        for (j, scale) in [1e-6, 1e-7, 3e-8, 1e-8, 1e-9].iter().enumerate() {
            tiny.col_mut(j).iter_mut().for_each(|x| *x *= scale);
        }
        let mut g = gram_lower(tiny.as_ref(), par);
        clock = Clock::start();
        let (t, r) = tridiagonalise_keeping_band(&mut g, par, &stop).unwrap();
        let reduce_kept = clock.lap("tridiagonalisation keeping the band form");
        let plan = plan_refinement(&t).expect("five values to refine");
        let lambda = tridiagonal_eigenvalues(&t.diag, &t.subdiag).unwrap();
        clock = Clock::start();
        let refined = refined_values(tiny.as_ref(), g, r, &lambda, plan, par, &stop).unwrap();
        let refine = clock.lap(&format!("refinement ({plan:?})"));
        assert!(refined.is_some());
        println!(
            "{{\"shape\": [{rows}, {cols}], \"threads\": {}, \"column_check\": {column_check:.4}, \
             \"gram_product\": {gram:.3}, \"condition_check\": {check:.4}, \"eigenvalues\": {:.3}, \
             \"eigenvalues_kept\": {:.3}, \"refine_five\": {refine:.3}, \
             \"svd\": {svd:.3}, \"svd_faer\": {svd_faer:.3}}}",
            rayon::current_num_threads(),
            reduce + values,
            reduce_kept + values
        );
        return;
    }
    if mode == "keep" {
        // The tridiagonalisation with and without keeping the band form, alternately, same G.
        let (mut plain, mut kept) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..3 {
            let mut work = g.clone();
            clock = Clock::start();
            let _ = tridiagonalise(&mut work, par, &stop).unwrap();
            plain = plain.min(clock.lap("tridiagonalisation"));
            let mut work = g.clone();
            clock = Clock::start();
            let _ = tridiagonalise_keeping_band(&mut work, par, &stop).unwrap();
            kept = kept.min(clock.lap("tridiagonalisation keeping the band form"));
        }
        println!("{{\"plain\": {plain:.3}, \"kept\": {kept:.3}}}");
        return;
    }
    if mode == "refine" {
        // The refinement's cost against the subspace's width q (five tiny columns, q forced).
        let mut tiny = a.clone();
        for (j, scale) in [1e-6, 1e-7, 3e-8, 1e-8, 1e-9].iter().enumerate() {
            tiny.col_mut(j).iter_mut().for_each(|x| *x *= scale);
        }
        let g = gram_lower(tiny.as_ref(), par);
        for q in [13, m / 32, m / 16, m / 8, m / 4, m / 2] {
            let mut band = g.clone();
            let (t, r) = tridiagonalise_keeping_band(&mut band, par, &stop).unwrap();
            let lambda = tridiagonal_eigenvalues(&t.diag, &t.subdiag).unwrap();
            let plan = Refinement {
                targets: 5,
                subspace: q,
            };
            clock = Clock::start();
            let _ = refined_values(tiny.as_ref(), band, r, &lambda, plan, par, &stop).unwrap();
            let refine = clock.lap(&format!("refinement, q = {q}"));
            println!("{{\"q\": {q}, \"m\": {m}, \"refine\": {refine:.3}}}");
        }
        clock = Clock::start();
        let _ = svd_singular_values(&mut tiny, par, &stop).unwrap();
        let svd = clock.lap("SVD values");
        println!("{{\"svd\": {svd:.3}}}");
        return;
    }
    let full = Mat::from_fn(m, m, |i, j| if i >= j { g[(i, j)] } else { g[(j, i)] });
    let mut work = g.clone();
    clock.lap("copies of G (profiling only)");
    let (t, reflectors) = tridiagonalise_keeping_band(&mut work, par, &stop).unwrap();
    clock.lap("values path: two-stage tridiagonalisation");
    let lambda = tridiagonal_eigenvalues(&t.diag, &t.subdiag).unwrap();
    clock.lap("values path: root-free QR");
    let k = lambda
        .iter()
        .rev()
        .take_while(|&&l| l > 1.05 * lambda[m - 1 - spikes])
        .count();
    let wanted: Vec<f64> = (0..k).map(|j| lambda[m - 1 - j]).collect();
    let mut v = band_eigenvectors(
        work.as_ref(),
        reflectors.band_width,
        &wanted,
        lambda[m - 1],
        par,
    )
    .unwrap();
    clock.lap(&format!(
        "kept vectors: inverse iteration on the band (k = {k})"
    ));
    reflectors.apply(work.as_ref(), v.as_mut(), par);
    clock.lap("kept vectors: stage-1 reflectors");
    let av = gram_factor_check(a.as_ref(), &v, &wanted, lambda[m - 1], par);
    let ok = av.is_some();
    clock.lap(&format!("kept vectors: check against AᵀA (passes: {ok})"));
    let cheb = leading_eigenvectors(full.as_ref(), &lambda, k, par, &stop).unwrap();
    clock.lap(&format!(
        "(for comparison) subspace iteration on G (partial: {})",
        cheb.is_some()
    ));
    let s: Vec<f64> = lambda.iter().rev().map(|l| l.max(0.0).sqrt()).collect();
    let eta: Vec<f64> = (0..m)
        .map(|i| if i < k { 0.9 * s[i] } else { 0.0 })
        .collect();
    clock = Clock::start();
    let data =
        reconstruct_row_major::<f32>(tall, Factors::Gram { a, v, av }, &s, &eta, rows < cols);
    clock.lap("reconstruction, straight into row-major float32");
    drop((data, g));
    let options = GivenOptions::default()
        .resolve(ShrinkMethod::Operator)
        .unwrap();
    let f = filter_matrix(view, &options, &stop).unwrap();
    clock.lap(&format!(
        "whole filter_matrix(operator): kept {}, route {}",
        f.record.kept_rank, f.record.decomposition
    ));
}
