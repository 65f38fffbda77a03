import numpy as np
import pytest


def planted(rng, n, m, strengths, sigma=1.0, noise="gaussian", vectors="random"):
    """Noise (entry std `sigma`) plus rank-one spikes θ·u·vᵀ with unit u, v."""
    if noise == "gaussian":
        W = rng.normal(0.0, sigma, size=(n, m))
    elif noise == "rademacher":
        W = sigma * rng.choice([-1.0, 1.0], size=(n, m))
    elif noise == "uniform":
        a = sigma * np.sqrt(3.0)
        W = rng.uniform(-a, a, size=(n, m))
    else:
        raise ValueError(noise)
    for k, theta in enumerate(strengths):
        if vectors == "random":
            u, v = rng.normal(size=n), rng.normal(size=m)
        else:  # localized: supported on a few disjoint coordinates
            u, v = np.zeros(n), np.zeros(m)
            u[k * 10 : k * 10 + 10] = rng.choice([-1.0, 1.0], size=10)
            v[k * 10 : k * 10 + 10] = rng.choice([-1.0, 1.0], size=10)
        W += theta * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    return W


def bbp(n, m, sigma=1.0):
    """The BBP detection threshold σ(NM)^¼ for the signal strength."""
    return sigma * (n * m) ** 0.25


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
