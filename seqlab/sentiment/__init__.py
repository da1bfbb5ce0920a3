"""Text classification (sentiment): ``config`` (flags, no torch), ``train``, ``predict``
(probabilities and per-token attributions), ``batches`` (encoding, buckets, metrics)."""
