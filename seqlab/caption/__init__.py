"""Image captioning: ``config`` (flags, no torch), ``data`` (splits, cached features), ``train``,
``predict`` (decoding, BLEU, the CaptionPredictor with attention maps)."""
