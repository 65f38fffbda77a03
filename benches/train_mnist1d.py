"""Wall time of training the MLP 40-512-512-10 on MNIST-1D (4000 train samples), batch size 100,
one torch thread: 1 epoch and 5 epochs measured, 150 epochs extrapolated from the per-epoch time
of epochs 2–5. Run: PYTHONPATH=python python benches/train_mnist1d.py"""

import time

import torch

import netsieve.torch as nt

torch.set_num_threads(1)
data = nt.load_dataset("mnist1d")  # generated once and cached before timing
setups = {
    "loss only": ("loss",),
    "loss+train/test acc": ("loss", "train_acc", "test_acc"),
    "default metrics": nt.DEFAULT_METRICS,
    "all metrics (+ζ, GC)": nt.METRICS,
}
# Warm-up (first-call allocations, lazy imports) so the first timed epoch is not inflated.
nt.train(nt.TrainConfig(epochs=1, progress=False, plots=False, num_threads=1), data=data)
print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, n_train={data.n_train}")
print(f"{'metrics':<24} {'1 epoch (s)':>12} {'5 epochs (s)':>13} {'per epoch 2-5':>14} {'150 epochs, extrapolated (s)':>30}")
for label, metrics in setups.items():
    times = []
    cfg = nt.TrainConfig(epochs=5, batch_size=100, metrics=metrics, progress=False, plots=False, num_threads=1)
    t0 = time.perf_counter()
    nt.train(cfg, data=data, callbacks=[lambda tr, row: times.append(time.perf_counter() - t0)])
    per = (times[-1] - times[0]) / (len(times) - 1)
    print(f"{label:<24} {times[0]:>12.2f} {times[-1]:>13.2f} {per:>14.3f} {times[0] + 149 * per:>30.1f}")
