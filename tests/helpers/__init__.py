"""Helpers shared by test modules: the CLI runner, the scikit-learn parity check, serving fixtures."""
