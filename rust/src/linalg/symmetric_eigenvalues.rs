//! Eigenvalues of a large symmetric matrix by two-stage tridiagonalisation.
//!
//! A one-stage reduction (LAPACK dsytrd, faer's `self_adjoint_eigenvalues`) spends half its flops
//! in one symmetric matrix–vector product per column, streaming the whole trailing matrix from
//! memory each time: at n = 4096 that is ~90 GB of traffic and most of the run time. Two stages
//! move that work into matrix–matrix products:
//! 1. dense → band of half-width b: Householder QR of each b-column panel below the band, and the
//!    two-sided trailing update Qᵀ·A·Q as rank-2b products (compute-bound, parallel);
//! 2. band → tridiagonal by bulge chasing ([`band_to_tridiagonal`], pipelined over threads): one
//!    reflector of length ≤ b per step, O(b·n²) flops on a band that stays in cache;
//!
//! then the eigenvalues of the tridiagonal matrix by the root-free QR algorithm
//! ([`tridiagonal_eigenvalues`]). No orthogonal factor is kept, except by
//! [`tridiagonalise_keeping_band`]: the first stage's reflectors and the band form, from which
//! `band_eigenvectors` computes a few eigenvectors.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::error::CoreResult;
use crate::interrupt::Stop;
use crate::linalg::band_chase::band_to_tridiagonal;
use crate::linalg::column_blocks::for_each_paired_column_block;
use crate::linalg::householder::{dot, make_reflector};
use crate::linalg::tridiagonal_eigenvalues::tridiagonal_eigenvalues;

/// Half-width of the intermediate band: wide enough for rank-2b products to run near peak, narrow
/// enough that bulge chasing (flops ∝ b) stays a small share. 24–64 measured within 10 % at n = 4096.
pub const BAND_WIDTH: usize = 32;

/// From this size on the two-stage route is faster than faer's one-stage reduction with several
/// threads (2 cores, quiet machine, since the chase is pipelined: n = 768: 38.5 ms against 27.4 ms;
/// n = 1024: 63 against 73 ms; n = 1536: 187 against 198 ms; n = 2048: 0.34 against 0.62 s).
pub const TWO_STAGE_MIN_DIM: usize = 1024;

/// The same crossover on one thread (quiet machine: n = 512: 19.7 ms against 16.7 ms; n = 768:
/// 35.3 against 34.5 ms, even; n = 1024: 74 against 83 ms).
pub const TWO_STAGE_MIN_DIM_ONE_THREAD: usize = 768;

/// Whether the two-stage route is the faster one for an n×n matrix on `par`.
pub fn two_stage_pays(n: usize, par: Par) -> bool {
    if par.degree() <= 1 {
        n >= TWO_STAGE_MIN_DIM_ONE_THREAD
    } else {
        n >= TWO_STAGE_MIN_DIM
    }
}

/// Eigenvalues (ascending) of the symmetric matrix whose lower triangle is in `a`, by whichever
/// route is faster at its size; `a` may be overwritten.
pub fn symmetric_eigenvalues(a: &mut Mat<f64>, par: Par, stop: &Stop) -> CoreResult<Vec<f64>> {
    let t = tridiagonalise(a, par, stop)?;
    tridiagonal_eigenvalues(&t.diag, &t.subdiag)
}

/// A symmetric tridiagonal matrix orthogonally similar to the input (same eigenvalues).
#[derive(Default)]
pub struct Tridiagonal {
    /// The diagonal.
    pub diag: Vec<f64>,
    /// The off-diagonal (length n − 1).
    pub subdiag: Vec<f64>,
}

/// The tridiagonal form of the symmetric matrix whose lower triangle is in `a`, by whichever
/// reduction is faster at its size (see [`two_stage_pays`]); `a` is overwritten.
pub fn tridiagonalise(a: &mut Mat<f64>, par: Par, stop: &Stop) -> CoreResult<Tridiagonal> {
    if two_stage_pays(a.nrows(), par) {
        return two_stage_tridiagonal(a, BAND_WIDTH, par, stop);
    }
    Ok(one_stage_tridiagonal(a, par))
}

/// One-stage reduction: faer's tridiagonalisation (dsytrd's algorithm) on `par` (faer's convenience
/// eigenvalue method would use faer's global setting, which splits even a batch's small matrices
/// across threads, and its rotation-keeping QR, a third of a 256² computation). `a` is overwritten.
fn one_stage_tridiagonal(a: &mut Mat<f64>, par: Par) -> Tridiagonal {
    use faer::linalg::evd::tridiag;
    let n = a.nrows();
    if n == 0 {
        return Tridiagonal::default();
    }
    let block = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n);
    let mut householder = Mat::<f64>::zeros(block, n - 1);
    let scratch = tridiag::tridiag_in_place_scratch::<f64>(n, par, Default::default());
    tridiag::tridiag_in_place(
        a.as_mut(),
        householder.as_mut(),
        par,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    );
    Tridiagonal {
        diag: (0..n).map(|i| a[(i, i)]).collect(),
        subdiag: (1..n).map(|i| a[(i, i - 1)]).collect(),
    }
}

/// Eigenvalues (ascending) of the symmetric matrix whose lower triangle is in `a`; `a` is used as
/// workspace and left holding the band form. `stop` is checked after every panel.
pub fn symmetric_eigenvalues_two_stage(
    a: &mut Mat<f64>,
    band_width: usize,
    par: Par,
    stop: &Stop,
) -> CoreResult<Vec<f64>> {
    let t = two_stage_tridiagonal(a, band_width, par, stop)?;
    tridiagonal_eigenvalues(&t.diag, &t.subdiag)
}

/// Two-stage reduction: dense → band of half-width `band_width` → tridiagonal.
fn two_stage_tridiagonal(
    a: &mut Mat<f64>,
    band_width: usize,
    par: Par,
    stop: &Stop,
) -> CoreResult<Tridiagonal> {
    let n = a.nrows();
    assert_eq!(n, a.ncols(), "symmetric eigenvalues need a square matrix");
    if n == 0 {
        return Ok(Tridiagonal::default());
    }
    let b = band_width.clamp(1, n);
    reduce_to_band(a.as_mut(), b, par, stop, None)?;
    let (diag, subdiag) = band_to_tridiagonal(a.as_ref(), b, par.degree());
    Ok(Tridiagonal { diag, subdiag })
}

/// The orthogonal factor Q of the two-stage reduction's first stage (G = Q·B·Qᵀ with B the band
/// form): panel p acts on rows `start`.. as I − V·T·Vᵀ. V's essential parts stay where the panel
/// QR left them, below the band of the reduced matrix (LAPACK's storage, which the band readers
/// ignore), so keeping Q costs only the small T factors (n·b values): no copy, no extra pass.
pub struct BandReflectors {
    /// Half-width of the band.
    pub band_width: usize,
    /// Each panel's first row and T.
    panels: Vec<(usize, Mat<f64>)>,
}

impl BandReflectors {
    /// X ← Q·X (X has the matrix's n rows): maps eigenvectors of the band form to the matrix's.
    /// `reduced` is the matrix [`tridiagonalise_keeping_band`] left behind (its V below the band).
    pub fn apply(&self, reduced: MatRef<'_, f64>, mut x: MatMut<'_, f64>, par: Par) {
        let (n, cols, b) = (x.nrows(), x.ncols(), self.band_width);
        assert_eq!(
            reduced.nrows(),
            n,
            "the reflectors' matrix and X differ in rows"
        );
        // One buffer for every panel's V (unit lower trapezoidal, rebuilt from the storage).
        let mut buffer = Mat::<f64>::zeros(n, b);
        for (start, t) in self.panels.iter().rev() {
            let (m, r) = (n - start, t.nrows());
            let mut v = buffer.as_mut().submatrix_mut(0, 0, m, r);
            for j in 0..r {
                let stored = &reduced.col(start - b + j);
                let col = v.rb_mut().col_mut(j);
                let col = col
                    .try_as_col_major_mut()
                    .expect("column-major")
                    .as_slice_mut();
                col[..j].fill(0.0);
                col[j] = 1.0;
                for (i, c) in col.iter_mut().enumerate().skip(j + 1) {
                    *c = stored[start + i];
                }
            }
            let v = v.rb();
            let mut rows = x.rb_mut().subrows_mut(*start, m);
            let mut vtx = Mat::<f64>::zeros(r, cols);
            matmul(
                vtx.as_mut(),
                Accum::Replace,
                v.transpose(),
                rows.rb(),
                1.0,
                par,
            );
            let mut tvtx = Mat::<f64>::zeros(r, cols);
            matmul(
                tvtx.as_mut(),
                Accum::Replace,
                t.as_ref(),
                vtx.as_ref(),
                1.0,
                Par::Seq,
            );
            matmul(rows.rb_mut(), Accum::Add, v, tvtx.as_ref(), -1.0, par);
        }
    }
}

/// The two-stage reduction keeping the first stage's reflectors (for eigenvectors by
/// `band_eigenvectors`, small values by `small_values`): the tridiagonal form, its reflectors,
/// and `a` left holding the band form (lower triangle, half-width [`BAND_WIDTH`]) with the
/// reflectors' V below it. Costs the same as [`tridiagonalise`]'s two-stage route (measured:
/// 0.36-0.41 s either way at n = 2048 on one thread).
pub fn tridiagonalise_keeping_band(
    a: &mut Mat<f64>,
    par: Par,
    stop: &Stop,
) -> CoreResult<(Tridiagonal, BandReflectors)> {
    let n = a.nrows();
    assert_eq!(n, a.ncols(), "symmetric eigenvalues need a square matrix");
    let b = BAND_WIDTH.clamp(1, n.max(1));
    let mut panels = Vec::new();
    if n > 0 {
        reduce_to_band(a.as_mut(), b, par, stop, Some(&mut panels))?;
    }
    let (diag, subdiag) = if n > 0 {
        band_to_tridiagonal(a.as_ref(), b, par.degree())
    } else {
        (Vec::new(), Vec::new())
    };
    Ok((
        Tridiagonal { diag, subdiag },
        BandReflectors {
            band_width: b,
            panels,
        },
    ))
}

/// Stage 1: reduces the symmetric matrix (lower triangle of `a`) to lower band form of half-width b
/// by the similarity transforms diag(I, Qₖᵀ)·A·diag(I, Qₖ), one b-column panel at a time; with
/// `keep`, each panel's V is left below the band and its (first row, T) kept.
fn reduce_to_band(
    mut a: MatMut<'_, f64>,
    b: usize,
    par: Par,
    stop: &Stop,
    mut keep: Option<&mut Vec<(usize, Mat<f64>)>>,
) -> CoreResult<()> {
    let n = a.nrows();
    let mut k = 0;
    // The next panel's factorisation, done during the previous trailing update (look-ahead).
    let mut factored: Option<FactoredPanel> = None;
    while k + b + 1 < n {
        stop.check()?;
        let m = n - k - b;
        let (panel, v, t) = match factored.take() {
            Some(done) => done,
            None => {
                let mut panel = a.rb().submatrix(k + b, k, m, b).to_owned();
                let (v, t) = panel_reflectors(&mut panel, Par::Seq);
                (panel, v, t)
            }
        };
        a.rb_mut()
            .submatrix_mut(k + b, k, m, b)
            .copy_from(panel.as_ref());
        let next_exists = k + 2 * b + 1 < n;
        factored = two_sided_update(
            a.rb_mut().submatrix_mut(k + b, k + b, m, m),
            v.as_ref(),
            t.as_ref(),
            par,
            next_exists.then_some(b),
        );
        if let Some(kept) = keep.as_mut() {
            // V's essential part below R: rows k+b+i, i > j, of column k+j lie below the band.
            for j in 0..v.ncols() {
                let col = &mut a.rb_mut().col_mut(k + j);
                for i in j + 1..m {
                    col[k + b + i] = v[(i, j)];
                }
            }
            kept.push((k + b, t));
        }
        k += b;
    }
    Ok(())
}

/// A panel after its Householder QR: R (zeros below), V and T (see [`panel_reflectors`]).
type FactoredPanel = (Mat<f64>, Mat<f64>, Mat<f64>);

/// The block reflector of a panel's Householder QR: on return `panel` holds R (upper triangular,
/// zeros below), and (V, T) satisfy Q = I − V·T·Vᵀ with panel = Q·R, V unit lower trapezoidal.
pub(super) fn panel_reflectors(panel: &mut Mat<f64>, par: Par) -> (Mat<f64>, Mat<f64>) {
    let (m, cols) = (panel.nrows(), panel.ncols());
    let reflectors = cols.min(m);
    let mut tau = vec![0.0; reflectors];
    panel_qr(panel, &mut tau);
    let mut v = Mat::<f64>::zeros(m, reflectors);
    for j in 0..reflectors {
        v[(j, j)] = 1.0;
        for i in j + 1..m {
            v[(i, j)] = panel[(i, j)];
            panel[(i, j)] = 0.0;
        }
    }
    let t = block_reflector_factor(v.as_ref(), &tau, par);
    (v, t)
}

/// Unblocked Householder QR in place (LAPACK dgeqr2): R on and above the diagonal, the reflectors'
/// essential parts below it.
fn panel_qr(p: &mut Mat<f64>, tau: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (crate::cpu detected them).
        return unsafe { panel_qr_avx2(p, tau) };
    }
    panel_qr_generic(p, tau)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_qr_avx2(p: &mut Mat<f64>, tau: &mut [f64]) {
    panel_qr_generic(p, tau)
}

#[inline(always)]
fn panel_qr_generic(p: &mut Mat<f64>, tau: &mut [f64]) {
    let (m, cols) = (p.nrows(), p.ncols());
    let mut x = vec![0.0; m];
    for (j, tau_j) in tau.iter_mut().enumerate() {
        let len = m - j;
        x[..len].copy_from_slice(&p.col_as_slice(j)[j..]);
        let (t, beta) = make_reflector(&mut x[..len]);
        *tau_j = t;
        let col = &mut p.col_as_slice_mut(j)[j..];
        col.copy_from_slice(&x[..len]);
        col[0] = beta;
        if t == 0.0 {
            continue;
        }
        for l in j + 1..cols {
            let target = &mut p.col_as_slice_mut(l)[j..];
            let s = t * dot(&x[..len], target);
            for (a, &xi) in target.iter_mut().zip(&x[..len]) {
                *a -= s * xi;
            }
        }
    }
}

/// The upper triangular T with H₀·H₁·…·H_{k−1} = I − V·T·Vᵀ (LAPACK dlarft, forward, columnwise),
/// from the small Gram matrix VᵀV.
fn block_reflector_factor(v: MatRef<'_, f64>, tau: &[f64], par: Par) -> Mat<f64> {
    let k = tau.len();
    let mut vtv = Mat::<f64>::zeros(k, k);
    matmul(vtv.as_mut(), Accum::Replace, v.transpose(), v, 1.0, par);
    let mut t = Mat::<f64>::zeros(k, k);
    let mut w = vec![0.0; k];
    for j in 0..k {
        t[(j, j)] = tau[j];
        if tau[j] == 0.0 {
            continue;
        }
        // T[0..j, j] = T[0..j, 0..j] · (−τⱼ · V[:, 0..j]ᵀ · vⱼ).
        for (i, wi) in w.iter_mut().enumerate().take(j) {
            *wi = -tau[j] * vtv[(i, j)];
        }
        for i in 0..j {
            t[(i, j)] = (i..j).map(|l| t[(i, l)] * w[l]).sum();
        }
    }
    t
}

/// A ← Qᵀ·A·Q on the lower triangle, Q = I − V·T·Vᵀ: with X = A·V·T and Y = X − ½·V·(Tᵀ·Vᵀ·X),
/// Qᵀ·A·Q = A − V·Yᵀ − Y·Vᵀ (LAPACK dsytrd's update, in rank-2k products).
///
/// With `next_panel = Some(b)`, the next panel (rows b.., columns 0..b of the updated A) is
/// updated first and factored ([`panel_reflectors`]) while the other columns are updated, on
/// another thread when `par` has several: the factorisation is serial, and without this
/// look-ahead the other threads waited for it at every panel. The column blocks are the same
/// whatever the thread count.
fn two_sided_update(
    a: MatMut<'_, f64>,
    v: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    par: Par,
    next_panel: Option<usize>,
) -> Option<FactoredPanel> {
    let (m, k) = (v.nrows(), v.ncols());
    let mut y = Mat::<f64>::zeros(m, k);
    if par.degree() > 1 {
        let avt = symmetric_times_thin(a.rb(), v, par);
        matmul(y.as_mut(), Accum::Replace, avt.transpose(), t, 1.0, par);
    } else {
        // On one thread faer's two triangular products measured as fast or faster.
        let mut av = Mat::<f64>::zeros(m, k);
        tri_matmul(
            av.as_mut(),
            BlockStructure::Rectangular,
            Accum::Replace,
            a.rb(),
            BlockStructure::TriangularLower,
            v,
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
        tri_matmul(
            av.as_mut(),
            BlockStructure::Rectangular,
            Accum::Add,
            a.rb().transpose(),
            BlockStructure::StrictTriangularUpper,
            v,
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
        matmul(y.as_mut(), Accum::Replace, av.as_ref(), t, 1.0, Par::Seq);
    }
    let mut vtx = Mat::<f64>::zeros(k, k);
    matmul(
        vtx.as_mut(),
        Accum::Replace,
        v.transpose(),
        y.as_ref(),
        1.0,
        par,
    );
    let mut z = Mat::<f64>::zeros(k, k);
    matmul(
        z.as_mut(),
        Accum::Replace,
        t.transpose(),
        vtx.as_ref(),
        1.0,
        Par::Seq,
    );
    matmul(y.as_mut(), Accum::Add, v, z.as_ref(), -0.5, par);

    let mut lhs = Mat::<f64>::zeros(m, 2 * k);
    let mut rhs = Mat::<f64>::zeros(m, 2 * k);
    lhs.as_mut().submatrix_mut(0, 0, m, k).copy_from(v);
    lhs.as_mut().submatrix_mut(0, k, m, k).copy_from(y.as_ref());
    rhs.as_mut().submatrix_mut(0, 0, m, k).copy_from(y.as_ref());
    rhs.as_mut().submatrix_mut(0, k, m, k).copy_from(v);
    let (lhs, rhs) = (lhs.as_ref(), rhs.as_ref());
    let update_block = |j0: usize, mut block: MatMut<'_, f64>| {
        let w = block.ncols();
        tri_matmul(
            block.rb_mut().subrows_mut(j0, w),
            BlockStructure::TriangularLower,
            Accum::Add,
            lhs.subrows(j0, w),
            BlockStructure::Rectangular,
            rhs.subrows(j0, w).transpose(),
            BlockStructure::Rectangular,
            -1.0,
            Par::Seq,
        );
        let below = m - j0 - w;
        matmul(
            block.subrows_mut(j0 + w, below),
            Accum::Add,
            lhs.subrows(j0 + w, below),
            rhs.subrows(j0, w).transpose(),
            -1.0,
            Par::Seq,
        );
    };
    let Some(b) = next_panel.filter(|&b| b + 1 < m) else {
        for_each_column_block(a, par, update_block);
        return None;
    };
    let (mut head, tail) = a.split_at_col_mut(b);
    update_block(0, head.rb_mut());
    let head = head.rb();
    let factor_next = || {
        let mut panel = head.subrows(b, m - b).to_owned();
        let (v, t) = panel_reflectors(&mut panel, Par::Seq);
        (panel, v, t)
    };
    let update_rest = || for_each_column_block(tail, par, |j0, block| update_block(j0 + b, block));
    if par.degree() > 1 {
        Some(rayon::join(factor_next, update_rest).0)
    } else {
        update_rest();
        Some(factor_next())
    }
}

/// Columns of the blocks [`two_sided_update`]'s products are split into: each block is one
/// sequential product and rayon balances the blocks, as in the Gram product (`gram_lower`). faer's
/// own parallel split of the triangular products kept the second core mostly idle: the band
/// reduction at n = 2048 took 1.19-1.28 s on 2 threads against 0.55-0.64 s by blocks, and at
/// n = 4096 3.1 s against 2.7-2.9 s (load 1.2-2, same minutes); on one thread the two are within
/// the noise (0.54-0.66 s, 4.0-4.4 s). The blocks are the same whatever the thread count.
const UPDATE_BLOCK: usize = 128;

/// Calls `f(first column, block)` for the column blocks of width [`UPDATE_BLOCK`] of `x`, in
/// parallel on `par`, first block paired with last so that the tasks of the triangular update
/// cost the same (`column_blocks`).
fn for_each_column_block(x: MatMut<'_, f64>, par: Par, f: impl Fn(usize, MatMut<'_, f64>) + Sync) {
    for_each_paired_column_block(x, UPDATE_BLOCK, par.degree() > 1, f);
}

/// (A·V)ᵀ = Vᵀ·A (k×m) for the symmetric A whose lower triangle is in `a` and a thin V (m×k),
/// by column blocks of the result that run in parallel: block I is V[I]ᵀ·A[I, I] +
/// V[below]ᵀ·A[below, I] + V[above]ᵀ·A[I, above]ᵀ (the diagonal block, copied symmetric, then the
/// block column below it and the block row left of it, all in the lower triangle), each a plain
/// product with the thin factor on the left. Used on several threads; on one, faer's two
/// triangular products are as fast.
fn symmetric_times_thin(a: MatRef<'_, f64>, v: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    let (m, k) = (v.nrows(), v.ncols());
    let mut out = Mat::<f64>::zeros(k, m);
    for_each_column_block(out.as_mut(), par, |i0, mut block| {
        let w = block.ncols();
        let diagonal = Mat::<f64>::from_fn(w, w, |i, j| {
            let (hi, lo) = if i >= j { (i, j) } else { (j, i) };
            a[(i0 + hi, i0 + lo)]
        });
        matmul(
            block.rb_mut(),
            Accum::Replace,
            v.subrows(i0, w).transpose(),
            diagonal.as_ref(),
            1.0,
            Par::Seq,
        );
        let below = m - i0 - w;
        if below > 0 {
            matmul(
                block.rb_mut(),
                Accum::Add,
                v.subrows(i0 + w, below).transpose(),
                a.submatrix(i0 + w, i0, below, w),
                1.0,
                Par::Seq,
            );
        }
        if i0 > 0 {
            matmul(
                block.rb_mut(),
                Accum::Add,
                v.subrows(0, i0).transpose(),
                a.submatrix(i0, 0, w, i0).transpose(),
                1.0,
                Par::Seq,
            );
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn random_symmetric(n: usize, seed: u64) -> Mat<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut next = || rng.random::<f64>() - 0.5;
        let mut a = Mat::<f64>::zeros(n, n);
        for j in 0..n {
            for i in j..n {
                let x = next();
                a[(i, j)] = x;
                a[(j, i)] = x;
            }
        }
        a
    }

    fn assert_close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1.0);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol * scale, "{g} vs {w}");
        }
    }

    #[test]
    fn agrees_with_one_stage_eigenvalues() {
        for &(n, b) in &[
            (1, 4),
            (2, 4),
            (3, 1),
            (10, 3),
            (37, 4),
            (64, 8),
            (130, 16),
            (257, 32),
            (300, 7),
        ] {
            let a = random_symmetric(n, n as u64 * 31 + b as u64);
            let want = a.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            let mut work = a.clone();
            let got =
                symmetric_eigenvalues_two_stage(&mut work, b, Par::Seq, &Stop::never()).unwrap();
            assert_close(&got, &want, 1e-12);
        }
    }

    #[test]
    fn the_one_stage_route_agrees_and_reads_only_the_lower_triangle() {
        for n in [1usize, 2, 5, 64, 300] {
            let a = random_symmetric(n, 77 + n as u64);
            let want = a.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            let mut work = a.clone();
            for j in 1..n {
                for i in 0..j {
                    work[(i, j)] = f64::NAN;
                }
            }
            assert!(!two_stage_pays(n, Par::Seq));
            let got = symmetric_eigenvalues(&mut work, Par::Seq, &Stop::never()).unwrap();
            assert_close(&got, &want, 1e-12);
        }
    }

    #[test]
    fn reads_only_the_lower_triangle() {
        let n = 90;
        let a = random_symmetric(n, 5);
        let want = a.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        let mut work = a.clone();
        for j in 1..n {
            for i in 0..j {
                work[(i, j)] = f64::NAN;
            }
        }
        let got =
            symmetric_eigenvalues_two_stage(&mut work, 8, Par::rayon(2), &Stop::never()).unwrap();
        assert_close(&got, &want, 1e-12);
    }

    #[test]
    fn the_parallel_update_blocks_agree_and_read_only_the_lower_triangle() {
        // n = 300 with b = 8 spans several update blocks of 128 columns; the parallel route
        // computes A·V by blocks, the sequential one by faer's triangular products.
        let n = 300;
        let a = random_symmetric(n, 41);
        let want = a.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        for par in [Par::Seq, Par::rayon(2)] {
            let mut work = a.clone();
            for j in 1..n {
                for i in 0..j {
                    work[(i, j)] = f64::NAN;
                }
            }
            let got = crate::parallel::install(|| {
                symmetric_eigenvalues_two_stage(&mut work, 8, par, &Stop::never())
            })
            .unwrap()
            .unwrap();
            assert_close(&got, &want, 1e-12);
        }
    }

    #[test]
    fn the_look_ahead_factors_the_updated_panel() {
        // The band form with the next panel factored during the update (look-ahead) against a
        // plain loop that updates everything first, on 1 and 2 threads; n = 300, b = 8 spans
        // several update blocks, n = 41 ends on a panel too short to look ahead to.
        for (n, b) in [(300usize, 8usize), (41, 8), (70, 32)] {
            let g = random_symmetric(n, 3 + n as u64);
            let mut plain = g.clone();
            let mut k = 0;
            while k + b + 1 < n {
                let m = n - k - b;
                let mut panel = plain.as_ref().submatrix(k + b, k, m, b).to_owned();
                let (v, t) = panel_reflectors(&mut panel, Par::Seq);
                plain
                    .as_mut()
                    .submatrix_mut(k + b, k, m, b)
                    .copy_from(panel.as_ref());
                let update = plain.as_mut().submatrix_mut(k + b, k + b, m, m);
                assert!(two_sided_update(update, v.as_ref(), t.as_ref(), Par::Seq, None).is_none());
                k += b;
            }
            for par in [Par::Seq, Par::rayon(2)] {
                let mut ahead = g.clone();
                crate::parallel::install(|| {
                    reduce_to_band(ahead.as_mut(), b, par, &Stop::never(), None)
                })
                .unwrap()
                .unwrap();
                for j in 0..n {
                    for i in j..n {
                        let (x, y) = (ahead[(i, j)], plain[(i, j)]);
                        assert!((x - y).abs() <= 1e-12 * n as f64, "({i}, {j}): {x} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn handles_rank_deficient_and_diagonal_input() {
        // A Gram matrix of rank 3 and a diagonal matrix: panels with zero columns need τ = 0.
        let n = 70;
        let mut g = Mat::<f64>::zeros(n, n);
        let basis = random_symmetric(n, 9);
        for j in 0..n {
            for i in 0..n {
                g[(i, j)] = (0..3).map(|r| basis[(i, r)] * basis[(j, r)]).sum();
            }
        }
        let want = g.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        let got =
            symmetric_eigenvalues_two_stage(&mut g.clone(), 8, Par::Seq, &Stop::never()).unwrap();
        assert_close(&got, &want, 1e-12);

        let mut d = Mat::<f64>::zeros(n, n);
        for i in 0..n {
            d[(i, i)] = (i as f64 * 0.37).sin();
        }
        let mut want: Vec<f64> = (0..n).map(|i| d[(i, i)]).collect();
        want.sort_by(f64::total_cmp);
        let got = symmetric_eigenvalues_two_stage(&mut d, 8, Par::Seq, &Stop::never()).unwrap();
        assert_close(&got, &want, 1e-15);
    }

    #[test]
    fn the_kept_reflectors_and_band_rebuild_the_matrix() {
        // Q·B·Qᵀ = A with Q rebuilt from the V left below the band and B read from the band;
        // n = 150 spans four panels of b = 32 (the last one shorter).
        let n = 150;
        let a = random_symmetric(n, 12);
        for par in [Par::Seq, Par::rayon(2)] {
            let mut work = a.clone();
            let (t, reflectors) = crate::parallel::install(|| {
                tridiagonalise_keeping_band(&mut work, par, &Stop::never())
            })
            .unwrap()
            .unwrap();
            let b = reflectors.band_width;
            let band = Mat::<f64>::from_fn(n, n, |i, j| {
                let (hi, lo) = (i.max(j), i.min(j));
                if hi - lo <= b {
                    work[(hi, lo)]
                } else {
                    0.0
                }
            });
            let mut q = Mat::<f64>::identity(n, n);
            reflectors.apply(work.as_ref(), q.as_mut(), par);
            let rebuilt = &q * &band * q.transpose();
            let orthogonality = q.transpose() * &q - Mat::<f64>::identity(n, n);
            for j in 0..n {
                for i in 0..n {
                    assert!(
                        (rebuilt[(i, j)] - a[(i, j)]).abs() <= 1e-12,
                        "{par:?} ({i}, {j})"
                    );
                    assert!(orthogonality[(i, j)].abs() <= 1e-13, "{par:?}");
                }
            }
            // The band form's tridiagonal form has A's eigenvalues.
            let want = a.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            assert_close(
                &tridiagonal_eigenvalues(&t.diag, &t.subdiag).unwrap(),
                &want,
                1e-12,
            );
        }
    }
}
