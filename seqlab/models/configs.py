"""The model configs, apart from the models: plain dataclasses with no torch, so the CLI builds
its flags (and answers --help) without importing torch. Each model module re-exports its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqlab.config import check


@dataclass
class CharLMConfig:
    vocab_size: int = field(default=0, metadata={"cli": False})
    cell: str = field(
        default="lstm",
        metadata={"help": "recurrent cell", "choices": ["lstm", "gru", "rnn", "rnn_relu"]},
    )
    embedding_size: int = field(default=128, metadata={"help": "character embedding size"})
    hidden_size: int = field(default=512, metadata={"help": "hidden units per layer"})
    num_layers: int = field(default=2, metadata={"help": "stacked recurrent layers"})
    dropout: float = field(
        default=0.2, metadata={"help": "dropout between layers and before the output layer"}
    )
    weight_dropout: float = field(
        default=0.0,
        metadata={
            "help": "DropConnect on the recurrent weights, one mask per BPTT chunk (AWD-LSTM)"
        },
    )
    backend: str = field(
        default="fused", metadata={"help": "seqlab.rnn backend", "choices": ["fused", "scratch"]}
    )

    def __post_init__(self):
        check(self.hidden_size > 0, f"--hidden-size must be positive, got {self.hidden_size}")
        check(
            self.embedding_size > 0, f"--embedding-size must be positive, got {self.embedding_size}"
        )
        check(self.num_layers > 0, f"--num-layers must be positive, got {self.num_layers}")
        check(0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}")
        check(
            0 <= self.weight_dropout < 1,
            f"--weight-dropout must be in [0, 1), got {self.weight_dropout}",
        )


@dataclass
class Seq2SeqConfig:
    src_vocab_size: int = field(default=8000, metadata={"cli": False})
    tgt_vocab_size: int = field(default=8000, metadata={"cli": False})
    cell: str = field(
        default="gru", metadata={"help": "recurrent cell", "choices": ["gru", "lstm"]}
    )
    embedding_size: int = field(default=256, metadata={"help": "word embedding size"})
    hidden_size: int = field(
        default=512, metadata={"help": "decoder size; encoder: half per direction"}
    )
    encoder_layers: int = field(default=1, metadata={"help": "bidirectional encoder layers"})
    decoder_layers: int = field(default=1, metadata={"help": "decoder layers"})
    attention: str = field(
        default="bahdanau",
        metadata={"help": "attention score", "choices": ["bahdanau", "dot", "general", "none"]},
    )
    input_feeding: bool = field(default=True, metadata={"help": "feed h~(t-1) to the decoder"})
    dropout: float = field(default=0.3, metadata={"help": "dropout on embeddings and outputs"})
    tie_embeddings: bool = field(
        default=False, metadata={"help": "share the target embedding with the output layer"}
    )

    def __post_init__(self):
        check(self.hidden_size % 2 == 0, f"--hidden-size must be even, got {self.hidden_size}")
        check(self.hidden_size >= 2 and self.embedding_size >= 1, "sizes must be positive")
        check(self.encoder_layers >= 1 and self.decoder_layers >= 1, "layers must be >= 1")
        check(0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}")


POOLINGS = ("final", "max", "mean", "max_final", "attention")


@dataclass
class ClassifierConfig:
    vocab_size: int = field(default=0, metadata={"cli": False})
    num_classes: int = field(default=2, metadata={"cli": False})
    cell: str = field(
        default="lstm",
        metadata={"help": "recurrent cell", "choices": ["lstm", "gru", "rnn", "rnn_relu"]},
    )
    embedding_size: int = field(default=200, metadata={"help": "token embedding size"})
    hidden_size: int = field(default=150, metadata={"help": "hidden units per direction"})
    num_layers: int = field(default=1, metadata={"help": "stacked recurrent layers"})
    bidirectional: bool = field(default=True, metadata={"help": "read the text in both directions"})
    dropout: float = field(
        default=0.5,
        metadata={"help": "dropout on the embeddings, between layers and before the classifier"},
    )
    pooling: str = field(
        default="max",
        metadata={
            "help": "how the per-step states become one vector: final states of both directions, "
            "max or mean over time, max and final side by side, or attention over the states",
            "choices": list(POOLINGS),
        },
    )
    backend: str = field(
        default="fused", metadata={"help": "seqlab.rnn backend", "choices": ["fused", "scratch"]}
    )

    def __post_init__(self):
        check(self.embedding_size > 0, f"--embedding-size must be > 0, not {self.embedding_size}")
        check(self.hidden_size > 0, f"--hidden-size must be positive, got {self.hidden_size}")
        check(self.num_layers > 0, f"--num-layers must be positive, got {self.num_layers}")
        check(0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}")
        check(self.pooling in POOLINGS, f"--pooling must be one of {POOLINGS}, got {self.pooling}")


@dataclass
class CaptionerConfig:
    vocab_size: int = field(default=0, metadata={"cli": False})
    feature_size: int = field(default=0, metadata={"cli": False})
    attention: bool = field(
        default=False,
        metadata={"help": "Show, Attend and Tell soft attention (else Show and Tell)"},
    )
    embedding_size: int = field(default=256, metadata={"help": "word embedding size"})
    hidden_size: int = field(default=512, metadata={"help": "LSTM hidden units"})
    projection_size: int = field(default=512, metadata={"help": "image features projected to"})
    attention_size: int = field(default=256, metadata={"help": "attention MLP size"})
    num_layers: int = field(default=1, metadata={"help": "LSTM layers (Show and Tell only)"})
    dropout: float = field(default=0.5, metadata={"help": "dropout on features and outputs"})
    backend: str = field(
        default="fused",
        metadata={"help": "seqlab.rnn backend (Show and Tell)", "choices": ["fused", "scratch"]},
    )

    def __post_init__(self):
        for name in (
            "embedding_size",
            "hidden_size",
            "projection_size",
            "attention_size",
            "num_layers",
        ):
            check(getattr(self, name) > 0, f"--{name.replace('_', '-')} must be positive")
        check(0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}")
        check(not (self.attention and self.num_layers != 1), "--attention uses one LSTM layer")


TORCHVISION = (
    "resnet18",
    "resnet50",
    "resnet101",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
)
ENCODERS = ("efficientnet_lite0", *TORCHVISION, "scratch")
FEATURE_PRECISIONS = ("fp32", "bf16")  # what a frozen encoder's cached features are computed in


@dataclass
class EncoderConfig:
    name: str = field(
        default="efficientnet_lite0",
        metadata={
            "help": "image encoder (efficientnet_lite0 is pretrained and offline; scratch trains a "
            "small CNN end to end)",
            "choices": list(ENCODERS),
        },
    )
    image_size: int = field(default=224, metadata={"help": "input images are resized to this"})
    fine_tune: int = field(
        default=0,
        metadata={
            "help": "train the last N blocks of a pretrained encoder (0: frozen, features cached)"
        },
    )
    grid_size: int = field(default=8, metadata={"help": "scratch encoder: output grid side"})
    channels: int = field(default=128, metadata={"help": "scratch encoder: output channels"})

    def __post_init__(self):
        check(self.name in ENCODERS, f"--encoder must be one of {', '.join(ENCODERS)}")
        check(self.image_size >= 32, f"--image-size must be >= 32, got {self.image_size}")
        check(self.fine_tune >= 0, f"--fine-tune must be >= 0, got {self.fine_tune}")
        check(self.grid_size >= 1 and self.channels >= 8, "--grid-size/--channels too small")

    @property
    def trainable(self) -> bool:
        return self.name == "scratch" or self.fine_tune > 0
