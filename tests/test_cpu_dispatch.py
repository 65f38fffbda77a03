"""The run-time CPU dispatch: NETSIEVE_FORCE_SCALAR=1 puts every kernel with an AVX2 version on its
portable path (the choice is made once per process, so each side runs in its own child process),
and both paths give the same answers: singular values through the two-stage tridiagonalisation
(panel QR and bulge chasing), Porter–Thomas p-values (the Beta-table bucketing), margins and the
projections of the doubling condition."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = r"""
import json, numpy as np, netsieve as ns
rng = np.random.default_rng(7)
W = rng.normal(size=(1700, 1600))                 # Gram side 1600 ≥ TWO_STAGE_MIN_DIM: banded two-stage route
s = ns.singular_values(W)
V = rng.normal(size=(500, 240)); V[:, :3] += 4 * rng.normal(size=(500, 1))
pt = ns.porter_thomas(V)
logits = rng.normal(size=(5000, 37)).astype(np.float32)
labels = rng.integers(0, 37, 5000)
m = ns.margins(logits, labels)
X = rng.normal(size=(3000, 13))
dc = ns.doubling_condition(X, n_directions=24, search=False)
print(json.dumps({"dispatch": ns.CPU_DISPATCH, "s": s.tolist(), "pt": [float(x) for x in pt.pvalues],
                  "boundary": pt.boundary, "m": m.astype(float).tolist(),
                  "doubling": [dc.constant, dc.worst.offset, dc.ratios.tolist()]}))
"""


def _run(force: bool, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NETSIEVE_FORCE_SCALAR"}
    if force:
        env["NETSIEVE_FORCE_SCALAR"] = "1"
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_forced_scalar_path_gives_the_same_answers(tmp_path):
    fast, scalar = _run(False, tmp_path), _run(True, tmp_path)
    assert scalar["dispatch"] == "scalar (forced)"
    if fast["dispatch"] == "scalar":
        pytest.skip("this CPU has no AVX2: both runs took the portable path")
    assert fast["dispatch"] in ("avx2+fma", "avx2")
    # FMA rounds once where the portable path rounds twice: agreement to a few ulps of s_max.
    s_fast, s_scalar = np.array(fast["s"]), np.array(scalar["s"])
    np.testing.assert_allclose(s_scalar, s_fast, rtol=0, atol=1e-11 * s_fast[0])
    np.testing.assert_allclose(scalar["pt"], fast["pt"], rtol=1e-9, atol=1e-12)
    assert scalar["boundary"] == fast["boundary"]
    assert scalar["m"] == fast["m"]  # max and subtract only: bit-identical
    assert scalar["doubling"] == fast["doubling"]  # projections: the same multiply-then-add lanes


def test_dispatch_is_reported():
    import netsieve as ns

    assert ns.CPU_DISPATCH in ("avx2+fma", "avx2", "scalar", "scalar (forced)")
    assert (ns.CPU_DISPATCH == "scalar (forced)") == (os.environ.get("NETSIEVE_FORCE_SCALAR", "").lower() in ("1", "true", "yes"))
