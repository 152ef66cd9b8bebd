"""Tests of the AutoReP reference (Lab 7) against oracles from elsewhere.

Oracles: numerical integration of the least-squares normal equations on a fine grid (trapezoid
rule on the Gaussian density) and a large Monte-Carlo least-squares fit with np.polyfit; the
published N(0, 1) coefficients (0.1995, 0.5, 0.1995); torch.nn.functional.softplus and autograd
through it; a plain Python rule for the hysteresis. No expected value here was produced by
running the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oracle_strategies import SETTINGS
from reference_impl.autorep import dapa_gaussian_fit, hysteresis_update, ste_backward

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fit_by_quadrature(mu: float, sigma: float, degree: int) -> np.ndarray:
    """Least squares of ReLU under N(mu, sigma^2) with E[.] by the trapezoid rule over mu +- 12 sigma."""
    x = np.linspace(mu - 12 * sigma, mu + 12 * sigma, 40_001)
    w = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    moments = [np.trapezoid(x**i * w, x) for i in range(2 * degree + 1)]  # E[x^i]
    relu_moments = [np.trapezoid(x**j * np.maximum(x, 0) * w, x) for j in range(degree + 1)]  # E[x^j ReLU(x)]
    G = np.array([[moments[j + k] for k in range(degree + 1)] for j in range(degree + 1)])
    return np.linalg.solve(G, np.array(relu_moments))


def test_standard_normal_quadratic_published_value():
    """AutoReP's N(0, 1), degree-2 fit: (0.1995, 0.5, 0.1995)."""
    np.testing.assert_allclose(dapa_gaussian_fit(0.0, 1.0, 2), [0.1995, 0.5, 0.1995], atol=5e-5)


@SETTINGS
@given(mu=st.floats(-2, 2), sigma=st.floats(0.3, 2.5), degree=st.integers(0, 4))
def test_dapa_matches_quadrature(mu, sigma, degree):
    np.testing.assert_allclose(dapa_gaussian_fit(mu, sigma, degree), fit_by_quadrature(mu, sigma, degree),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mu,sigma", [(0.0, 1.0), (-0.5, 0.7), (1.2, 2.0)])
def test_dapa_matches_monte_carlo_polyfit(mu, sigma):
    x = np.random.default_rng(0).normal(mu, sigma, 1_000_000)
    mc = np.polyfit(x, np.maximum(x, 0), 2)[::-1]
    np.testing.assert_allclose(dapa_gaussian_fit(mu, sigma, 2), mc, atol=8e-3 * max(1, sigma))


def test_dapa_one_sided_limits():
    np.testing.assert_allclose(dapa_gaussian_fit(20.0, 1.0, 2), [0, 1, 0], atol=1e-9)
    np.testing.assert_allclose(dapa_gaussian_fit(-20.0, 1.0, 2), [0, 0, 0], atol=1e-9)


@pytest.mark.parametrize("args", [(0.0, 0.0, 2), (0.0, -1.0, 2), (math.nan, 1.0, 2), (0.0, 1.0, 5), (0.0, 1.0, -1),
                                  (0.0, 1.0, True), (0.0, math.inf, 2)])
def test_dapa_rejects(args):
    with pytest.raises(ValueError):
        dapa_gaussian_fit(*args)


def hysteresis_rule(old: bool, a: float, t: float) -> bool:
    if old:
        return a > -t
    return a > t


@SETTINGS
@given(data=st.data(), t=st.sampled_from([0.0, 0.2, 1.0]))
def test_hysteresis_matches_rule(data, t):
    n = data.draw(st.integers(1, 10))
    mask = data.draw(hnp.arrays(np.bool_, (n,)))
    aux = data.draw(hnp.arrays(np.float64, (n,), elements=st.one_of(st.sampled_from([-t, t, 0.0]), st.floats(-2, 2))))
    out = hysteresis_update(mask, aux, t)
    assert out.dtype == np.bool_
    assert out.tolist() == [hysteresis_rule(bool(m), float(a), t) for m, a in zip(mask, aux)]
    assert np.array_equal(hysteresis_update(mask.astype(np.float64), aux, t), out)


def test_hysteresis_rejects():
    with pytest.raises(ValueError):
        hysteresis_update(np.array([True]), np.array([0.0]), -0.1)
    with pytest.raises(ValueError):
        hysteresis_update(np.array([2.0]), np.array([0.0]), 0.1)
    with pytest.raises(ValueError):
        hysteresis_update(np.array([True, False]), np.array([0.0]), 0.1)


@SETTINGS
@given(g=hnp.arrays(np.float64, (6,), elements=st.floats(-5, 5)),
       a=hnp.arrays(np.float64, (6,), elements=st.floats(-60, 800)))
def test_ste_matches_torch_softplus(g, a):
    """grad * softplus(aux) with torch's softplus (threshold raised so it never switches to the identity)."""
    expected = (torch.tensor(g) * torch.nn.functional.softplus(torch.tensor(a), threshold=1e9)).numpy()
    expected_exact = torch.tensor(g) * torch.logaddexp(torch.tensor(a), torch.zeros(6, dtype=torch.float64))
    np.testing.assert_allclose(ste_backward(g, a), expected_exact.numpy(), rtol=1e-12, atol=0)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(ste_backward(g, a)[finite], expected[finite], rtol=1e-10, atol=1e-300)


def test_ste_extremes():
    np.testing.assert_allclose(ste_backward(np.array([2.0, 1.0]), np.array([1e5, -700.0])),
                               [2e5, math.exp(-700.0)], rtol=1e-12)
    with pytest.raises(ValueError):
        ste_backward(np.ones(2), np.ones(3))
