"""Standard GAN metrics from Inception outputs: FID, Inception Score and KID.

Pure numpy/scipy in float64, deliberately separate from the network: the
statistics of a 50k-image reference set can be computed once and cached, and
the math is testable on synthetic Gaussians with closed-form answers.

Conventions (chosen to match the published reference implementations):

* FID follows pytorch-fid's `calculate_frechet_distance` (scipy `sqrtm`, an
  eps*I offset when the product is singular, small imaginary parts dropped).
* The Inception Score follows the original TF code (openai/improved-gan): softmax
  over all 1008 logits, 10 splits taken in data order, score = exp(mean KL)
  per split, reported as mean and std over splits. The original multiplies pool3
  by the `fc` weights without the bias; `inception.inception_features_and_logits`
  returns such logits by default.
* KID follows Binkowski et al. (2018) and torch-fidelity: unbiased MMD^2 with the
  cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64.

    float64 matters: the covariance of 2048-d pool3 features over 50k images
    loses digits in float32 that FID then amplifies.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features of shape (N >= 2, D), got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)),
    computed in float64 as pytorch-fid does. If the matrix square root is not
    finite (singular product, e.g. fewer samples than dimensions) it is retried
    with eps*I added to both covariances; imaginary parts from numerical error
    are dropped, and a large imaginary part (a sign of a broken input) raises.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors have different shapes: {mu1.shape} vs {mu2.shape}")
    if sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"covariances must both be {(mu1.size, mu1.size)}, got {sigma1.shape} and {sigma2.shape}"
        )

    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"matrix square root has a large imaginary component "
                f"({np.max(np.abs(covmean.imag))}); check the covariances"
            )
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def inception_score(
    logits_or_probs: np.ndarray,
    splits: int = 10,
    *,
    from_logits: bool = True,
) -> tuple[float, float]:
    """Inception Score: mean and std over `splits` of exp(E_x[KL(p(y|x) || p(y))]).

    `logits_or_probs` is (N, C): logits (softmax over all C classes, the TF
    convention with C = 1008) when `from_logits`, else class probabilities whose
    rows sum to one. Splits are contiguous chunks in the given order, as in the
    original code; p(y) is the mean prediction within each split.
    """
    values = np.asarray(logits_or_probs, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected (N, C) predictions, got shape {values.shape}")
    num = values.shape[0]
    if not 1 <= splits <= num:
        raise ValueError(f"splits must be in [1, N={num}], got {splits}")
    if from_logits:
        log_probs = scipy.special.log_softmax(values, axis=1)
    else:
        if (values < 0).any() or not np.allclose(values.sum(axis=1), 1.0, atol=1e-4):
            raise ValueError("probabilities must be non-negative and sum to one per row")
        with np.errstate(divide="ignore"):
            log_probs = np.log(values)  # -inf where p = 0; masked below

    scores = []
    for i in range(splits):
        part = log_probs[i * num // splits : (i + 1) * num // splits]
        probs = np.exp(part)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_marginal = np.log(probs.mean(axis=0))
            # p * (log p - log p(y)) with the 0 * log 0 = 0 convention.
            kl_terms = np.where(probs > 0, probs * (part - log_marginal), 0.0)
        scores.append(np.exp(kl_terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's cubic kernel k(x, y) = (x.y / d + 1)^3 between rows of x and y."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 estimate: within-set kernel means exclude i == j pairs."""
    m, n = x.shape[0], y.shape[0]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of unbiased MMD^2 over random subsets.

    Each of `num_subsets` rounds draws `subset_size` rows without replacement
    from each feature set (clipped to the smaller set's size) and computes the
    unbiased MMD^2 with the cubic polynomial kernel. Unlike FID, the estimate is
    unbiased, so it can be compared across sample sizes; it can be slightly
    negative when the two sets come from the same distribution.
    """
    features1 = np.asarray(features1, dtype=np.float64)
    features2 = np.asarray(features2, dtype=np.float64)
    if features1.ndim != 2 or features2.ndim != 2 or features1.shape[1] != features2.shape[1]:
        raise ValueError(f"need (N, D) and (M, D) features, got {features1.shape} and {features2.shape}")
    subset_size = min(subset_size, features1.shape[0], features2.shape[0])
    if subset_size < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be positive, got {num_subsets}")

    rng = np.random.default_rng(seed)
    mmds = [
        _unbiased_mmd2(
            features1[rng.choice(features1.shape[0], subset_size, replace=False)],
            features2[rng.choice(features2.shape[0], subset_size, replace=False)],
        )
        for _ in range(num_subsets)
    ]
    return float(np.mean(mmds)), float(np.std(mmds))
