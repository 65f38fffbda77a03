import numpy as np
import pytest


from netsieve.synthetic import bbp_threshold, planted_spikes


def planted(rng, n, m, strengths, sigma=1.0, noise="gaussian", vectors="random"):
    """Noise (entry std `sigma`) plus rank-one spikes θ·u·vᵀ with unit u, v."""
    return planted_spikes(rng, n, m, strengths, sigma=sigma, noise=noise, vectors=vectors)


def bbp(n, m, sigma=1.0):
    """The BBP detection threshold σ(NM)^¼ for the signal strength."""
    return bbp_threshold(n, m, sigma)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def llama_with_tokenizer(tmp_path_factory):
    """The tiny sharded Llama checkpoint with a tokenizer file, built once for the remote-path,
    object-store and URL-output tests (which read it and never change it)."""
    from _tiny_llama import tiny_llama

    return tiny_llama(tmp_path_factory, tokenizer=True)
