"""One readable recipe per task: train(...), evaluate(...) and a Predictor with from_checkpoint()."""
