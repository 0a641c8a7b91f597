"""Command-line utilities that are run once by hand, not during training."""
