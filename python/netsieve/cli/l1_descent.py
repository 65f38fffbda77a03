"""``netsieve l1-descent``: train one layer of a ReLU network for the L1 loss by vertex descent
(:func:`netsieve.l1_vertex_descent`), on built-in random data (input 4, hidden widths [5, 4, 2],
N = 500, X and y uniform on [−3, 3], weights U(−1, 1): the author's example) or on a saved network
and ``.npy`` data: ``--weights`` an ``.npz`` with arrays W0, b0, W1, b1, … (activations from
``--activation``), or ``--model`` a torch file holding an ``nn.Sequential`` saved whole or its
state dict (read by :func:`netsieve.torch.load_sequential` with ``weights_only=True``: a saved model
brings its own activations, a state dict takes ``--activation``). Prints the trace with the extrapolated
loss, shows a progress bar, and with ``--plot`` draws the loss and the step length against the
vertex index.

The run proceeds in chunks of ``--chunk`` vertices so that the bar can move: each chunk restarts
the kernel at the vertex the previous one reached (phase 1 ends at once there), so the
extrapolation's window restarts with each chunk too.
"""

from __future__ import annotations

import argparse
import math
import time

from .. import DEFAULTS, L1_ACTIVATIONS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "l1-descent",
        help="train one layer of a ReLU network for the L1 loss by vertex descent (Deep ReLU Programming)",
        description="Layer-wise L1 training by vertex descent, on built-in random data or on a saved "
        "network (.npz: W0, b0, W1, b1, ...; or a torch file: an nn.Sequential saved whole, or its state dict) "
        "with .npy data.",
    )
    p.add_argument("--weights", metavar="NPZ", help="a network saved as W0, b0, W1, b1, ... (default: random)")
    p.add_argument("--model", metavar="PT", help="a torch file: an nn.Sequential of Linear and ReLU/LeakyReLU/Abs "
                   "saved by torch.save(model, path), or its state dict (loaded with weights_only=True)")
    p.add_argument("--X", metavar="NPY", help="inputs (N, d) (with --weights or --model)")
    p.add_argument("--y", metavar="NPY", help="targets (N,) or (N, outputs) (with --weights or --model)")
    p.add_argument("--activation", choices=L1_ACTIVATIONS, default="relu",
                   help="activation of every hidden layer (built-in data, --weights, a state dict)")
    p.add_argument("--layer", type=int, default=0, help="the trained layer (default 0)")
    p.add_argument("--n", type=int, default=500, help="data points of the built-in data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-vertices", type=int, help="vertices to visit at most")
    p.add_argument("--time-limit", type=float, help="seconds")
    p.add_argument("--chunk", type=int, default=200, help="vertices per kernel call (progress)")
    p.add_argument("--every", type=int, default=0, help="print every k-th vertex (default: about 20 lines)")
    p.add_argument("--plot", metavar="PNG", help="loss (log scale) and step length against the vertex index")
    return p


def _network(args):
    import numpy as np

    if args.weights and args.model:
        raise ValueError("give --weights or --model, not both")
    if args.model:
        if not (args.X and args.y):
            raise ValueError("--model needs --X and --y")
        import torch

        from ..torch import load_sequential, sequential_layers

        linears, acts = sequential_layers(load_sequential(args.model, args.activation))
        Ws = [lin.weight.detach().to(torch.float64).numpy() for lin in linears]
        bs = [np.zeros(lin.out_features) if lin.bias is None else lin.bias.detach().to(torch.float64).numpy()
              for lin in linears]  # fmt: skip
        X = np.load(args.X, allow_pickle=False)
        y = np.load(args.y, allow_pickle=False)
        return Ws, bs, acts, X, y, f"{args.model} on {args.X}"
    if args.weights:
        if not (args.X and args.y):
            raise ValueError("--weights needs --X and --y")
        with np.load(args.weights, allow_pickle=False) as f:
            k, Ws, bs = 0, [], []
            while f"W{k}" in f.files:
                if f"b{k}" not in f.files:
                    raise ValueError(f"{args.weights} has W{k} but no b{k}")
                Ws.append(f[f"W{k}"])
                bs.append(f[f"b{k}"])
                k += 1
        if not Ws:
            raise ValueError(f"{args.weights} holds no W0")
        X = np.load(args.X, allow_pickle=False)
        y = np.load(args.y, allow_pickle=False)
        return Ws, bs, [args.activation] * (len(Ws) - 1), X, y, f"{args.weights} on {args.X}"
    if args.n < 1 or args.seed < 0:
        raise ValueError(f"--n must be positive and --seed non-negative, got {args.n} and {args.seed}")
    rng = np.random.default_rng(args.seed)
    widths = [4, 5, 4, 2, 1]
    Ws = [rng.uniform(-1, 1, (widths[k + 1], widths[k])) for k in range(4)]
    bs = [rng.uniform(-1, 1, widths[k + 1]) for k in range(4)]
    X = rng.uniform(-3, 3, (args.n, 4))
    y = rng.uniform(-3, 3, args.n)
    return Ws, bs, [args.activation] * 3, X, y, f"random network 4-[5, 4, 2]-1 on {args.n} random points (seed {args.seed})"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import netsieve as ns

    from .._progress import progress_bar

    if args.chunk < 1:
        raise ValueError(f"--chunk must be positive, got {args.chunk}")
    if args.time_limit is not None and not (math.isfinite(args.time_limit) and args.time_limit >= 0):
        raise ValueError(f"--time-limit must be a non-negative number of seconds, got {args.time_limit}")
    Ws, bs, acts, X, y, source = _network(args)
    started = time.perf_counter()
    bar = progress_bar(args.max_vertices, "vertices", None if not args.quiet else False)
    losses, steps, extra, regions = [], [], [], []
    first = None
    status = "limit"
    try:
        while True:
            left = None if args.max_vertices is None else args.max_vertices - len(losses)
            budget = None if args.time_limit is None else args.time_limit - (time.perf_counter() - started)
            if (left is not None and left <= 0) or (budget is not None and budget <= 0):
                break
            res = ns.l1_vertex_descent(Ws, bs, acts, X, y, args.layer, max_vertices=min(args.chunk, left or args.chunk),
                                       time_limit=budget, window=DEFAULTS["l1_window"])  # fmt: skip
            first = first or res
            Ws = list(Ws)
            bs = list(bs)
            Ws[args.layer], bs[args.layer] = np.array(res.weight), np.array(res.bias)
            t = res.trace
            losses += t.loss.tolist()
            steps += t.step.tolist()
            extra += t.extrapolated.tolist()
            regions += t.regions_tried.tolist()
            if bar is not None:
                bar.update(res.n_vertices)
            status = res.status
            if status != "limit" or res.n_vertices < args.chunk:
                break
    except KeyboardInterrupt:  # between two kernel calls; within one, the kernel returns its point
        status = "interrupted"
    finally:
        if bar is not None:
            bar.close()
    if first is None:  # interrupted before the first call returned: nothing to show
        raise KeyboardInterrupt
    seconds = time.perf_counter() - started
    if not args.quiet:
        print(source)
        print(f"layer {args.layer}: {first.n_params} parameters; loss {first.initial_loss:.6g} at the start, "
              f"{first.phase1_loss:.6g} at the first vertex")  # fmt: skip
        every = args.every or max(1, len(losses) // 20)
        print(f"{'vertex':>8} {'loss':>14} {'step':>11} {'regions':>7} {'extrapolated':>14}")
        for k in range(0, len(losses), every):
            print(f"{k + 1:>8} {losses[k]:>14.8g} {steps[k]:>11.3e} {int(regions[k]):>7} {extra[k]:>14.8g}")
    final = losses[-1] if losses else first.phase1_loss
    print(f"status {status}: loss {final:.8g} after {len(losses)} vertices in {seconds:.2f} s "
          f"({len(losses) / max(seconds, 1e-9):.0f} vertices/s)")  # fmt: skip
    if args.plot:
        from .._plotting import pyplot

        plt = pyplot()
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
        k = np.arange(1, len(losses) + 1)
        a.semilogy(k, np.asarray(losses) - min(losses) + 1e-12 * max(losses), label="L_k − min L")
        a.set_xlabel("vertex k")
        a.set_ylabel("loss above the final loss (log)")
        b.semilogy(k, steps)
        b.set_xlabel("vertex k")
        b.set_ylabel("step length ‖θ_{k+1} − θ_k‖ (log)")
        fig.suptitle(f"L1 vertex descent, layer {args.layer}: {status}")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}")
    # Ctrl-C: the trace so far is printed (and plotted), then the usual exit code of an interruption.
    return 130 if status == "interrupted" else 0
