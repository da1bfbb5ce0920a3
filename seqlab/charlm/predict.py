"""A trained char-LM: sample text from it, score text with it (nats per character).

```bash
seqlab charlm sample --checkpoint runs/shakespeare --prime "ROMEO:" --length 500
seqlab charlm evaluate --checkpoint charlm-shakespeare --text input.txt --val-fraction 0.1
```
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from seqlab.charlm.config import TASK
from seqlab.data.text import CharVocab, iter_chunks
from seqlab.decoding import sample_next
from seqlab.errors import UserError
from seqlab.models.charlm import CharLM, CharLMConfig
from seqlab.sources import load_checkpoint
from seqlab.training import autocast, progress, resolve_device


@torch.no_grad()
def evaluate_loss(
    model: CharLM, streams: torch.Tensor, bptt: int, device, precision, show_progress=False
) -> float:
    """Mean cross-entropy (nats/char) over all streams, state carried across chunks.
    ``show_progress``: a tqdm bar on stderr (a terminal only), for the CLI's long evaluations.

    Takes ``streams`` (B, L) of character ids (B parallel streams, read ``bptt`` steps at a time)
    and a ``precision`` for autocast ("fp32", "bf16", ...); returns nats per character."""
    model.eval()
    total, count, state = 0.0, 0, None
    chunks = iter_chunks(streams, bptt)
    if show_progress:
        n = math.ceil((streams.size(1) - 1) / bptt)
        chunks = progress(chunks, total=n, desc="evaluate", unit="chunk", leave=False)
    for _, x, y in chunks:
        x, y = x.to(device), y.to(device)
        with autocast(precision, device):
            logits, state = model(x, state)
        total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    model.train()
    return total / max(count, 1)


class CharLMPredictor:
    """A trained char-LM ready to sample and score text."""

    def __init__(self, model: CharLM, vocab: CharVocab, device: torch.device):
        self.model, self.vocab, self.device = model.eval(), vocab, device

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> CharLMPredictor:
        """Load a char-LM: ``path`` is a run directory, a ``.pt`` checkpoint, a packed
        ``.safetensors`` file or a shipped model's name; ``device`` "auto" (cuda > mps > cpu),
        "cpu", "cuda" or "mps". A file that is not a char-LM's raises ``UserError``."""
        ckpt = load_checkpoint(path, task=TASK)
        dev = resolve_device(device)
        model = CharLM(CharLMConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        return cls(model.to(dev), CharVocab(ckpt["vocab"]), dev)

    @torch.no_grad()
    def sample(
        self,
        prime: str = "\n",
        length: int = 500,
        temperature: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> str:
        """Generate ``length`` characters after ``prime`` (which must use the model's characters);
        returns the prime and the generated text. ``temperature`` 0 is greedy; ``top_k`` (0: all)
        and ``top_p`` (1: all) narrow the choices; the same ``seed``, the same text (None: torch's
        global generator). A negative length or temperature raises ``UserError``."""
        if length < 0:
            raise UserError(f"--length must be >= 0, got {length}")
        if temperature < 0:
            raise UserError(f"--temperature must be >= 0, got {temperature}")
        prime = prime or "\n"
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        ids = self.vocab.encode(prime, what="--prime").to(self.device)
        logits, state = self.model(ids.unsqueeze(0))  # (1, T, V)
        out = []
        for _ in range(length):
            nxt = sample_next(logits[:, -1].cpu(), temperature, top_k, top_p, gen)  # (1,)
            out.append(int(nxt))
            logits, state = self.model(nxt.view(1, 1).to(self.device), state)
        return prime + self.vocab.decode(out)

    @torch.no_grad()
    def loss(self, text: str, bptt: int = 256, show_progress: bool = False) -> float:
        """Mean negative log-likelihood of ``text`` in nats per character, read as one stream in
        chunks of ``bptt`` characters with the state carried. Returns the mean (a float)."""
        ids = self.vocab.encode(text, what="the evaluation text")
        if ids.numel() < 2:
            raise UserError("the evaluation text needs at least 2 characters")
        streams = ids.view(1, -1)  # (1, L): one stream, the state carried through the text
        return evaluate_loss(self.model, streams, bptt, self.device, "fp32", show_progress)
