"""One readable recipe per task: train(...), evaluate(...), a Predictor with from_checkpoint()."""
