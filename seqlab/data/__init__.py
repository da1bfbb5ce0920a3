"""Data: vocabularies and tokenizers, text streams for TBPTT, labelled text, sentence pairs,
image-caption sets, and dataset downloads."""
