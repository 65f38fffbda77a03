"""The branch-free few-class paths of netsieve.margins (issue #16) against a plain numpy reference:
every class count 2..20 and some longer rows, random labels, heavy ties, ±Inf and NaN, int32 and
int64 labels, float32 and float64, non-contiguous inputs, and more rows than one fast block."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netsieve
from netsieve import InvalidInputError


def reference(logits, labels):
    """f_y − max_{j≠y} f_j with the documented −Inf conventions, or the first bad row's message."""
    n, c = logits.shape
    for i in range(n):
        row, y = logits[i], int(labels[i])
        if not 0 <= y < c:
            return f"row {i}: label {y} is out of range"
        bad = np.flatnonzero(np.isnan(row) | (row == np.inf))
        if bad.size:
            return f"row {i}, column {bad[0]}"
        if np.all(row == -np.inf):
            return f"row {i}: every logit is -Inf"
    fy = logits[np.arange(n), labels]
    competitors = np.where(np.arange(c)[None, :] == labels[:, None], -np.inf, logits)
    with np.errstate(invalid="ignore"):
        want = fy - competitors.max(axis=1)
    want[fy == -np.inf] = -np.inf
    return want


_values = {
    "plain": st.floats(-1e3, 1e3, width=32),
    "ties": st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5]),
    "masked": st.sampled_from([0.0, -0.0, 1.0, -np.inf, -np.inf, 3.0]),
    "bad": st.sampled_from([0.0, 1.0, -np.inf, np.inf, np.nan, -2.0, 5.0, 7.0]),
}


@st.composite
def problems(draw):
    c = draw(st.one_of(st.integers(2, 20), st.sampled_from([31, 64, 100, 257])))
    n = draw(st.sampled_from([1, 7, 255, 256, 257, 600]))
    kind = draw(st.sampled_from(sorted(_values)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pool = np.array([draw(_values[kind]) for _ in range(16)])
    if kind == "plain":
        logits = rng.standard_normal((n, c)) * 10
    else:
        logits = rng.choice(pool, size=(n, c))
        if kind == "bad":  # mostly good rows, a few bad entries
            logits = np.where(rng.random((n, c)) < 0.995, rng.standard_normal((n, c)), logits)
    labels = rng.integers(0, c, size=n)
    if kind == "masked":  # keep the true class finite in most rows, so results are checked
        keep = rng.random(n) < 0.9
        logits[keep, labels[keep]] = np.where(rng.random(keep.sum()) < 0.5, -0.0, 0.0)
    if draw(st.booleans()) and n > 3:
        labels[rng.integers(0, n)] = draw(st.sampled_from([-1, c, c + 5]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    label_dtype = draw(st.sampled_from([np.int32, np.int64]))
    layout = draw(st.sampled_from(["c", "fortran", "strided", "padded"]))
    return logits.astype(dtype), labels.astype(label_dtype), layout


def _lay_out(logits, layout):
    if layout == "fortran":
        return np.asfortranarray(logits)
    if layout == "strided":  # every other column of a wider array
        wide = np.repeat(logits, 2, axis=1)
        return wide[:, ::2]
    if layout == "padded":  # contiguous rows with a gap between them
        wide = np.zeros((logits.shape[0], logits.shape[1] + 3), dtype=logits.dtype)
        wide[:, : logits.shape[1]] = logits
        return wide[:, : logits.shape[1]]
    return logits


@settings(max_examples=300, deadline=None)
@given(problems())
def test_margins_equal_the_numpy_reference(problem):
    logits, labels, layout = problem
    want = reference(logits.astype(np.float64), labels.astype(np.int64))
    x = _lay_out(logits, layout)
    np.testing.assert_array_equal(x, logits)
    if isinstance(want, str):
        with pytest.raises(InvalidInputError, match=re.escape(want)):
            netsieve.margins(x, labels)
        return
    got = netsieve.margins(x, labels)
    assert got.dtype == logits.dtype
    # f_y − f_c rounded once in float64 and then to float32 is the float32 difference (double
    # rounding is exact for a subtraction when 53 ≥ 2·24 + 2); signed zeros compare equal here, the
    # Rust test checks their bits against the exact kernel.
    want = want.astype(logits.dtype)
    np.testing.assert_array_equal(got, want)



@pytest.mark.parametrize("c", [2, 3, 4, 5])
def test_int64_labels_with_a_high_word_are_out_of_range(c):
    """The 2–4-class AVX2 kernels read int64 labels as int32 word pairs: a label whose low word is
    a valid class must still be refused, wherever it sits in the 8-row steps."""
    rng = np.random.default_rng(c)
    logits = rng.standard_normal((61, c)).astype(np.float32)
    for bad in (2**32, 2**32 + 1, -(2**32), np.iinfo(np.int64).min):
        for row in (0, 8, 37, 60):
            labels = np.arange(61, dtype=np.int64) % c
            labels[row] = bad
            with pytest.raises(InvalidInputError, match=re.escape(f"row {row}: label {bad} is out of range")):
                netsieve.margins(logits, labels)
    labels = (np.arange(61, dtype=np.int64) * 7) % c
    want = reference(logits.astype(np.float64), labels).astype(np.float32)
    np.testing.assert_array_equal(netsieve.margins(logits, labels), want)
    np.testing.assert_array_equal(netsieve.margins(logits, labels.astype(np.int32)), want)
