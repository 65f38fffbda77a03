"""``netsieve doubling DATA``: the uniform doubling constant Ĉ(δ) of a data set (a .npy file of
points, or a built-in data set's training inputs), its worst slab, and per class with labels."""

from __future__ import annotations

import argparse
import os

from .. import DEFAULTS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "doubling",
        help="the uniform doubling condition of a data set (.npy points or a built-in data set)",
        description="How much thin slabs {x : |w·x + b| < δ} of the data gain when doubled: Ĉ(δ) against δ "
        "and the worst slab (Berlyand–Jabin–Safsten; Shmalo). A Ĉ that grows as δ shrinks marks a flat "
        "portion of the data.",
    )
    p.add_argument("data", help="an (N, d) .npy file, or a built-in data set (mnist1d, digits, ...; needs the torch extra)")
    p.add_argument("--labels", metavar="NPY", help="integer labels (.npy) of the points: adds the constant of each class")
    p.add_argument("--per-class", action="store_true", help="a built-in data set's labels: the constant of each class")
    p.add_argument("--n-train", type=int, help="built-in data: the first N training points")
    p.add_argument("--deltas", help="comma-separated increasing half-widths (default: 12 halvings of a quarter spread)")
    p.add_argument("--min-points", type=int, help="the cut m: slabs must hold m points (default max(10, ⌈√N⌉))")
    p.add_argument("--directions", type=int, default=DEFAULTS["n_directions"],
                   help=f"random directions (default {DEFAULTS['n_directions']})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-search", action="store_true", help="skip the local search over directions")
    p.add_argument("--plot", metavar="PNG", help="write Ĉ against δ and the worst slab (needs matplotlib)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON")
    return p


def load_points(args: argparse.Namespace):
    """(X, labels or None, what) from a .npy file or a built-in data set."""
    import numpy as np

    if args.data.endswith(".npy") or os.path.exists(args.data):
        X = np.load(args.data, allow_pickle=False)
        if X.ndim != 2:
            raise ValueError(f"{args.data} holds a {X.ndim}-D array; doubling needs (N, d) points")
        if X.dtype.kind in "iub":
            X = X.astype(np.float64)
        labels = np.load(args.labels, allow_pickle=False) if args.labels else None
        if args.per_class and labels is None:
            raise ValueError("--per-class needs --labels for a .npy file")
        return X, labels, f"{args.data}: {X.shape[0]} points in ℝ^{X.shape[1]}"
    if args.labels:
        raise ValueError("--labels is for .npy data; a built-in data set brings its labels (--per-class)")
    try:
        from netsieve.torch.builtin_data import DATASETS, load_dataset
    except ImportError as exc:
        raise ImportError(f"built-in data sets need the torch extra: pip install 'netsieve[torch]' ({exc})") from exc
    if args.data not in DATASETS:
        raise ValueError(f"{args.data!r} is neither a file nor a built-in data set ({', '.join(sorted(DATASETS))})")
    split = load_dataset(args.data, seed=args.seed, n_train=args.n_train)
    X = split.x_train.reshape(split.n_train, -1).double().numpy()
    labels = split.y_train.numpy() if args.per_class else None
    return X, labels, f"{args.data} (training inputs): {X.shape[0]} points in ℝ^{X.shape[1]}"


def report_lines(r) -> list[str]:
    """The lines ``netsieve doubling`` prints for a :class:`netsieve.DoublingResult`."""
    import numpy as np

    lines = [f"Ĉ = {r.constant:.4g} over δ ≤ {r.deltas[-1]:.4g} (m = {r.min_points} of N = {r.n_points}; "
             f"{r.constant_without_search:.4g} without the searched directions)",
             f"{'δ':>11} {'Ĉ(δ)':>9} {'mean':>7} {'slabs':>10}"]  # fmt: skip
    for d, c, mean, n in zip(r.deltas, r.constant_by_delta, r.mean_ratio_by_delta, r.slabs_by_delta):
        shown = "—" if np.isnan(c) else f"{c:.4g}"
        lines.append(f"{d:11.4g} {shown:>9} {'—' if np.isnan(mean) else f'{mean:.3f}':>7} {n:10d}")
    w = r.worst
    top = np.argsort(-np.abs(w.direction))[:5]
    coords = ", ".join(f"w[{i}]={w.direction[i]:+.3f}" for i in top)
    lines.append(f"worst slab: |w·x + {w.offset:.4g}| < {w.delta:.4g} holds {w.inner} points, its double "
                 f"{w.outer} (ratio {w.ratio:.4g}); w from {w.source}: {coords}")  # fmt: skip
    if r.by_class:
        for label, c in r.by_class.items():
            text = "too few points" if c is None else f"Ĉ = {c.constant:.4g} (m = {c.min_points} of {c.n_points})"
            lines.append(f"class {label}: {text}")
    return lines


def run(args: argparse.Namespace) -> int:
    from .. import doubling_condition
    from .._progress import progress_bar

    deltas = None
    if args.deltas:
        deltas = [float(s) for s in args.deltas.split(",") if s.strip()]
    if args.plot and os.path.isdir(args.plot):
        raise ValueError(f"--plot {args.plot} is a directory; give a file name")
    X, labels, what = load_points(args)
    print(what)
    bar = progress_bar(None, "directions", False if getattr(args, "quiet", False) else None)

    def report(done: int, total: int) -> None:
        if bar is not None and total:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        r = doubling_condition(X, labels=labels, deltas=deltas, min_points=args.min_points,
                               n_directions=args.directions, seed=args.seed, search=not args.no_search,
                               progress=report)  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    for line in report_lines(r):
        print(line)
    if args.json:
        from .._files import atomic_write_text
        from .._json import dumps

        atomic_write_text(args.json, dumps(r.to_dict(arrays=True)))
    if args.plot:
        import matplotlib.pyplot as plt

        from ..doubling import plot_doubling

        plt.close(plot_doubling(r, X, args.plot))
    return 0
