"""``seqlab translate train``'s settings (the shared run flags come from RunConfig). No torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqlab.config import RunConfig, check

TASK = "translate"
MAX_SOURCE_CHARS = 1000


@dataclass
class TranslateTrainConfig(RunConfig):
    train_src: str | None = field(default=None, metadata={"help": "source sentences, one a line"})
    train_tgt: str | None = field(default=None, metadata={"help": "target sentences, aligned"})
    dev_src: str | None = field(default=None, metadata={"help": "validation source sentences"})
    dev_tgt: str | None = field(default=None, metadata={"help": "validation target sentences"})
    pairs: str | None = field(
        default=None,
        metadata={"help": "source<TAB>target[<TAB>attribution] file instead of aligned files"},
    )
    reverse: bool = field(default=False, metadata={"help": "--pairs: translate column 2 -> 1"})
    dev_size: int = field(default=1000, metadata={"help": "--pairs: pairs held out for dev"})
    vocab_size: int = field(default=8000, metadata={"help": "sentencepiece vocabulary size"})
    tgt_vocab_size: int = field(
        default=0, metadata={"help": "target vocabulary size if not joint (0: --vocab-size)"}
    )
    joint_vocab: bool = field(default=True, metadata={"help": "one vocabulary for both sides"})
    max_tokens: int = field(default=80, metadata={"help": "drop training pairs longer than this"})
    batch_size: int = field(default=64, metadata={"help": "sentences per batch"})
    label_smoothing: float = field(default=0.1, metadata={"help": "Szegedy et al. 2016"})
    teacher_forcing: float = field(default=1.0, metadata={"help": "prob. of feeding the truth"})
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "fine-tune: start from this model's weights and vocabularies (a run, a "
            "checkpoint, a packed file or a shipped name) with a fresh optimizer and schedule"
        },
    )

    def __post_init__(self):
        super().__post_init__()
        aligned = [self.train_src, self.train_tgt]
        check(bool(self.pairs) or all(aligned), "give --train-src and --train-tgt, or --pairs")
        check(bool(self.dev_src) == bool(self.dev_tgt), "give both --dev-src and --dev-tgt")
        check(self.batch_size >= 1, "--batch-size must be >= 1")
        check(self.vocab_size >= 8, f"--vocab-size must be >= 8, got {self.vocab_size}")
        check(0 <= self.label_smoothing < 1, "--label-smoothing must be in [0, 1)")
        check(0 <= self.teacher_forcing <= 1, "--teacher-forcing must be in [0, 1]")
        check(self.max_tokens >= 2, "--max-tokens must be >= 2")
        self.out = self.run_dir(TASK)
