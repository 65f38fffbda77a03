//! Stage 2 of the two-stage tridiagonalisation: a symmetric band matrix → tridiagonal by bulge
//! chasing (Lang's algorithm, as in LAPACK dsytrd_sb2st), pipelined over threads.
//!
//! Sweep c annihilates column c below its subdiagonal with one reflector of length ≤ b, which
//! fills a bulge below the band; each further step j of the sweep annihilates the bulge's first
//! column with the next reflector, b rows further down, until the bulge leaves the matrix.
//!
//! Storage: the lower triangle only, with room for the bulge (half-width w = 2b). Each reflector H
//! acting on the rows/columns P = p..p+len is applied as a symmetric similarity: from the left to
//! the bulge columns left of P, from both sides to the diagonal block (LAPACK dlarfy:
//! w = τ·B·v, w ← w − (τ/2)(wᵀv)·v, B ← B − v·wᵀ − w·vᵀ) and from the right to the rows below P.
//! That is ~14·b² flops a step where updating both triangles costs ~24·b².
//!
//! Pipeline. Step j of sweep c reads and writes only rows and columns in [col_j, p_j + 2b), where
//! p_j = c + 1 + j·b and col_j = p_{j−1} (col_0 = c). Sweep c − 1's step i covers
//! [c + (i − 1)·b, c + (i + 2)·b), so the two are disjoint, and so are all of sweep c − 1's later
//! steps, once i ≥ j + 4. Sweep c therefore runs step j as soon as sweep c − 1 has completed j + 4
//! steps (`PIPELINE_LAG`), with sweep c on thread c mod T. Disjoint steps commute exactly, so every
//! entry sees the same operations in the same order as in the sequential chase: the result is
//! identical bit for bit (tested), whatever the number of threads.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::linalg::householder::{dot, make_reflector};
use faer::MatRef;

/// Steps of sweep c − 1 that must be complete before sweep c runs its step j: j + this (module docs).
const PIPELINE_LAG: usize = 4;

/// Fewer steps than this per thread in flight leave the pipeline waiting more than working.
const STEPS_PER_THREAD: usize = 8;

/// The tridiagonal form (diagonal, subdiagonal) of the symmetric band matrix of half-width `b`
/// whose lower band is in `a` (entries below it are ignored), on up to `threads` threads.
pub fn band_to_tridiagonal(a: MatRef<'_, f64>, b: usize, threads: usize) -> (Vec<f64>, Vec<f64>) {
    let mut band = LowerBand::from_lower(a, b);
    band.chase(b, threads);
    band.tridiagonal()
}

/// A symmetric band matrix, lower triangle only, with room for half-width `w`, column-major:
/// A[i, j] for 0 ≤ i − j ≤ w at `data[i + w·j]`, so each column's segment below the diagonal is
/// contiguous (w + 1 slots per column).
struct LowerBand {
    n: usize,
    w: usize,
    data: Vec<f64>,
}

impl LowerBand {
    /// Copies the lower band of half-width b from `a`, with room for bulges up to 2b.
    fn from_lower(a: MatRef<'_, f64>, b: usize) -> Self {
        let n = a.nrows();
        let w = 2 * b;
        let mut data = vec![0.0; (w + 1) * n];
        for j in 0..n {
            for i in j..n.min(j + b + 1) {
                data[i + w * j] = a[(i, j)];
            }
        }
        LowerBand { n, w, data }
    }

    fn tridiagonal(&self) -> (Vec<f64>, Vec<f64>) {
        let (n, w) = (self.n, self.w);
        let diag = (0..n).map(|i| self.data[i + w * i]).collect();
        let subdiag = (0..n.saturating_sub(1))
            .map(|i| self.data[i + 1 + w * i])
            .collect();
        (diag, subdiag)
    }

    /// Runs every sweep, pipelined over up to `threads` threads (module docs).
    fn chase(&mut self, b: usize, threads: usize) {
        let n = self.n;
        let sweeps = n.saturating_sub(2);
        let band = BandPtr {
            data: self.data.as_mut_ptr(),
            n,
            w: self.w,
        };
        let steps = n.div_ceil(b.max(1));
        let threads = threads.min(steps / STEPS_PER_THREAD).min(sweeps).max(1);
        if threads == 1 {
            let mut buffers = StepBuffers::new(b);
            for c in 0..sweeps {
                let (before, mine) = (None, None);
                // SAFETY: one thread owns the whole band.
                unsafe {
                    sweep(
                        Sweep {
                            band,
                            c,
                            b,
                            before,
                            mine,
                        },
                        &mut buffers,
                    )
                };
            }
            return;
        }
        let progress: Vec<AtomicUsize> = (0..sweeps).map(|_| AtomicUsize::new(0)).collect();
        let progress = &progress;
        std::thread::scope(|scope| {
            for first in 0..threads {
                scope.spawn(move || {
                    let mut buffers = StepBuffers::new(b);
                    for c in (first..sweeps).step_by(threads) {
                        let before = c.checked_sub(1).map(|p| &progress[p]);
                        let mine = Some(&progress[c]);
                        let job = Sweep {
                            band,
                            c,
                            b,
                            before,
                            mine,
                        };
                        // SAFETY: each step waits until no other thread's current or later steps
                        // overlap its window (module docs).
                        unsafe { sweep(job, &mut buffers) };
                    }
                });
            }
        });
    }
}

/// The band's storage shared by the pipeline's threads, each touching a disjoint window.
#[derive(Clone, Copy)]
struct BandPtr {
    data: *mut f64,
    n: usize,
    w: usize,
}

// SAFETY: threads only touch disjoint windows of the band (the pipeline's waits, module docs).
unsafe impl Send for BandPtr {}
unsafe impl Sync for BandPtr {}

/// Scratch of one thread: the reflector and the products of one step.
struct StepBuffers {
    v: Vec<f64>,
    acc: Vec<f64>,
}

impl StepBuffers {
    fn new(b: usize) -> Self {
        StepBuffers {
            v: vec![0.0; b],
            acc: vec![0.0; 2 * b],
        }
    }
}

/// Waits until `before` (the previous sweep's completed steps) reaches `needed`.
fn wait_for(before: &AtomicUsize, needed: usize) {
    let mut spins = 0u32;
    while before.load(Ordering::Acquire) < needed {
        if spins < 256 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            // An oversubscribed machine may have descheduled the thread we wait for.
            std::thread::yield_now();
        }
    }
}

/// One sweep of the chase: sweep `c` waits on `before` (the previous sweep's completed steps)
/// between steps and publishes its own in `mine`.
#[derive(Clone, Copy)]
struct Sweep<'a> {
    band: BandPtr,
    c: usize,
    b: usize,
    before: Option<&'a AtomicUsize>,
    mine: Option<&'a AtomicUsize>,
}

/// Runs `job`.
///
/// # Safety
/// No other thread may touch the window of a step while it runs (the caller's pipeline).
unsafe fn sweep(job: Sweep<'_>, buffers: &mut StepBuffers) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (crate::cpu detected them).
        return sweep_avx2(job, buffers);
    }
    sweep_generic(job, buffers)
}

/// The same loop compiled for AVX2 (4 f64 lanes instead of SSE2's 2), chosen at run time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sweep_avx2(job: Sweep<'_>, buffers: &mut StepBuffers) {
    sweep_generic(job, buffers)
}

#[inline(always)]
unsafe fn sweep_generic(job: Sweep<'_>, buffers: &mut StepBuffers) {
    let Sweep {
        band,
        c,
        b,
        before,
        mine,
    } = job;
    let n = band.n;
    let (mut col, mut p, mut j) = (c, c + 1, 0);
    while p + 1 < n {
        if let Some(before) = before {
            wait_for(before, j + PIPELINE_LAG);
        }
        let len = b.min(n - p);
        step(band, col, p, len, b, buffers);
        j += 1;
        if let Some(mine) = mine {
            mine.store(j, Ordering::Release);
        }
        col = p;
        p += len;
    }
    if let Some(mine) = mine {
        mine.store(usize::MAX, Ordering::Release);
    }
}

/// The `len` entries of column j from row i down (the caller keeps i − j + len ≤ w + 1).
#[inline(always)]
unsafe fn column<'a>(band: BandPtr, i: usize, j: usize, len: usize) -> &'a mut [f64] {
    std::slice::from_raw_parts_mut(band.data.add(i + band.w * j), len)
}

/// One step: the reflector H that maps A[p..p+len, col] to (β, 0, …) and the similarity H·A·H on
/// the rows and columns P = p..p+len (module docs).
#[inline(always)]
unsafe fn step(band: BandPtr, col: usize, p: usize, len: usize, b: usize, buf: &mut StepBuffers) {
    let hi = band.n.min(p + len + b); // column p+len−1 has nonzeros down to row p+len−1+b
    let target = column(band, p, col, len);
    let v = &mut buf.v[..len];
    v.copy_from_slice(target);
    let (tau, beta) = make_reflector(v);
    target[0] = beta;
    target[1..].fill(0.0);
    if tau == 0.0 {
        return;
    }
    let v = &buf.v[..len];
    // From the left: rows P of the bulge columns col+1..p.
    for k in col + 1..p {
        let seg = column(band, p, k, len);
        let s = tau * dot(v, seg);
        for (a, &vi) in seg.iter_mut().zip(v) {
            *a -= s * vi;
        }
    }
    // acc[r] = (A·v)[p + r] for the rows p..hi: the diagonal block (its upper triangle read from
    // the lower one) and the rows below it.
    let rows = hi - p;
    let acc = &mut buf.acc[..rows];
    acc.fill(0.0);
    for t in 0..len {
        let seg = column(band, p + t, p + t, rows - t);
        let vt = v[t];
        for (a, &x) in acc[t..].iter_mut().zip(seg.iter()) {
            *a += x * vt;
        }
        acc[t] += dot(&seg[1..len - t], &v[t + 1..]);
    }
    // Diagonal block: w = τ·B·v − (τ/2)(τ·vᵀB·v)·v; below: the rows times τ.
    let (diagonal, below) = acc.split_at_mut(len);
    for a in diagonal.iter_mut() {
        *a *= tau;
    }
    let alpha = -0.5 * tau * dot(diagonal, v);
    for (a, &vi) in diagonal.iter_mut().zip(v) {
        *a += alpha * vi;
    }
    let w = &*diagonal;
    for t in 0..len {
        let seg = column(band, p + t, p + t, rows - t);
        let (wt, vt) = (w[t], v[t]);
        let (block, rest) = seg.split_at_mut(len - t);
        for ((a, &vi), &wi) in block.iter_mut().zip(&v[t..]).zip(&w[t..]) {
            *a -= vi * wt + wi * vt;
        }
        let f = tau * vt;
        for (a, &r) in rest.iter_mut().zip(below.iter()) {
            *a -= f * r;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use faer::Mat;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// A random symmetric band matrix (full storage) of half-width b, entries uniform in ±0.5.
    pub(crate) fn random_band(n: usize, b: usize, seed: u64) -> Mat<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut a = Mat::<f64>::zeros(n, n);
        for j in 0..n {
            for i in j..n.min(j + b + 1) {
                let x = rng.random::<f64>() - 0.5;
                a[(i, j)] = x;
                a[(j, i)] = x;
            }
        }
        a
    }

    #[test]
    fn the_tridiagonal_form_has_the_band_matrix_eigenvalues() {
        for &(n, b) in &[
            (1, 4),
            (2, 4),
            (3, 1),
            (10, 3),
            (64, 8),
            (257, 32),
            (300, 7),
        ] {
            let a = random_band(n, b, 7 * n as u64 + b as u64);
            let want = a.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            let (d, e) = band_to_tridiagonal(a.as_ref(), b, 1);
            let mut t = Mat::<f64>::zeros(n, n);
            for i in 0..n {
                t[(i, i)] = d[i];
                if i + 1 < n {
                    t[(i + 1, i)] = e[i];
                    t[(i, i + 1)] = e[i];
                }
            }
            let got = t.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            let scale = want.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-12 * scale, "n={n} b={b}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn the_pipeline_is_bit_identical_to_the_sequential_chase() {
        for &(n, b, threads) in &[(300, 7, 2), (513, 8, 3), (640, 32, 2), (1000, 16, 4)] {
            let a = random_band(n, b, n as u64);
            let sequential = band_to_tridiagonal(a.as_ref(), b, 1);
            for _ in 0..3 {
                assert_eq!(
                    band_to_tridiagonal(a.as_ref(), b, threads),
                    sequential,
                    "n={n} b={b} threads={threads}"
                );
            }
        }
    }

    #[test]
    fn entries_outside_the_band_are_ignored() {
        let (n, b) = (50, 4);
        let a = random_band(n, b, 3);
        let mut noisy = a.clone();
        for j in 0..n {
            for i in 0..n {
                if i.abs_diff(j) > b {
                    noisy[(i, j)] = 1e3;
                }
            }
        }
        assert_eq!(
            band_to_tridiagonal(noisy.as_ref(), b, 1),
            band_to_tridiagonal(a.as_ref(), b, 1)
        );
    }
}
