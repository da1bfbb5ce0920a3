"""Translation with an attentional encoder-decoder: ``config`` (flags, no torch), ``train``,
``predict`` (the Translator: greedy and beam search, BLEU)."""
