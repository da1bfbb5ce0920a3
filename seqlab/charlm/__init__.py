"""Character-level language models: ``config`` (flags, no torch), ``train`` (truncated BPTT),
``predict`` (sample, score), ``inspect``/``report``/``explore`` (what the cells track)."""
