"""netsieve.margins / margin_summary / lowest_margins against numpy references, conventions for
−Inf, strides, dtypes, and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import netsieve
from netsieve import InvalidInputError


def ref_margins(logits, labels, k=1):
    """f_y minus the k-th largest competitor, computed in the input dtype."""
    n, c = logits.shape
    onehot = np.zeros((n, c), dtype=bool)
    onehot[np.arange(n), labels] = True
    fy = logits[onehot]
    comp = np.sort(logits[~onehot].reshape(n, c - 1), axis=1)[:, ::-1]
    return fy - comp[:, k - 1]


def ref_probability_margins(logits, labels, k=1):
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return ref_margins(p, labels, k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [2, 3, 17, 100])
def test_logit_margins_equal_numpy_reference_with_ties(dtype, c):
    rng = np.random.default_rng(c)
    # Small integers make ties frequent; exact equality is expected (same dtype arithmetic).
    logits = rng.integers(-4, 5, size=(513, c)).astype(dtype)
    labels = rng.integers(0, c, size=513)
    m = netsieve.margins(logits, labels)
    assert m.dtype == dtype and m.shape == (513,)
    np.testing.assert_array_equal(m, ref_margins(logits, labels))
    assert (m == 0).any()  # ties did occur


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_logits_and_int32_labels(dtype):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((1000, 10)).astype(dtype)
    labels = rng.integers(0, 10, size=1000).astype(np.int32)
    np.testing.assert_array_equal(netsieve.margins(logits, labels), ref_margins(logits, labels))


@pytest.mark.parametrize("k", [1, 2, 5, 9])
def test_top_k_competitor(k):
    rng = np.random.default_rng(k)
    logits = rng.integers(-3, 4, size=(300, 10)).astype(np.float64)
    labels = rng.integers(0, 10, size=300)
    np.testing.assert_array_equal(netsieve.margins(logits, labels, top_k=k), ref_margins(logits, labels, k))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 3])
def test_probability_margins(dtype, k):
    rng = np.random.default_rng(5)
    logits = (rng.standard_normal((400, 7)) * 4).astype(dtype)
    labels = rng.integers(0, 7, size=400)
    m = netsieve.margins(logits, labels, kind="probability", top_k=k)
    assert m.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(m, ref_probability_margins(logits, labels, k), atol=tol)
    assert np.all(np.abs(m) <= 1)


def test_probability_margin_does_not_overflow():
    logits = np.array([[1e4, 1e4 - 1.0, -1e4]], dtype=np.float32)
    m = netsieve.margins(logits, [0], kind="probability")
    e = np.exp(-1.0)
    assert np.isclose(m[0], (1 - e) / (1 + e), rtol=1e-6)


def test_non_contiguous_inputs_agree():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((200, 40)).astype(np.float32)
    labels = rng.integers(0, 20, size=200)
    views = {
        "column slice": base[:, ::2],
        "fortran": np.asfortranarray(base[:, :20]),
        "reversed rows": base[::-1, 5:25],
        "transpose of transpose": base[:, 10:30].T.copy().T,
    }
    for name, v in views.items():
        np.testing.assert_array_equal(netsieve.margins(v, labels), ref_margins(v, labels), err_msg=name)
    broadcast = np.broadcast_to(np.arange(5, dtype=np.float64), (200, 5))
    lab5 = labels % 5
    np.testing.assert_array_equal(netsieve.margins(broadcast, lab5), ref_margins(np.array(broadcast), lab5))
    rev_labels = labels[::-1]
    np.testing.assert_array_equal(netsieve.margins(base[:, :20], rev_labels), ref_margins(base[:, :20], rev_labels))


def test_input_is_not_modified():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((50, 4))
    labels = rng.integers(0, 4, size=50)
    before = (logits.copy(), labels.copy())
    netsieve.margins(logits, labels)
    netsieve.margins(logits, labels, kind="probability")
    np.testing.assert_array_equal(logits, before[0])
    np.testing.assert_array_equal(labels, before[1])


def test_negative_infinity_conventions():
    inf = np.inf
    logits = np.array(
        [
            [0.0, -inf, -inf],  # all competitors masked
            [-inf, 1.0, 2.0],  # true class masked
            [3.0, -inf, 1.0],  # a masked competitor is ignored
            [-inf, -inf, 0.5],  # true class and one competitor masked
        ]
    )
    labels = np.array([0, 0, 0, 0])
    np.testing.assert_array_equal(netsieve.margins(logits, labels), [inf, -inf, 2.0, -inf])
    p = netsieve.margins(logits, labels, kind="probability")
    np.testing.assert_allclose(p, [1.0, -np.exp(2) / (np.exp(1) + np.exp(2)), ref_probability_margins(logits, labels)[2], -1.0])
    with pytest.raises(InvalidInputError, match="row 1: every logit is -Inf"):
        netsieve.margins(np.array([[0.0, 1.0], [-inf, -inf]]), [0, 1])


def test_torch_inputs():
    torch = pytest.importorskip("torch")
    logits = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(1))
    m = netsieve.margins(logits, labels)
    np.testing.assert_array_equal(m, ref_margins(logits.numpy(), labels.numpy()))
    # Tensor policy: a tensor in gives a tensor out, in the input's dtype.
    assert isinstance(m, torch.Tensor) and m.dtype == torch.float32
    m16 = netsieve.margins(logits.to(torch.bfloat16), labels.to(torch.int32))
    assert isinstance(m16, torch.Tensor) and m16.dtype == torch.bfloat16
    with pytest.raises(TypeError, match="integers"):
        netsieve.margins(logits, labels.float())


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "logits, labels, exc, match",
    [
        (np.zeros((3, 4)), [0, 4, 1], InvalidInputError, "row 1: label 4 is out of range"),
        (np.zeros((3, 4)), [0, 1, -2], InvalidInputError, "row 2: label -2"),
        (np.zeros((3, 4)), np.array([0.0, 1.0, 2.0]), TypeError, "integers"),
        (np.zeros((3, 4)), np.array([True, False, True]), TypeError, "bool"),
        (np.zeros((3, 4)), [0, 1], InvalidInputError, "length 2 but there are 3 rows"),
        (np.zeros((3, 1)), [0, 0, 0], InvalidInputError, "at least 2 classes"),
        (np.zeros((0, 4)), [], InvalidInputError, "empty"),
        (np.zeros(4), [0], InvalidInputError, "2-D"),
        (np.array([[0.0, 1.0], [np.nan, 0.0]]), [0, 1], InvalidInputError, "row 1, column 0"),
        (np.array([[0.0, 1.0], [2.0, np.inf]]), [0, 0], InvalidInputError, "row 1, column 1"),
        (np.zeros((2, 3), dtype=np.int64), [0, 1], TypeError, "floating-point"),
        (np.zeros((2, 3)), np.zeros((2, 1), dtype=np.int64), InvalidInputError, "1-D"),
    ],
)
def test_bad_input(logits, labels, exc, match):
    with pytest.raises(exc, match=match):
        netsieve.margins(logits, labels)


def test_bad_options():
    with pytest.raises(InvalidInputError, match="top_k"):
        netsieve.margins(np.zeros((2, 3)), [0, 1], top_k=3)
    with pytest.raises(InvalidInputError, match="kind"):
        netsieve.margins(np.zeros((2, 3)), [0, 1], kind="hinge")


def test_nan_error_in_a_large_matrix_names_the_first_bad_row():
    logits = np.zeros((100_000, 8), dtype=np.float32)
    logits[77_777, 3] = np.nan
    logits[90_000, 1] = np.nan
    with pytest.raises(InvalidInputError, match="row 77777, column 3"):
        netsieve.margins(logits, np.zeros(100_000, dtype=np.int64))


# -- properties ----------------------------------------------------------------------------------

_logit_matrices = st.integers(2, 12).flatmap(
    lambda c: st.tuples(
        hnp.arrays(np.float64, st.tuples(st.integers(1, 30), st.just(c)), elements=st.integers(-50, 50).map(float)),
        st.integers(0, 10**9),
    )
)


@settings(max_examples=60, deadline=None)
@given(_logit_matrices, st.integers(-1000, 1000))
def test_logit_margin_is_shift_invariant(data, shift):
    logits, seed = data
    labels = np.random.default_rng(seed).integers(0, logits.shape[1], size=logits.shape[0])
    per_row = np.random.default_rng(seed + 1).integers(-1000, 1000, size=(logits.shape[0], 1))
    m = netsieve.margins(logits, labels)
    np.testing.assert_array_equal(netsieve.margins(logits + shift + per_row, labels), m)
    np.testing.assert_allclose(
        netsieve.margins(logits + per_row, labels, kind="probability"),
        netsieve.margins(logits, labels, kind="probability"),
        atol=1e-12,
    )


@settings(max_examples=60, deadline=None)
@given(_logit_matrices)
def test_sign_of_margin_is_correctness(data):
    logits, seed = data
    labels = np.random.default_rng(seed).integers(0, logits.shape[1], size=logits.shape[0])
    m = netsieve.margins(logits, labels)
    row_max = logits.max(axis=1)
    unique_winner = (logits == row_max[:, None]).sum(axis=1) == 1
    correct = (logits.argmax(axis=1) == labels) & unique_winner
    np.testing.assert_array_equal(m > 0, correct)
    np.testing.assert_array_equal(m == 0, (logits[np.arange(len(labels)), labels] == row_max) & ~unique_winner)
    p = netsieve.margins(logits, labels, kind="probability")
    np.testing.assert_array_equal(np.sign(p), np.sign(m))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 9).flatmap(
        lambda c: hnp.arrays(
            np.float64,
            st.tuples(st.integers(1, 20), st.just(c)),
            elements=st.one_of(st.integers(-3, 3).map(float), st.just(-np.inf)),
        )
    ),
    st.integers(0, 10**6),
    st.data(),
)
def test_top_k_and_masked_classes_against_reference(logits, seed, data):
    n, c = logits.shape
    logits[:, 0] = np.where(np.isinf(logits).all(axis=1), 0.0, logits[:, 0])  # no all-masked rows
    labels = np.random.default_rng(seed).integers(0, c, size=n)
    k = data.draw(st.integers(1, c - 1))
    with np.errstate(invalid="ignore"):  # -inf - -inf in the reference; fixed on the next line
        want = ref_margins(logits, labels, k)
    want[np.isneginf(logits[np.arange(n), labels])] = -np.inf  # documented: masked true class
    np.testing.assert_array_equal(netsieve.margins(logits, labels, top_k=k), want)
    strided = np.repeat(logits, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(netsieve.margins(strided, labels, top_k=k), want)


def test_probability_margins_on_strided_input_and_small_integer_labels():
    rng = np.random.default_rng(9)
    logits = np.asfortranarray(rng.standard_normal((300, 12)))
    labels = rng.integers(0, 12, size=300).astype(np.uint8)
    np.testing.assert_allclose(
        netsieve.margins(logits, labels, kind="probability"),
        ref_probability_margins(logits, labels.astype(np.int64)),
        atol=1e-14,
    )
    with pytest.raises(InvalidInputError, match="row 0: label 4294967295"):
        netsieve.margins(logits[:1], np.array([2**32 - 1], dtype=np.uint32))
