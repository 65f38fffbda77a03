//! Comparing two weight matrices of the same layer (two checkpoints): the overlap of their leading
//! singular subspaces, and the roles a layer can have in a model (the vocabulary of report rows).

use faer::Mat;

use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::linalg::decomposition::{thin_svd, Decomposition};
use crate::matrix::{MatrixView, Scalar};

crate::named_enum! {
    /// What a weight matrix does in a transformer block (or outside one).
    pub enum Role for "role" as "role" / "roles" {
        /// Token, position or type embedding tables.
        Embedding = "embedding",
        /// A fused query/key/value projection (GPT-2 `c_attn`, `query_key_value`).
        AttentionQkv = "attention.qkv",
        /// Query projection.
        AttentionQuery = "attention.query",
        /// Key projection.
        AttentionKey = "attention.key",
        /// Value projection.
        AttentionValue = "attention.value",
        /// Attention output projection.
        AttentionOutput = "attention.output",
        /// MLP gate projection (gated MLPs: Llama, Mistral).
        MlpGate = "mlp.gate",
        /// MLP up projection.
        MlpUp = "mlp.up",
        /// MLP down projection.
        MlpDown = "mlp.down",
        /// Output head (`lm_head`, classifier, pooler).
        Head = "head",
        /// Anything else.
        Other = "other",
    }
}

crate::named_enum! {
    /// How a layer of one checkpoint relates to the other in a comparison.
    pub enum ComparisonStatus for "status" as "status" / "statuses" {
        /// In both, same shape: compared.
        Compared = "compared",
        /// Only in the first checkpoint.
        OnlyA = "only_a",
        /// Only in the second checkpoint.
        OnlyB = "only_b",
        /// In both with different shapes.
        ShapeMismatch = "shape_mismatch",
        /// In both, but reading or analysing it failed (see the row's error).
        Error = "error",
    }
}

/// The default number of leading singular directions compared by [`subspace_overlap`].
pub const DEFAULT_OVERLAP_K: usize = 10;

/// The overlap of the leading `k`-dimensional singular subspaces of `a` and `b` (same shape):
/// ‖U_aᵀU_b‖²_F / k for the left vectors and the same for the right, each in [0, 1] (1: the same
/// subspace; k/min(rows, cols) is the expectation for unrelated random subspaces). `k` is clipped
/// to min(rows, cols).
pub fn subspace_overlap<T: Scalar, U: Scalar>(
    a: MatrixView<'_, T>,
    b: MatrixView<'_, U>,
    k: usize,
    stop: &Stop,
) -> CoreResult<(f64, f64, usize)> {
    if (a.nrows(), a.ncols()) != (b.nrows(), b.ncols()) {
        return Err(CoreError::invalid(
            "b",
            format!(
                "shape {}×{} differs from a's {}×{}",
                b.nrows(),
                b.ncols(),
                a.nrows(),
                a.ncols()
            ),
        ));
    }
    if k == 0 {
        return Err(CoreError::invalid("k", "must be at least 1"));
    }
    let k = k.min(a.nrows().min(a.ncols()));
    let sa = thin_svd(a, Decomposition::Auto, stop)?;
    stop.check()?;
    let sb = thin_svd(b, Decomposition::Auto, stop)?;
    Ok((overlap(&sa.u, &sb.u, k), overlap(&sa.v, &sb.v, k), k))
}

/// ‖X[:, :k]ᵀ Y[:, :k]‖²_F / k.
fn overlap(x: &Mat<f64>, y: &Mat<f64>, k: usize) -> f64 {
    let xk = x.as_ref().subcols(0, k);
    let yk = y.as_ref().subcols(0, k);
    let p = xk.transpose() * yk;
    let mut total = 0.0;
    for j in 0..k {
        for i in 0..k {
            total += p[(i, j)] * p[(i, j)];
        }
    }
    total / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, m: usize, seed: u64) -> Vec<f64> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n * m)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect()
    }

    #[test]
    fn a_matrix_overlaps_itself_and_a_scaled_copy_fully() {
        let (n, m) = (60, 40);
        let a = random(n, m, 1);
        let b: Vec<f64> = a.iter().map(|x| 3.0 * x).collect();
        let va = MatrixView::from_row_major(&a, n, m);
        let vb = MatrixView::from_row_major(&b, n, m);
        let (left, right, k) = subspace_overlap(va, vb, 5, &Stop::never()).unwrap();
        assert_eq!(k, 5);
        assert!(
            (left - 1.0).abs() < 1e-9 && (right - 1.0).abs() < 1e-9,
            "{left} {right}"
        );
    }

    #[test]
    fn unrelated_matrices_overlap_little_and_shapes_must_match() {
        let (n, m) = (200, 100);
        let (a, b) = (random(n, m, 2), random(n, m, 3));
        let va = MatrixView::from_row_major(&a, n, m);
        let vb = MatrixView::from_row_major(&b, n, m);
        let (left, right, _) = subspace_overlap(va, vb, 5, &Stop::never()).unwrap();
        assert!(left < 0.3 && right < 0.3, "{left} {right}");
        let c = random(m, n, 4);
        let vc = MatrixView::from_row_major(&c, m, n);
        assert!(subspace_overlap(va, vc, 5, &Stop::never()).is_err());
        assert!(subspace_overlap(va, vb, 0, &Stop::never()).is_err());
        assert_eq!(subspace_overlap(va, vb, 500, &Stop::never()).unwrap().2, m);
    }

    #[test]
    fn roles_parse() {
        assert_eq!(Role::parse("mlp.gate").unwrap(), Role::MlpGate);
        assert!(Role::parse("gate").is_err());
        assert_eq!(*Role::NAMES.last().unwrap(), "other");
    }
}
