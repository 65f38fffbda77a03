//! The filters' partial route (`route = "partial"`): the methods that keep only leading
//! components ("hard", "optimal_hard", "operator", "frobenius", "nuclear") shrink the spikes
//! found by the analysis' partial route (`spectral/partial.rs`) without a full decomposition.
//!
//! Steps: the partial fit with the spikes' right vectors V_c (block Krylov on G = WᵀW, W read in
//! place; σ̂ from the trace less the spike energies, the Tracy–Widom spike count, the white-noise
//! dispersion check); η = the method's shrinker of the spike values with σ̂ and the shape, as the
//! full route passes its fit; then W' = Σ_{i<k} ηᵢuᵢvᵢᵀ with uᵢ = W·vᵢ/sᵢ, computed as
//! (W·V_k·diag(η/s))·V_kᵀ in panels of rows and columns of the output, in the input's orientation
//! and element type, with W·V_k from the fit (the images W·Q of its products, `partial`): no
//! pass over W after the fit.
//!
//! Where the time goes (measured on a loaded 2-core machine, load ≈ 3, one thread, 32 planted
//! spikes, float32; the route's steps timed inside): at 2048×5632 (Krylov dimension 108) the
//! products with G took 0.55-0.77 s, the rebuild 0.13-0.14 s, the dispersion probes 0.04-0.08 s,
//! the scan 0.03-0.05 s, reorthogonalisation and Rayleigh–Ritz 0.05-0.06 s; at 4096×11008
//! (dimension 104) 2.2-2.5 s, 0.39-0.51 s, 0.18-0.31 s, 0.07-0.14 s and 0.12-0.15 s. The
//! products' narrow kernels (`spectral/gram_narrow.rs`), the rebuild's own kernel (`assemble`,
//! 0.26-0.27 s at 4096×11008 against 0.39-0.51 s with faer's product per panel) and a vectorised
//! scan took the route to 0.44-0.55 s and 1.65-1.86 s there (against 0.60-0.61 and 1.94-3.38 s
//! for the build before in the same minutes, two rounds; benches/bench_filter_routes.py --partial).
//!
//! Accuracy: every spike's Ritz value is within ‖rⱼ‖²/gapⱼ of its eigenvalue (relative residual
//! ≤ 1e-6, so 1e-12·θ/gap relative) and the spike subspace within an angle of
//! `PARTIAL_VECTOR_TOLERANCE` (sin Θ ≤ ‖R‖_F/(θ_c − t²)); W' is then within about
//! 2·`PARTIAL_VECTOR_TOLERANCE`·‖W'‖ of Σ ηᵢ(true uᵢvᵢᵀ). σ̂ is not the full route's quantile σ
//! (they agree to about 1 % on a white bulk), so η and the kept rank can differ where σ moves a
//! value across the threshold or through the shrinker; the benchmark and tests compare both.
//!
//! Refusals (the full route answers, the record says why): every refusal of the partial fit
//! (median σ, which "optimal_hard" uses unless `sigma_method="quantile"` or σ is given; the
//! deformed bulk asked for; a small side; no convergence; a bulk that is not white), and a
//! method's cut below the spike threshold (values past the spikes are not computed).
//! The structural misfits ("optshrink", "porter_thomas", "fraction") never get here: `route` is
//! not one of their options (`methods.rs`).

use faer::{Mat, MatRef, Par};
use rayon::prelude::*;

use crate::error::CoreResult;
use crate::interrupt::Stop;
use crate::linalg::leading_eigenvectors::product;
use crate::matrix::{MatrixView, Scalar};
use crate::spectral::partial::{partial_fit_with_vectors, PartialFit};

use super::methods::FilterOptions;
use super::shrunk_values::shrunk_values;

/// Lines (rows or columns) of W widened to f64 at a time by the reconstruction.
const PANEL: usize = 64;

/// What the partial route gives for one matrix.
pub struct PartialFiltered<T> {
    /// Row-major W', the input's shape and element type.
    pub data: Vec<T>,
    /// The partial fit.
    pub fit: PartialFit,
    /// η of `fit.leading`, in the same order.
    pub eta: Vec<f64>,
    /// The cut applied.
    pub threshold: Option<f64>,
}

/// The partial route for one matrix: `Ok(Ok(..))`, or `Ok(Err(reason))` when it refuses and the
/// full route must answer.
pub fn filter_partial<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &FilterOptions,
    stop: &Stop,
) -> CoreResult<Result<PartialFiltered<T>, String>> {
    let (fit, vectors) = match partial_fit_with_vectors(w, &options.fit, stop)? {
        Ok(found) => found,
        Err(why) => return Ok(Err(why)),
    };
    stop.check()?;
    let noise = fit.as_noise_fit(options.fit.sigma.is_some());
    let shrunk = shrunk_values(&fit.leading, Some(&noise), options, None)?;
    if let Some(cut) = shrunk.threshold.filter(|&c| c < fit.spike_threshold) {
        return Ok(Err(format!(
            "the method's cut {cut:.6e} lies below the spike threshold {:.6e}: values past the spikes would be kept, and the partial route does not compute them",
            fit.spike_threshold
        )));
    }
    // The shrinkers are non-decreasing in s, so the kept components are a prefix of the spikes.
    let kept = shrunk.eta.iter().take_while(|&&e| e > 0.0).count();
    debug_assert!(kept <= vectors.right.ncols() && shrunk.eta[kept..].iter().all(|&e| e == 0.0));
    let data = assemble(
        (w.nrows(), w.ncols()),
        vectors.right.subcols(0, kept),
        vectors.image.subcols(0, kept),
        &fit.leading,
        &shrunk.eta[..kept],
    );
    Ok(Ok(PartialFiltered {
        data,
        eta: shrunk.eta,
        threshold: shrunk.threshold,
        fit,
    }))
}

/// Row-major W' = U_k·diag(η)·V_kᵀ of W's shape and element type, from V_k (the right vectors of
/// the tall orientation, k columns), the values s and η (k of each): uᵢ = W·vᵢ/sᵢ, W·V_k computed
/// here one panel of W at a time (widened to f64, products in f64); the filter takes W·V_k from
/// the Krylov fit instead ([`assemble`]).
pub fn rebuild<T: Scalar>(
    w: MatrixView<'_, T>,
    v: MatRef<'_, f64>,
    s: &[f64],
    eta: &[f64],
) -> Vec<T> {
    let oriented = if w.nrows() >= w.ncols() { w } else { w.t() };
    let (n, m) = (oriented.nrows(), oriented.ncols());
    let panels: Vec<Mat<f64>> = (0..n.div_ceil(PANEL))
        .into_par_iter()
        .map(|b| {
            let (r0, nr) = (b * PANEL, PANEL.min(n - b * PANEL));
            let panel = Mat::from_fn(nr, m, |i, j| oriented.get(r0 + i, j).to_f64());
            product(panel.as_ref(), v, Par::Seq)
        })
        .collect();
    let image = Mat::from_fn(n, v.ncols(), |i, j| panels[i / PANEL][(i % PANEL, j)]);
    assemble((w.nrows(), w.ncols()), v, image.as_ref(), s, eta)
}

/// Row-major W' (`shape` rows × columns, element type T) from V_k, W·V_k (the tall orientation,
/// N×k) and the values s and η: the tall W' = (W·V_k·diag(η/s))·V_kᵀ, the wide one its transpose
/// V_k·diag(η/s)·(W·V_k)ᵀ, `PANEL` rows at a time: each entry is Σ_κ lᵢκ·rⱼκ summed in f64 in the
/// order of κ (fused multiply-adds, the same order with and without AVX2), rounded once to T. Why
/// its own kernel: a rank-k product of k ≈ 32 is too thin for faer's GEMM to reach speed (5-6
/// GFLOP/s measured here, with an f64 block per panel then rounded); the kernel packs the right
/// factor once in `WIDTH`-column strips and keeps a 4 × `WIDTH` block of W' in registers.
pub fn assemble<T: Scalar>(
    (rows, cols): (usize, usize),
    v: MatRef<'_, f64>,
    image: MatRef<'_, f64>,
    s: &[f64],
    eta: &[f64],
) -> Vec<T> {
    let k = v.ncols();
    let mut out = vec![T::from_f64(0.0); rows * cols];
    if k == 0 || rows == 0 || cols == 0 {
        return out;
    }
    let (left, right) = if rows >= cols { (image, v) } else { (v, image) };
    // Row i of the left factor, k values at i·k.
    let left: Vec<f64> = (0..rows * k)
        .map(|e| left[(e / k, e % k)] * (eta[e % k] / s[e % k]))
        .collect();
    // Strip b of the right factor: for each κ, its `WIDTH` columns b·WIDTH.. (zero past cols).
    let strips = cols.div_ceil(WIDTH);
    let mut packed = vec![0.0; strips * k * WIDTH];
    for (b, strip) in packed.chunks_mut(k * WIDTH).enumerate() {
        for kk in 0..k {
            for c in 0..WIDTH.min(cols - b * WIDTH) {
                strip[kk * WIDTH + c] = right[(b * WIDTH + c, kk)];
            }
        }
    }
    out.par_chunks_mut(PANEL * cols)
        .enumerate()
        .for_each(|(p, chunk)| {
            let r0 = p * PANEL;
            // `GROUP_STRIPS` strips (k·12·42 f64, 130 KiB at k = 32) stay in L2 while every
            // row of the panel uses them.
            for (g, group) in packed.chunks(k * WIDTH * GROUP_STRIPS).enumerate() {
                for (q, block) in chunk.chunks_mut(BLOCK_ROWS * cols).enumerate() {
                    let i0 = r0 + q * BLOCK_ROWS;
                    let nr = block.len() / cols;
                    let l = &left[i0 * k..(i0 + nr) * k];
                    for (b, strip) in group.chunks(k * WIDTH).enumerate() {
                        let c0 = (g * GROUP_STRIPS + b) * WIDTH;
                        let nc = WIDTH.min(cols - c0);
                        rank_k_tile(l, nr, strip, k, &mut block[c0..], cols, nc);
                    }
                }
            }
        });
    out
}

/// Columns of W' a tile of the rebuild computes (three AVX2 registers).
const WIDTH: usize = 12;
/// Rows of W' a tile computes (4 × 3 accumulators of the 16 registers).
const BLOCK_ROWS: usize = 4;
/// Strips of the packed right factor a panel of rows goes over at a time.
const GROUP_STRIPS: usize = 42;

/// The tile Σ_κ l[r·k + κ]·strip[κ·WIDTH + c] of `nr` ≤ `BLOCK_ROWS` rows, κ in order, rounded
/// to T into out[r·stride + c] for c < nc ≤ `WIDTH`.
#[inline]
fn rank_k_tile<T: Scalar>(
    l: &[f64],
    nr: usize,
    strip: &[f64],
    k: usize,
    out: &mut [T],
    stride: usize,
    nc: usize,
) {
    assert!(nr <= BLOCK_ROWS && nc <= WIDTH && l.len() >= nr * k && strip.len() >= k * WIDTH);
    assert!(nr == 0 || out.len() >= (nr - 1) * stride + nc);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features; lengths checked above.
        let tile = unsafe { rank_k_tile_avx2(l, nr, strip, k) };
        return store_tile(&tile, nr, out, stride, nc);
    }
    let mut acc = [[0.0; WIDTH]; BLOCK_ROWS];
    for kk in 0..k {
        for r in 0..nr {
            let a = l[r * k + kk];
            for c in 0..WIDTH {
                acc[r][c] = a.mul_add(strip[kk * WIDTH + c], acc[r][c]);
            }
        }
    }
    store_tile(&acc, nr, out, stride, nc)
}

/// Rounds the tile's first nr rows and nc columns to T into out (rows `stride` apart).
#[inline(always)]
fn store_tile<T: Scalar>(
    tile: &[[f64; WIDTH]; BLOCK_ROWS],
    nr: usize,
    out: &mut [T],
    stride: usize,
    nc: usize,
) {
    for (r, row) in tile.iter().enumerate().take(nr) {
        let dst = &mut out[r * stride..r * stride + nc];
        if nc == WIDTH {
            let dst: &mut [T; WIDTH] = dst.try_into().expect("WIDTH entries");
            for c in 0..WIDTH {
                dst[c] = T::from_f64(row[c]);
            }
        } else {
            for (d, &x) in dst.iter_mut().zip(row) {
                *d = T::from_f64(x);
            }
        }
    }
}

/// The tile of `rank_k_tile` with AVX2 intrinsics (the same sums).
///
/// # Safety
/// The CPU has AVX2 and FMA; `l` holds nr·k values, `strip` k·`WIDTH`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rank_k_tile_avx2(
    l: &[f64],
    nr: usize,
    strip: &[f64],
    k: usize,
) -> [[f64; WIDTH]; BLOCK_ROWS] {
    use std::arch::x86_64::*;
    let lp = l.as_ptr();
    let sp = strip.as_ptr();
    let mut acc = [[_mm256_setzero_pd(); 3]; BLOCK_ROWS];
    // The rows past nr read row 0 again (their sums are dropped).
    let rows: [usize; BLOCK_ROWS] = std::array::from_fn(|r| if r < nr { r * k } else { 0 });
    for kk in 0..k {
        let x0 = _mm256_loadu_pd(sp.add(kk * WIDTH));
        let x1 = _mm256_loadu_pd(sp.add(kk * WIDTH + 4));
        let x2 = _mm256_loadu_pd(sp.add(kk * WIDTH + 8));
        for r in 0..BLOCK_ROWS {
            let a = _mm256_broadcast_sd(&*lp.add(rows[r] + kk));
            acc[r][0] = _mm256_fmadd_pd(a, x0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_pd(a, x1, acc[r][1]);
            acc[r][2] = _mm256_fmadd_pd(a, x2, acc[r][2]);
        }
    }
    let mut out = [[0.0; WIDTH]; BLOCK_ROWS];
    for (row, acc) in out.iter_mut().zip(&acc) {
        for (v, &a) in acc.iter().enumerate() {
            _mm256_storeu_pd(row.as_mut_ptr().add(4 * v), a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::decomposition::Decomposition;
    use crate::shrinkage::filter::{filter_matrix, GivenOptions, ShrinkMethod};
    use crate::spectral::layer_report::SpectrumRoute;
    use crate::spectral::noise_fit::SigmaMethod;
    use crate::spectral::partial::tests::planted;

    fn options(method: ShrinkMethod, route: SpectrumRoute) -> FilterOptions {
        GivenOptions {
            route: Some(route),
            decomposition: Some(Decomposition::Svd),
            sigma_method: (method == ShrinkMethod::OptimalHard).then_some(SigmaMethod::Quantile),
            ..Default::default()
        }
        .resolve(method)
        .unwrap()
    }

    fn distance<T: Scalar>(a: &[T], b: &[T]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x.to_f64() - y.to_f64()).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    /// Partial and full routes on one matrix: the same kept rank, the kept values within 1e-6,
    /// and W' within ‖η_partial − η_full‖₂ (σ̂ is not the quantile σ) plus 1e-5·‖W'‖ (the vector
    /// rule's 2e-6 and the rounding of T).
    fn check_agreement<T: Scalar>(w: MatrixView<'_, T>, method: ShrinkMethod, what: &str) {
        let stop = Stop::never();
        let partial = filter_matrix(w, &options(method, SpectrumRoute::Partial), &stop).unwrap();
        let full = filter_matrix(w, &options(method, SpectrumRoute::Full), &stop).unwrap();
        let (p, f) = (&partial.record, &full.record);
        assert_eq!(
            p.route,
            SpectrumRoute::Partial,
            "{what}: {:?}",
            p.route_note
        );
        assert_eq!(
            p.decomposition,
            crate::shrinkage::filter::PARTIAL_DECOMPOSITION
        );
        assert_eq!(p.kept_rank, f.kept_rank, "{what}");
        assert!(p.kept_rank > 0, "{what}");
        for i in 0..p.kept_rank {
            let rel = (p.singular_values[i] / f.singular_values[i] - 1.0).abs();
            assert!(rel < 1e-6, "{what}: value {i} differs by {rel:e}");
        }
        let d_eta = (0..p.kept_rank)
            .map(|i| (p.shrunk[i] - f.shrunk[i]).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm = f.shrunk.iter().map(|x| x * x).sum::<f64>().sqrt();
        let zero = vec![T::from_f64(0.0); full.data.len()];
        assert!(
            (distance(&full.data, &zero) / norm - 1.0).abs() < 1e-5,
            "{what}"
        );
        let gap = distance(&partial.data, &full.data);
        assert!(
            gap <= d_eta + 1e-5 * norm,
            "{what}: {gap:e} vs {d_eta:e} + 1e-5·{norm:e}"
        );
        // ‖W‖_F² is exact on the partial route: its energy ratio is Σ η² over the full Σ s².
        let total: f64 = f.singular_values.iter().map(|x| x * x).sum();
        let kept: f64 = p.shrunk.iter().map(|x| x * x).sum();
        assert!((p.kept_energy - kept / total).abs() < 1e-9, "{what}");
    }

    #[test]
    fn partial_and_full_routes_agree_on_planted_spikes_in_both_orientations() {
        for (n, m, k, seed) in [(900usize, 300usize, 4usize, 1u64), (600, 400, 8, 2)] {
            let bbp = ((n * m) as f64).powf(0.25);
            let strengths: Vec<f64> = (0..k).map(|i| bbp * (3.0 + 0.7 * i as f64)).collect();
            let data = planted(n, m, &strengths, seed);
            let single: Vec<f32> = data.iter().map(|&x| x as f32).collect();
            for method in [
                ShrinkMethod::Hard,
                ShrinkMethod::OptimalHard,
                ShrinkMethod::Operator,
                ShrinkMethod::Frobenius,
                ShrinkMethod::Nuclear,
            ] {
                let view = MatrixView::from_row_major(&data, n, m);
                check_agreement(view, method, &format!("{n}×{m} f64 {method:?}"));
                check_agreement(view.t(), method, &format!("{m}×{n} f64 {method:?}"));
                let wide = MatrixView::from_row_major(&single, n, m).t();
                check_agreement(wide, method, &format!("{m}×{n} f32 {method:?}"));
            }
        }
    }

    #[test]
    fn a_non_white_bulk_falls_back_to_exactly_the_full_answer() {
        let (n, m) = (900, 400);
        let bbp = ((n * m) as f64).powf(0.25);
        let mut data = planted(n, m, &[4.0 * bbp, 6.0 * bbp], 4);
        for i in 0..n {
            for j in 0..m {
                data[i * m + j] *= 0.3 + 1.4 * j as f64 / m as f64;
            }
        }
        let view = MatrixView::from_row_major(&data, n, m);
        let stop = Stop::never();
        let method = ShrinkMethod::Operator;
        let partial = filter_matrix(view, &options(method, SpectrumRoute::Partial), &stop).unwrap();
        let full = filter_matrix(view, &options(method, SpectrumRoute::Full), &stop).unwrap();
        assert_eq!(partial.record.route, SpectrumRoute::Full);
        let why = partial.record.route_note.clone().unwrap();
        assert!(
            why.contains("not white") || why.contains("did not settle"),
            "{why}"
        );
        assert_eq!(partial.data, full.data);
        assert_eq!(partial.record.shrunk, full.record.shrunk);
        assert_eq!(full.record.route_note, None);
    }

    #[test]
    fn the_rebuild_kernel_gives_the_plain_sums_on_ragged_shapes() {
        // Rows not a multiple of the 4-row tile, columns not of the 12-column strip, and more
        // columns than one group of strips.
        for (rows, cols, k) in [(70usize, 527usize, 5usize), (530, 61, 3), (3, 7, 1)] {
            let v = Mat::from_fn(rows.min(cols), k, |i, j| {
                ((i * 7 + j * 3) % 11) as f64 - 5.0
            });
            let image = Mat::from_fn(rows.max(cols), k, |i, j| ((i * 5 + j) % 13) as f64 / 3.0);
            let s: Vec<f64> = (0..k).map(|j| 4.0 + j as f64).collect();
            let eta: Vec<f64> = (0..k).map(|j| 1.0 + 0.5 * j as f64).collect();
            let out: Vec<f64> = assemble((rows, cols), v.as_ref(), image.as_ref(), &s, &eta);
            let (left, right) = if rows >= cols {
                (&image, &v)
            } else {
                (&v, &image)
            };
            for i in 0..rows {
                for j in 0..cols {
                    let want: f64 = (0..k)
                        .map(|c| left[(i, c)] * (eta[c] / s[c]) * right[(j, c)])
                        .sum();
                    assert!((out[i * cols + j] - want).abs() <= 1e-12 * want.abs().max(1.0));
                }
            }
        }
    }

    #[test]
    fn median_sigma_falls_back_and_a_wide_matrix_is_rebuilt_like_its_transpose() {
        let (n, m) = (700, 300);
        let bbp = ((n * m) as f64).powf(0.25);
        let data = planted(n, m, &[5.0 * bbp], 6);
        let view = MatrixView::from_row_major(&data, n, m);
        let median = GivenOptions {
            route: Some(SpectrumRoute::Partial),
            ..Default::default()
        }
        .resolve(ShrinkMethod::OptimalHard)
        .unwrap();
        let f = filter_matrix(view, &median, &Stop::never()).unwrap();
        assert_eq!(f.record.route, SpectrumRoute::Full);
        assert!(f.record.route_note.unwrap().contains("median"));
        // rebuild in both orientations: the same numbers, transposed.
        let v = Mat::from_fn(m, 2, |i, j| ((i * 7 + j * 3) % 11) as f64 - 5.0);
        let (s, eta) = ([3.0, 2.0], [1.5, 0.5]);
        let tall = rebuild(view, v.as_ref(), &s, &eta);
        let wide = rebuild(view.t(), v.as_ref(), &s, &eta);
        for i in 0..n {
            for j in 0..m {
                assert!(
                    (tall[i * m + j] - wide[j * n + i]).abs()
                        <= 1e-12 * tall[i * m + j].abs().max(1.0)
                );
            }
        }
    }
}
