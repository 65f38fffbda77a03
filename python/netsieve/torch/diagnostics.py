"""Per-epoch training diagnostics that need the model: δ-robust accuracy, memorization
susceptibility ζ, geometric complexity and the weight matrices whose spectra are tracked.

δ-robust accuracy (Berlyand, Jabin & Safsten 2021): with softmax probabilities p(x), a sample counts
as correct at level δ when p_y(x) − max_{j≠y} p_j(x) > δ (strictly), so acc_0 is the ordinary
accuracy with ties counted as errors and acc_δ is non-increasing in δ. The paper's body could not be
read for this project; the definition follows the research notes ([R]) and the issue's wording.

Susceptibility (Forouzesh, Sedghi & Thiran, ICLR 2023, official code ``mahf93/tracking-memorization``):
at the start of each epoch, snapshot model and optimizer, take ONE step of the training optimizer on a
batch with fixed random labels in train mode, record r = Φ̃(w) − Φ̃(w̃) (the batch's cross-entropy
before minus after the step), then restore everything. ζ(t) is the running mean of r over epochs.

Geometric complexity (Dherin et al., NeurIPS 2022): GC = mean_x ‖∇_x f(x)‖²_F of the logits' input
Jacobian, estimated with Hutchinson probes v ~ N(0, I_K): E‖J_xᵀ v‖² = ‖J_x‖²_F.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .. import DoublingResult, doubling_condition
from ._modes import eval_mode, model_mode

__all__ = [
    "DEFAULT_DELTAS",
    "training_doubling",
    "delta_accuracy",
    "susceptibility_probe",
    "geometric_complexity",
    "weight_matrices",
]

DEFAULT_DELTAS = (0.0, 0.05, 0.1, 0.2, 0.5)


def delta_accuracy(logits: torch.Tensor, labels: torch.Tensor, deltas: Sequence[float] = DEFAULT_DELTAS) -> dict[float, float]:
    """acc_δ for each δ: the fraction of samples with p_y − max_{j≠y} p_j > δ (softmax probabilities).

    The comparison is strict, so acc_0 is the ordinary accuracy with ties counted as errors, and
    acc_δ does not increase with δ. Softmax is computed in float64.

    Parameters
    ----------
    logits : torch.Tensor or array_like, shape (N, K)
        Scores of N ≥ 1 samples for K ≥ 2 classes.
    labels : torch.Tensor or array_like, shape (N,)
        Integer class indices.
    deltas : sequence of float, default DEFAULT_DELTAS = (0.0, 0.05, 0.1, 0.2, 0.5)
        Levels in [0, 1).

    Returns
    -------
    dict of float to float
        acc_δ for each δ (keys as floats, in the order given).

    Raises
    ------
    ValueError
        ``logits`` not (N, K) with K ≥ 2, ``labels`` not of shape (N,), N = 0, or a δ outside
        [0, 1).

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 0.1], [1.0, 1.0]])  # sure, barely right, a tie
    >>> nt.delta_accuracy(logits, torch.tensor([0, 1, 0]), deltas=(0.0, 0.5))
    {0.0: 0.6666666666666666, 0.5: 0.3333333333333333}

    References
    ----------
    .. [1] Berlyand, Jabin & Safsten (2021): δ-robust accuracy and the stability of training (the
       definition follows the project's research notes; see the module docs).
    """
    logits = torch.as_tensor(logits)
    labels = torch.as_tensor(labels).to(torch.int64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be (N, K) with K ≥ 2, got shape {tuple(logits.shape)}")
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    if logits.shape[0] == 0:
        raise ValueError("delta_accuracy needs at least one sample")
    for d in deltas:
        if not 0.0 <= float(d) < 1.0:
            raise ValueError(f"δ must lie in [0, 1), got {d!r}")
    p = torch.softmax(logits.detach().to(torch.float64), dim=1)
    p_true = p.gather(1, labels[:, None]).squeeze(1)
    others = p.scatter(1, labels[:, None], float("-inf"))
    gap = p_true - others.max(dim=1).values
    return {float(d): float((gap > float(d)).to(torch.float64).mean()) for d in deltas}


def susceptibility_probe(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y_random: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float, float]:
    """One optimizer step on (x, y_random) in train mode; returns (Φ̃ before, Φ̃ after) and restores
    parameters, buffers, gradients, optimizer state, train/eval mode and torch's global RNG exactly.

    ``before − after`` is one term r of the susceptibility ζ (the running mean of r over epochs, as
    the trainer's ``"susceptibility"`` metric computes it); Φ̃ after is measured without gradients,
    still in train mode.

    Parameters
    ----------
    model : torch.nn.Module
    optimizer : torch.optim.Optimizer
        The training optimizer over ``model``'s parameters; it steps with its current settings
        (learning rate included).
    x : torch.Tensor
        A batch of inputs, on the model's device.
    y_random : torch.Tensor
        Fixed random labels for that batch.
    loss_fn : callable, optional
        ``loss_fn(outputs, labels) -> scalar tensor``; default cross-entropy.

    Returns
    -------
    (float, float)
        The loss on (x, y_random) before and after the step.

    Raises
    ------
    Exception
        Whatever the model, loss or optimizer raise (e.g. RuntimeError for mismatched shapes);
        everything is restored first.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Linear(4, 3)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> x, y_random = torch.randn(16, 4), torch.randint(0, 3, (16,))
    >>> weight = model.weight.detach().clone()
    >>> before, after = nt.susceptibility_probe(model, opt, x, y_random)
    >>> before > after, torch.equal(model.weight, weight)
    (True, True)

    References
    ----------
    .. [1] Forouzesh, Sedghi & Thiran (ICLR 2023, arXiv 2212.04461): memorization susceptibility ζ;
       official code ``mahf93/tracking-memorization``.
    """
    loss_fn = loss_fn or nn.functional.cross_entropy
    model_state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(optimizer.state_dict())
    grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    rng_state = torch.get_rng_state()
    with model_mode(model, True):
        try:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y_random)
            before = float(loss.detach())
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                after = float(loss_fn(model(x), y_random))
        finally:
            model.load_state_dict(model_state)
            optimizer.load_state_dict(opt_state)
            for p, g in zip(model.parameters(), grads):
                p.grad = g
            torch.set_rng_state(rng_state)
    return before, after


def geometric_complexity(
    model: nn.Module, x: torch.Tensor, *, n_probes: int = 1, generator: torch.Generator | None = None,
    batch_size: int = 512,
) -> float:
    """Hutchinson estimate of mean_x ‖∂f(x)/∂x‖²_F over the rows of ``x`` (model in eval mode).

    For each batch and probe v ~ N(0, I_K) (K the number of outputs), one backward pass gives
    ‖J_xᵀ v‖², whose expectation is ‖J_x‖²_F; the model's train/eval mode is restored afterwards.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch (B, ...) to outputs (B, K).
    x : torch.Tensor
        The samples, on the model's device.
    n_probes : int, default 1
        Probes per sample (the estimate's variance falls as 1/n_probes).
    generator : torch.Generator, optional
        Draws the probes (on its own device, then moved); default torch's global generator.
    batch_size : int, default 512

    Returns
    -------
    float
        The estimate of the geometric complexity.

    Raises
    ------
    ValueError
        ``n_probes`` below 1.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> model = torch.nn.Linear(3, 2, bias=False)  # J_x = W everywhere, ‖W‖²_F = 1 + 4 = 5
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]))
    >>> gc = nt.geometric_complexity(model, torch.zeros(1000, 3), n_probes=4,
    ...                              generator=torch.Generator().manual_seed(0))
    >>> abs(gc - 5.0) < 0.5
    True

    References
    ----------
    .. [1] Dherin et al. (NeurIPS 2022): geometric complexity.
    """
    if int(n_probes) < 1:
        raise ValueError(f"n_probes must be at least 1, got {n_probes!r}")
    total = 0.0
    with eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].detach().clone().requires_grad_(True)
            out = model(xb)
            for k in range(int(n_probes)):
                # Drawn on the generator's device (the CPU for a plain torch.Generator), then moved.
                v = torch.randn(out.shape, generator=generator, dtype=out.dtype,
                                device=generator.device if generator is not None else "cpu").to(out.device)
                (g,) = torch.autograd.grad((out * v).sum(), xb, retain_graph=k + 1 < n_probes)
                total += float(g.flatten(1).pow(2).sum(dim=1).sum())
    return total / (x.shape[0] * int(n_probes))


def weight_matrices(model: nn.Module, min_dim: int = 2, **options: Any) -> dict[str, torch.Tensor]:
    """The model's weight matrices, selected and named exactly as the filters see them
    (:func:`netsieve.torch._weights.module_weight_matrices`; conv kernels become out × in·k…), as
    detached 2-D tensors in the parameters' own dtype and device: views of the weights where the
    layout allows (so no copy; ``.clone()`` one before changing it). Pass them straight to
    :func:`netsieve.analyze_spectra` and the other numpy-level functions, which convert tensors
    themselves (float32/float64 CPU tensors without a copy); ``.cpu().numpy()`` gives numpy arrays.
    ``options`` go to that selection (``layers=``, ``embeddings=``, ...).

    Parameters
    ----------
    model : torch.nn.Module
    min_dim : int, default 2
        Leave out matrices with a side below this (the filters' default is 16).
    **options
        ``layers`` (globs on tensor names), ``embeddings`` and ``conv_slices`` (bool), as for
        :func:`filter_model`. Fused attention projections are included, split into ``[q]``,
        ``[k]``, ``[v]``.

    Returns
    -------
    dict of str to torch.Tensor
        Matrix name (``"fc1.weight"``, ``"conv.weight[k=1]"``, ...) to a detached 2-D tensor.

    Raises
    ------
    InvalidInputError
        An uninitialised parameter (a lazy module before its first forward pass), ``min_dim``
        that is not an integer ≥ 2.
    TypeError
        An unknown option.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> net = nt.build_model("cnn1d", input_shape=(1, 40), n_classes=10, channels=(8, 16))
    >>> {name: tuple(w.shape) for name, w in nt.weight_matrices(net).items()}
    {'1.weight': (8, 3), '3.weight': (16, 24), '7.weight': (10, 16)}
    >>> nt.weight_matrices(net)["7.weight"].data_ptr() == net[7].weight.data_ptr()  # a view
    True
    """
    from ._weights import module_weight_matrices

    chosen, _, get = module_weight_matrices(model, min_dim=min_dim, **options)
    return {w.name: w.extract(get(w.tensor_name)).detach() for w in chosen}


def training_doubling(x_train: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> DoublingResult:
    """The uniform doubling constant (:func:`netsieve.doubling_condition`) of the training inputs,
    flattened per example, with the constant of each class of ``labels`` (the labels trained on).

    Examples
    --------
    >>> import torch
    >>> from netsieve.torch.diagnostics import training_doubling
    >>> x = torch.randn(400, 2, 3, generator=torch.Generator().manual_seed(0))
    >>> r = training_doubling(x, torch.arange(400) % 2)
    >>> r.n_points, sorted(r.by_class)
    (400, [0, 1])
    """
    x = x_train.reshape(x_train.shape[0], -1).detach().cpu().double().numpy()
    return doubling_condition(x, labels=labels.detach().cpu().numpy(), seed=seed)
