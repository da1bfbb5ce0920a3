"""``seqlab sentiment train``'s settings (the shared run flags come from RunConfig). No torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqlab.config import RunConfig, check
from seqlab.data.tokenizers import PRETOKENIZERS
from seqlab.sentiment.counterfactual import KINDS

TASK = "sentiment"


@dataclass
class SentimentTrainConfig(RunConfig):
    train: str | None = field(
        default=None,
        metadata={"help": "training data: .tsv/.csv/.jsonl file or an aclImdb split folder"},
    )
    dev: str | None = field(
        default=None,
        metadata={"help": "validation data (none: hold out --dev-fraction of the training data)"},
    )
    dev_fraction: float = field(default=0.1, metadata={"help": "held out when there is no --dev"})
    text_column: str | None = field(default=None, metadata={"help": "column/key with the text"})
    label_column: str | None = field(default=None, metadata={"help": "column/key with the label"})
    skip_bad: bool = field(default=False, metadata={"help": "skip malformed rows (and count them)"})
    tokenizer: str = field(
        default="sentencepiece",
        metadata={
            "help": "word (nltk Treebank) or sentencepiece",
            "choices": ["word", "sentencepiece"],
        },
    )
    pretokenize: str = field(
        default="none",
        metadata={
            "help": "sentencepiece: split text into Penn Treebank words first, so raw input "
            '("wasn\'t", "it\'s") meets Treebank-tokenised training data (SST-2) as the '
            "same pieces",
            "choices": list(PRETOKENIZERS),
        },
    )
    vocab_size: int = field(default=8000, metadata={"help": "sentencepiece vocabulary size"})
    sp_model_type: str = field(
        default="unigram", metadata={"help": "sentencepiece model", "choices": ["unigram", "bpe"]}
    )
    min_freq: int = field(default=1, metadata={"help": "word tokenizer: minimum word count"})
    lower: bool = field(default=True, metadata={"help": "lower-case the text"})
    max_length: int = field(default=400, metadata={"help": "keep the first N tokens of a text"})
    word_vectors: str | None = field(
        default=None,
        metadata={
            "help": "initialise embeddings from GloVe/word2vec text vectors (word tokenizer)"
        },
    )
    word_dropout: float = field(
        default=0.0,
        metadata={
            "help": "replace each training token with <unk> with this probability (Iyyer et al. "
            "2015; 0: off)"
        },
    )
    sp_alpha: float = field(
        default=0.0,
        metadata={
            "help": "sentencepiece subword regularisation: sample a segmentation of each "
            "training text every epoch with this smoothing (Kudo 2018; 0: off)"
        },
    )
    adversarial: float = field(
        default=0.0,
        metadata={
            "help": "adversarial training: also fit each text with its embeddings moved this far "
            "(L2 norm over the text) along the loss gradient (Miyato et al. 2017; 0: off)"
        },
    )
    label_smoothing: float = field(
        default=0.0, metadata={"help": "cross-entropy label smoothing (Szegedy et al. 2016)"}
    )
    ema: float = field(
        default=0.0,
        metadata={
            "help": "validate and save an exponential moving average of the weights with this "
            "decay, e.g. 0.999 (Polyak averaging; 0: off)"
        },
    )
    negation_repeats: int = field(
        default=0,
        metadata={
            "help": "show each training text with a negation word (not, n't, no, never, nothing) "
            "this many extra times per epoch (0: off)"
        },
    )
    counterfactuals: str = field(
        default="none",
        metadata={
            "help": "add rule-made counterfactual texts to the training data: negation edits of "
            "its phrases, 'A , but B' contrasts, or both (seqlab.sentiment.counterfactual)",
            "choices": list(KINDS),
        },
    )
    teachers: str | None = field(
        default=None,
        metadata={
            "help": "distil: comma-separated classifiers (run folders, checkpoints or shipped "
            "names) whose mean probabilities on each training text the model learns, mixed "
            "with the labels by --teacher-weight (Hinton et al. 2015)"
        },
    )
    teacher_weight: float = field(
        default=0.5,
        metadata={"help": "the teachers' share of each target; the label's is the rest"},
    )
    batch_size: int = field(default=64, metadata={"help": "texts per batch"})

    def __post_init__(self):
        super().__post_init__()
        check(self.train is not None, "--train is required (a labelled data file or folder)")
        check(0 < self.dev_fraction < 1, f"--dev-fraction must be in (0, 1): {self.dev_fraction}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.max_length >= 1, f"--max-length must be >= 1, got {self.max_length}")
        check(self.vocab_size >= 8, f"--vocab-size must be >= 8, got {self.vocab_size}")
        check(self.min_freq >= 1, f"--min-freq must be >= 1, got {self.min_freq}")
        check(0 <= self.word_dropout < 1, f"--word-dropout must be in [0, 1): {self.word_dropout}")
        check(0 <= self.sp_alpha <= 1, f"--sp-alpha must be in [0, 1], got {self.sp_alpha}")
        check(
            self.pretokenize == "none" or self.tokenizer == "sentencepiece",
            "--pretokenize needs --tokenizer sentencepiece (the word tokenizer is Treebank's)",
        )
        check(
            self.sp_alpha == 0 or self.tokenizer == "sentencepiece",
            "--sp-alpha needs --tokenizer sentencepiece",
        )
        check(0 <= self.ema < 1, f"--ema must be in [0, 1), got {self.ema}")
        check(self.adversarial >= 0, f"--adversarial must be >= 0, got {self.adversarial}")
        check(
            0 <= self.label_smoothing < 1,
            f"--label-smoothing must be in [0, 1), got {self.label_smoothing}",
        )
        check(
            0 < self.teacher_weight <= 1,
            f"--teacher-weight must be in (0, 1], got {self.teacher_weight}",
        )
        self.out = self.run_dir(TASK)
