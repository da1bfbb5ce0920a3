"""The shipped models: one ``ModelEntry`` each, with everything its model card says.

Like torchvision's weights enums, the entry is the single source of its meta: the card
(``seqlab pretrained show NAME``), the table (``seqlab pretrained list``) and the README rows are
generated from it. Figures are measured on the test split with the packed (shipped) file; the
fp32 figures beside them are the same evaluation of the training checkpoint, so the difference
is what the compact storage costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str  # charlm | sentiment | translate | caption: which predictor loads it
    file: str  # under seqlab/pretrained/weights/
    sha256: str
    size_bytes: int
    parameters: int
    storage: str  # fp16 | int8 (seqlab.pretrained.packing)
    summary: str
    dataset: str
    licence: str
    train_command: str
    pack_command: str
    eval_command: str
    metrics: dict[str, float]  # the shipped file, test split
    metrics_fp32: dict[str, float]  # the training checkpoint, same evaluation
    trained_on: str  # the CPU (or GPU) and the wall-clock time
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


ENTRIES: dict[str, ModelEntry] = {}
