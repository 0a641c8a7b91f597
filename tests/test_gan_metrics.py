"""Tests for FID, Inception Score and KID against closed forms and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pegasus_jax.evaluation import gan_metrics


def _random_covariance(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.standard_normal((dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


# ----------------------------------------------------------------------------
# FID


def test_fid_of_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.standard_normal(16), _random_covariance(rng, 16)
    assert gan_metrics.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("s1,s2", [(1.0, 2.0), (0.5, 0.5), (3.0, 0.2)])
def test_fid_of_isotropic_gaussians_matches_closed_form(s1, s2):
    dim = 8
    rng = np.random.default_rng(1)
    m1, m2 = rng.standard_normal(dim), rng.standard_normal(dim)
    expected = np.sum((m1 - m2) ** 2) + dim * (s1 - s2) ** 2
    fid = gan_metrics.frechet_distance(m1, s1**2 * np.eye(dim), m2, s2**2 * np.eye(dim))
    assert fid == pytest.approx(expected, rel=1e-10)


def test_fid_matches_general_formula_for_commuting_covariances():
    # Diagonal covariances commute, so sqrt(S1 S2) = sqrt(S1) sqrt(S2) elementwise.
    rng = np.random.default_rng(2)
    d1, d2 = rng.uniform(0.1, 3.0, 5), rng.uniform(0.1, 3.0, 5)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2)
    fid = gan_metrics.frechet_distance(mu1, np.diag(d1), mu2, np.diag(d2))
    assert fid == pytest.approx(expected, rel=1e-10)


def test_fid_from_samples_approaches_closed_form():
    dim, num = 4, 200_000
    rng = np.random.default_rng(3)
    m1, m2, s1, s2 = np.zeros(dim), np.full(dim, 0.5), 1.0, 2.0
    x = m1 + s1 * rng.standard_normal((num, dim))
    y = m2 + s2 * rng.standard_normal((num, dim))
    fid = gan_metrics.frechet_distance(*gan_metrics.feature_statistics(x), *gan_metrics.feature_statistics(y))
    expected = np.sum((m1 - m2) ** 2) + dim * (s1 - s2) ** 2  # = 5.0
    assert fid == pytest.approx(expected, rel=0.02)


def test_fid_of_singular_covariances_is_finite():
    # Fewer samples than dimensions: rank-deficient covariances.
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((5, 20)), rng.standard_normal((5, 20)) + 1.0
    fid = gan_metrics.frechet_distance(*gan_metrics.feature_statistics(x), *gan_metrics.feature_statistics(y))
    assert np.isfinite(fid) and fid > 0


def test_fid_retries_with_eps_offset_when_sqrtm_is_not_finite(monkeypatch):
    real_sqrtm = gan_metrics.scipy.linalg.sqrtm
    calls = []

    def flaky_sqrtm(matrix):
        calls.append(matrix)
        return np.full_like(matrix, np.nan) if len(calls) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(gan_metrics.scipy.linalg, "sqrtm", flaky_sqrtm)
    dim, eps = 3, 1e-2
    fid = gan_metrics.frechet_distance(np.zeros(dim), np.eye(dim), np.ones(dim), 4 * np.eye(dim), eps=eps)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], (1 + eps) * (4 + eps) * np.eye(dim))
    # Only the cross term sees the offset: 3 + (1 + 4) * 3 - 2 * 3 * sqrt((1 + eps)(4 + eps)).
    assert fid == pytest.approx(3 + 15 - 6 * np.sqrt((1 + eps) * (4 + eps)), rel=1e-12)


def test_fid_raises_on_large_imaginary_component(monkeypatch):
    monkeypatch.setattr(gan_metrics.scipy.linalg, "sqrtm", lambda m: m + 0.5j * np.eye(len(m)))
    with pytest.raises(ValueError, match="imaginary"):
        gan_metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))


def test_feature_statistics_are_float64_mean_and_unbiased_covariance():
    features = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]], np.float32)
    mu, sigma = gan_metrics.feature_statistics(features)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, [3.0, 4.0])
    np.testing.assert_allclose(sigma, [[4.0, 2.0], [2.0, 4.0]])  # divides by N - 1


def test_fid_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        gan_metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ----------------------------------------------------------------------------
# Inception Score


def test_inception_score_of_uniform_predictions_is_one():
    mean, std = gan_metrics.inception_score(np.zeros((100, 1008)), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("num_classes", [2, 10])
def test_inception_score_of_confident_balanced_predictions_is_num_classes(num_classes):
    labels = np.arange(1000) % num_classes  # every split holds each class equally often
    one_hot = np.eye(num_classes)[labels]
    mean, std = gan_metrics.inception_score(one_hot, splits=10, from_logits=False)
    assert mean == pytest.approx(num_classes, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)
    # The same through (very confident) logits over 1008 classes.
    logits = np.zeros((1000, 1008))
    logits[np.arange(1000), labels] = 60.0
    mean, _ = gan_metrics.inception_score(logits, splits=10)
    assert mean == pytest.approx(num_classes, rel=1e-6)


def test_inception_score_matches_direct_kl_formula():
    rng = np.random.default_rng(5)
    logits = 3.0 * rng.standard_normal((60, 7))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = []
    for part in np.split(probs, 3):
        marginal = part.mean(axis=0)
        kl = np.sum(part * (np.log(part) - np.log(marginal)), axis=1)
        expected.append(np.exp(kl.mean()))
    mean, std = gan_metrics.inception_score(logits, splits=3)
    assert mean == pytest.approx(np.mean(expected), rel=1e-10)
    assert std == pytest.approx(np.std(expected), rel=1e-8)
    assert gan_metrics.inception_score(probs, splits=3, from_logits=False)[0] == pytest.approx(mean, rel=1e-10)


def test_inception_score_rejects_bad_input():
    with pytest.raises(ValueError):
        gan_metrics.inception_score(np.zeros((5, 3)), splits=10)
    with pytest.raises(ValueError):
        gan_metrics.inception_score(np.full((10, 3), 0.5), splits=2, from_logits=False)


# ----------------------------------------------------------------------------
# KID


def _brute_force_unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    def k(a, b):
        return (np.dot(a, b) / len(a) + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2.0 * xy


def test_kid_matches_brute_force_unbiased_mmd():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 3))
    y = 0.7 * rng.standard_normal((6, 3)) + 0.3
    # One subset of all samples (subset_size is clipped to 6) is just a permutation.
    mean, std = gan_metrics.kernel_inception_distance(x, y, num_subsets=1, subset_size=1000)
    assert mean == pytest.approx(_brute_force_unbiased_mmd2(x, y), rel=1e-10)
    assert std == 0.0


def test_kid_is_near_zero_for_same_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(7)
    dim = 16
    x = rng.standard_normal((1500, dim))
    y = rng.standard_normal((1500, dim))
    same_mean, same_std = gan_metrics.kernel_inception_distance(x, y, num_subsets=20, subset_size=500)
    shifted_mean, _ = gan_metrics.kernel_inception_distance(x, y + 0.5, num_subsets=20, subset_size=500)
    assert abs(same_mean) < 0.01
    assert abs(same_mean) < 3 * same_std  # consistent with zero, not just small
    assert shifted_mean > 0.1
    assert shifted_mean > 50 * abs(same_mean)


def test_kid_is_reproducible_with_seed_and_clips_subset_size():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((40, 4)), rng.standard_normal((25, 4)) + 1.0
    first = gan_metrics.kernel_inception_distance(x, y, num_subsets=5, subset_size=1000, seed=3)
    second = gan_metrics.kernel_inception_distance(x, y, num_subsets=5, subset_size=1000, seed=3)
    assert first == second and first[0] > 0
    with pytest.raises(ValueError):
        gan_metrics.kernel_inception_distance(x[:1], y)
