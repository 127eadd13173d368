"""Analysis of tuned models: the chosen candidate, its importances and errors, the test evaluation."""
