"""Evaluation: the metric library and the evaluators a config chooses.

The library: `classifier_metrics` (the classifier's scores of samples), `calibration`,
`gan_metrics` (FID, Inception Score, KID in numpy/scipy, testable without any network),
`inception` (the FID Inception-v3 network and its weights), `panel` (the picture of the best and
worst samples) and `sample_metrics` (all of these on one set of samples, as
`python -m pegasus_jax.evaluate` reports them). `evaluators/` holds the evaluations a training
config lists (`config.evals`), built by name.
"""
