"""Fast seeded versions of reproductions 2 (margin-based pruning) and 3 (susceptibility selection)."""

import pytest
from _examples import load

pytest.importorskip("torch")


def test_pruning_fast_keeps_accuracy_on_5_percent():
    mod = load("reproduce_pruning")
    out = mod.run(fast=True, seeds=[0])
    full, lowest, rand = (arm[0] for arm in out.values())
    assert full["final_n_active"] == 600
    assert lowest["final_n_active"] == rand["final_n_active"] == 30  # ceil(5 % of 600)
    # Identical seeds: every arm follows the same trajectory up to separation, then drops lr 10×.
    assert full["separated_epoch"] is not None
    assert lowest["separated_epoch"] == rand["separated_epoch"] == full["separated_epoch"]
    assert lowest["test_acc_at_separation"] == rand["test_acc_at_separation"] == full["test_acc_at_separation"]
    assert all(arm["lr_final"] == pytest.approx(0.05 * mod.LR_FACTOR_AFTER_SEPARATION) for arm in (full, lowest, rand))
    # With BN + weight decay + the lower post-separation lr, training on the 5 % lowest-margin points
    # no longer collapses (the first protocol's failure): it stays within 2 points of full data.
    assert abs(lowest["test_acc"] - full["test_acc"]) <= 0.02
    text = mod.report(out)
    assert "points vs full data" in text and "lowest-margin minus random" in text


def test_susceptibility_fast_region1_beats_training_accuracy_alone():
    mod = load("reproduce_susceptibility")
    import netsieve.torch as nt

    base, points = mod.grid(fast=True)
    data = nt.load_dataset(base.dataset, n_train=base.n_train, n_test=base.n_test)
    rows = []
    for pt in points:
        last = nt.train(base.replace(seed=0, **pt), data=data).history[-1]
        rows.append({"zeta": last["zeta"], "train_acc": last["train_acc"], "test_acc": last["test_acc"]})
    chosen = mod.select(rows)
    region1 = chosen["region 1 (low ζ, high train acc)"]
    assert region1, "the grid should contain a trainable, resistant model"
    best_by_train = chosen["highest train acc (single model)"][0]
    assert min(r["test_acc"] for r in region1) > best_by_train["test_acc"]
    # The most accurate model on noisy labels memorises: it has the largest ζ.
    assert best_by_train["zeta"] == max(r["zeta"] for r in rows)


def test_doubling_stability_fast_separates_the_flat_data():
    mod = load("doubling_stability")
    # The instability measures on a hand-made history: high at epoch 2, one flagged epoch, a drop.
    history = [dict(train_acc=a, accuracy_instability=f) for a, f in
               [(0.5, False), (0.95, False), (0.9, True), (1.0, False), (0.97, False)]]  # fmt: skip
    t0, flagged, drop = mod.instability(history)
    assert (t0, flagged) == (2, 1 / 3) and drop == pytest.approx(5.0)
    assert mod.spearman([1, 2, 3], [0, 0, 0]) != mod.spearman([1, 2, 3], [0, 0, 0])  # NaN when constant
    assert mod.spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    rows, constants, settings = mod.run(fast=True)
    assert [(r["data"], r["activation"]) for r in rows] == [
        ("gaussian_mixture", "abs"), ("gaussian_mixture", "leaky_relu"), ("flat_mixture", "abs"), ("flat_mixture", "leaky_relu")
    ]  # fmt: skip
    # 30 % of the points on one hyperplane: a much larger constant than the plain mixture's.
    assert constants["flat_mixture"].constant > 2 * constants["gaussian_mixture"].constant
    assert all(0 <= r["flagged"] <= 1 and r["drop"] >= 0 and 1 <= r["t0"] <= settings["epochs"] for r in rows)
    assert "Spearman" in mod.report(rows, constants, settings, 1.0)
