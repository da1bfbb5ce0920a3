"""Toy datasets that seqlab generates itself, offline and in seconds: what ``--toy``, the demos'
first launch and the tests train on. Real datasets and their loaders live in ``seqlab.data``.

- ``scenes``: coloured shapes with grammar-made captions (image captioning);
- ``dates``: dates written many ways -> ISO 8601 (translation);
- ``sentiment``: templated movie-review sentences with negation and contrast (classification).
"""
