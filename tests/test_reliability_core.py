"""Reliability of the native core: fork, Ctrl-C, memory bounds and thread safety, each in a
subprocess with a timeout so that a regression (a hang) fails the test instead of the suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import netsieve as ns

PY = sys.executable


def run_script(code: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout)


# -- fork ----------------------------------------------------------------------------------------


def test_parallel_call_works_in_a_forked_child():
    # Before the fix the child waited forever for rayon threads that do not exist after fork.
    out = run_script(
        """
        import os, numpy as np, netsieve as ns
        W = np.random.default_rng(0).normal(size=(50, 300))
        ref = ns.singular_values(W)
        pid = os.fork()
        if pid == 0:
            s = ns.singular_values(W)
            fit = ns.analyze_spectra([W, W.T], porter_thomas=True)
            os._exit(0 if np.allclose(s, ref) and len(fit) == 2 else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        """,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def test_multiprocessing_fork_pool():
    out = run_script(
        """
        import multiprocessing as mp, numpy as np, netsieve as ns
        def work(seed):
            W = np.random.default_rng(seed).normal(size=(120, 80))
            return float(ns.fit_mp(W).sigma)
        if __name__ == "__main__":
            work(0)  # the parent's pool exists before the fork
            with mp.get_context("fork").Pool(2) as pool:
                print(sorted(round(x, 1) for x in pool.map(work, range(4))))
        """,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1.0, 1.0, 1.0, 1.0]"


# -- Ctrl-C --------------------------------------------------------------------------------------

# The call and the side of its square W: each must still be running 1.5 s after it starts (the
# values-only SVD got fast enough to finish a 2500² matrix in under that).
_INTERRUPTIBLE = {
    "singular_values(svd)": ("ns.singular_values(W, decomposition='svd')", 5000),
    "shrink_many": ("ns.shrink_many([W, W, W, W], 'operator', decomposition='svd')", 2500),
    "analyze_spectra": ("ns.analyze_spectra([W, W, W], porter_thomas=True, decomposition='svd')", 2500),
}


@pytest.mark.parametrize("call", list(_INTERRUPTIBLE), ids=list(_INTERRUPTIBLE))
def test_ctrl_c_interrupts_a_long_native_call_within_a_second(call):
    # Each of these ran for 30–70 s after Ctrl-C before the fix.
    script = textwrap.dedent(
        f"""
        import signal, sys, time
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import numpy as np, netsieve as ns
        W = np.random.default_rng(0).normal(size=({_INTERRUPTIBLE[call][1]}, {_INTERRUPTIBLE[call][1]}))
        print("ready", flush=True)
        t = time.perf_counter()
        try:
            {_INTERRUPTIBLE[call][0]}
        except KeyboardInterrupt:
            print(f"interrupted {{time.perf_counter() - t:.2f}}", flush=True)
            sys.exit(130)
        print("finished", flush=True)
        """
    )
    proc = subprocess.Popen([PY, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        sent = time.perf_counter()
        out, err = proc.communicate(timeout=20)
        waited = time.perf_counter() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert out.startswith("interrupted"), out
    assert waited < 2.0, f"took {waited:.2f} s to return after SIGINT"


# -- memory --------------------------------------------------------------------------------------


def _peak_rss_increase(budget: int) -> float:
    # VmHWM is the peak RSS of this process image (ru_maxrss would include the forking parent's
    # peak); writing 5 to clear_refs resets it after the warm-up. A fixed mmap threshold makes glibc
    # return freed large blocks at once, so the peak measures memory in use rather than free memory
    # cached in per-thread arenas.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576")
    code = f"""
import numpy as np, netsieve as ns
def status(key):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(key))
rng = np.random.default_rng(0)
mats = [rng.normal(size=(1500, 1500)).astype(np.float32) for _ in range(4)]
ns.analyze_spectra(mats[:1], porter_thomas=True)  # warm up the pool and allocator
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
rss = status("VmRSS")
ns.analyze_spectra(mats, porter_thomas=True, max_working_bytes={budget})
print(status("VmHWM") - rss)
"""
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    return float(out.stdout.strip())


def test_batch_peak_memory_stays_within_the_budget():
    from netsieve import _netsieve

    one = 8 * (4.5 + 7) * 1500 * 1500  # the core's estimate for one 1500² thin SVD (auto route)
    bounded = _peak_rss_increase(int(one))  # one matrix in flight
    unbounded = _peak_rss_increase(1 << 40)  # all four may run at once
    assert _netsieve.DEFAULTS["max_working_bytes"] == 1 << 30
    # One working set at a time: the estimate (which also covers an SVD fall-back) holds.
    assert bounded <= one, (bounded, one)
    # The test can fail: without the budget the same batch holds several working sets at once.
    assert unbounded > 1.5 * bounded, (unbounded, bounded)


def test_model_analysis_peak_memory_stays_within_max_group_bytes():
    # `netsieve analyze` of 4 × 4000² float32 peaked 1.61 GB above its baseline (25× the largest
    # tensor). Groups of inputs and waves of working sets now both respect max_group_bytes.
    pytest.importorskip("torch")
    one = int(8 * (4.5 + 7) * 1500 * 1500)
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576")
    code = f"""
import torch, netsieve.torch as nt
def status(key):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(key))
g = torch.Generator().manual_seed(0)
sd = {{f"l{{i}}.weight": torch.randn(1500, 1500, generator=g) for i in range(4)}}
nt.analyze({{"w.weight": sd["l0.weight"]}})
for budget in ({one}, 1 << 40):
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    rss = status("VmRSS")
    nt.analyze(sd, max_group_bytes=budget, progress=False)
    print(status("VmHWM") - rss)
"""
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    bounded, unbounded = (float(v) for v in out.stdout.split())
    assert bounded <= one, (bounded, one)
    assert unbounded > 1.5 * bounded, (unbounded, bounded)


# -- threads -------------------------------------------------------------------------------------


def test_total_variation_shared_across_threads_loses_nothing():
    # Before the fix a shared accumulator raised "Already borrowed" and lost rows.
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(200, 16)) for _ in range(64)]
    tv = ns.TotalVariation()
    errors: list[BaseException] = []

    def feed(part):
        try:
            for b in part:
                tv.update(b)
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=feed, args=(batches[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    allx = np.concatenate(batches)
    assert tv.count == allx.shape[0]
    np.testing.assert_allclose(tv.value, allx.var(axis=0).sum(), rtol=1e-12)


def test_total_variation_accepts_any_array_and_merges_itself():
    torch = pytest.importorskip("torch")
    x = np.arange(12.0).reshape(4, 3)
    ref = x.var(axis=0).sum()
    for batch in (x.tolist(), torch.tensor(x), x.astype(np.float16), x.astype(">f4"), x.reshape(4, 3, 1)):
        tv = ns.TotalVariation()
        tv.update(batch)
        assert tv.count == 4 and tv.dim == 3
        np.testing.assert_allclose(tv.value, ref, rtol=1e-6)
    tv = ns.TotalVariation()
    tv.update(x)
    tv.merge(tv)  # the same examples twice: count doubles, the variance is unchanged
    assert tv.count == 8
    np.testing.assert_allclose(tv.value, ref, rtol=1e-12)
    with pytest.raises(ValueError, match="dimension 5"):
        tv.update(np.ones((2, 5)))


def test_a_worker_thread_call_is_not_interruptible_but_completes():
    # Signals only reach the main thread; calls from other threads simply run to completion.
    out: list = []
    t = threading.Thread(target=lambda: out.append(ns.singular_values(np.eye(40))))
    t.start()
    t.join(timeout=30)
    assert not t.is_alive() and np.allclose(out[0], 1.0)


@pytest.mark.skipif(os.cpu_count() is None, reason="needs a CPU count")
def test_thread_count_follows_rayon_num_threads():
    out = run_script(
        """
        import numpy as np, netsieve as ns
        W = np.random.default_rng(0).normal(size=(300, 200))
        print(repr(ns.singular_values(W).tolist()))
        """
    )
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    serial = subprocess.run([PY, "-c", "import numpy as np, netsieve as ns;"
                             "W = np.random.default_rng(0).normal(size=(300, 200));"
                             "print(repr(ns.singular_values(W).tolist()))"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and serial.returncode == 0
    assert out.stdout == serial.stdout
