"""``seqlab caption train``'s settings (the shared run flags come from RunConfig). No torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqlab.config import RunConfig, check
from seqlab.models.configs import FEATURE_PRECISIONS

TASK = "caption"
DATASETS = ("flickr8k", "flickr30k", "coco", "scenes")


@dataclass
class CaptionTrainConfig(RunConfig):
    dataset: str = field(
        default="flickr8k",
        metadata={
            "help": "dataset (scenes: synthetic shapes, made on the fly)",
            "choices": list(DATASETS),
        },
    )
    root: str | None = field(default=None, metadata={"help": "dataset folder"})
    min_count: int = field(default=5, metadata={"help": "keep words seen this often in training"})
    max_len: int = field(default=30, metadata={"help": "longest training caption, in words"})
    batch_size: int = field(default=64, metadata={"help": "captions per batch"})
    alpha_c: float = field(
        default=1.0,
        metadata={"help": "doubly stochastic attention regularisation weight (Xu et al. 2015)"},
    )
    ema: float = field(
        default=0.0,
        metadata={
            "help": "validate and save an exponential moving average of the decoder's weights "
            "with this decay, e.g. 0.999 (Polyak averaging; 0: off)"
        },
    )
    val_images: int = field(
        default=500,
        metadata={"help": "validation images scored with greedy BLEU-4 each epoch (0: all)"},
    )
    scenes: int = field(default=6000, metadata={"help": "synthetic scenes to train on (scenes)"})
    cache_dir: str = field(default="data/cache/features", metadata={"help": "feature cache"})
    feature_precision: str = field(
        default="fp32",
        metadata={
            "help": "precision the frozen encoder extracts features in (bf16: 2.5x faster on "
            "CPUs with AVX512-BF16 or AMX, features within about 4 percent; cached apart)",
            "choices": list(FEATURE_PRECISIONS),
        },
    )
    num_workers: int = field(
        default=1, metadata={"help": "data loader processes that decode images"}
    )

    def __post_init__(self):
        super().__post_init__()
        check(self.dataset in DATASETS, f"--dataset must be one of {', '.join(DATASETS)}")
        check(
            self.dataset == "scenes" or bool(self.root), f"--root DIR is needed for {self.dataset}"
        )
        check(self.batch_size >= 1, "--batch-size must be >= 1")
        check(self.min_count >= 1 and self.max_len >= 1, "--min-count/--max-len must be >= 1")
        check(self.alpha_c >= 0, f"--alpha-c must be >= 0, got {self.alpha_c}")
        check(0 <= self.ema < 1, f"--ema must be in [0, 1), got {self.ema}")
        self.out = self.run_dir(TASK)
