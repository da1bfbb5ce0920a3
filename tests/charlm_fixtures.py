"""A text with a planted signal, and a small char-LM that learns it (tests of charlm inspect and
the char-LM demo).

    from charlm_fixtures import planted, train_quote_model
"""

from __future__ import annotations

import random
from pathlib import Path


def planted(n: int = 30000, seed: int = 0) -> str:
    """Words of a-j; inside double quotes they are upper case, so predicting a letter's case
    needs to know whether a quote is open: a model that learns the text must track it."""
    rng, out, quoted = random.Random(seed), [], False
    while sum(map(len, out)) < n:
        word = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 6)))
        out.append(word.upper() if quoted else word)
        if rng.random() < 0.15:
            quoted = not quoted
            out.append(' "' if quoted else '" ')
        else:
            out.append(" ")
    return "".join(out)[:n]


def train_quote_model(folder: Path) -> Path:
    """A 1-layer LSTM (hidden 32) trained 150 steps on the planted text: its run folder."""
    from seqlab.charlm.config import CharLMTrainConfig
    from seqlab.charlm.train import train
    from seqlab.models.charlm import CharLMConfig
    from seqlab.training import OptimConfig

    (folder / "text.txt").write_text(planted())
    cfg = CharLMTrainConfig(text=str(folder / "text.txt"), out=str(folder / "run"),
                            max_steps=150, batch_size=16, bptt=64, eval_every=150,
                            precision="fp32", device="cpu")  # fmt: skip
    mcfg = CharLMConfig(hidden_size=32, embedding_size=16, num_layers=1, dropout=0.0)
    train(cfg, mcfg, OptimConfig(lr=1e-2))
    return folder / "run"
