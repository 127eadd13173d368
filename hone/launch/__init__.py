"""Launch: a tuned candidate registered as a version, its fast predictor, batch prediction."""
