"""``seqlab charlm train``'s settings (the shared run flags come from RunConfig). No torch here."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqlab.config import RunConfig, check

TASK = "charlm"


@dataclass
class CharLMTrainConfig(RunConfig):
    text: str | None = field(
        default=None,
        metadata={
            "help": "UTF-8 training text; none: the Python documentation topics shipped with Python"
        },
    )
    bptt: int = field(default=128, metadata={"help": "steps to backpropagate through (k2)"})
    k1: int = field(default=0, metadata={"help": "update every k1 steps (TBPTT(k1, k2); 0: bptt)"})
    batch_size: int = field(default=64, metadata={"help": "parallel streams (global batch)"})
    val_fraction: float = field(default=0.1, metadata={"help": "last fraction kept for validation"})
    max_vocab: int = field(
        default=10_000,
        metadata={"help": "characters in the vocabulary; rarer ones map to \ufffd (counted)"},
    )
    plan: dict | None = field(
        default=None,
        metadata={"cli": False, "help": "what seqlab.charlm.plan chose for this run, and why"},
    )

    def __post_init__(self):
        super().__post_init__()
        check(self.bptt >= 1, f"--bptt must be >= 1, got {self.bptt}")
        check(0 <= self.k1 <= self.bptt, f"--k1 must be in [0, bptt={self.bptt}], got {self.k1}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(
            0 < self.val_fraction < 1, f"--val-fraction must be in (0, 1), got {self.val_fraction}"
        )
        check(
            2 <= self.max_vocab <= 65_536,
            f"--max-vocab must be in [2, 65536], got {self.max_vocab}",
        )
        self.out = self.run_dir(TASK)
