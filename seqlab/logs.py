"""A run's record: config.json, metrics.jsonl and, with ``--tensorboard``, TensorBoard scalars.

metrics.jsonl holds one JSON object a line, in one shape for every trainer:
  - training records, every ``--log-every`` steps: ``step, loss, grad_norm, lr, clip_rate,
    tokens_per_s`` (plus the task's own values, e.g. caption's ``ce``);
  - validation records: ``step, epoch, elapsed_s`` and the scores, each prefixed ``val_``.
A non-finite number (a skipped step's gradient norm) is written as null: every JSON file seqlab
writes is strict JSON (``seqlab.strictjson``), and ``read_metrics`` reads null back as NaN.
It is the source for ``seqlab grads plot`` and the tests; TensorBoard gets the same numbers
under ``train/...`` and ``val/...``. Rank 0 alone writes; the other processes get a RunLog
that writes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

from seqlab.errors import UserError
from seqlab.training import open_run


def require_tensorboard():
    """torch's SummaryWriter, or one sentence on how to install what it needs."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch's module imports the tensorboard package
        raise UserError(
            "--tensorboard needs the tensorboard package: uv sync --extra tensorboard "
            "(or pip install tensorboard)"
        ) from e
    return SummaryWriter


def tensorboard_writer(folder: Path):
    return require_tensorboard()(log_dir=str(folder))


class RunLog:
    def __init__(self, out: str | Path, cfg, is_main: bool, resume_step: int | None, **configs):
        self.metrics = open_run(out, is_main, resume_step, **configs)
        self.tb = None
        if is_main and cfg.tensorboard:
            self.tb = tensorboard_writer(Path(out) / "tensorboard")
        self.log_every = cfg.log_every
        self._clipped = self._steps = self._tokens = 0
        self._since = time.perf_counter()

    def train(
        self, step: int, *, loss: float, grad_norm: float, lr: float, clipped: bool,
        tokens: int = 0, **extra,
    ) -> None:  # fmt: skip
        """Count one optimizer step; every ``log_every`` steps write its record."""
        self._steps += 1
        self._clipped += bool(clipped)
        self._tokens += tokens
        if self.metrics is None or step % self.log_every:
            return
        now = time.perf_counter()
        record = {
            "step": step,
            "loss": loss,
            "grad_norm": grad_norm,
            "lr": lr,
            "clip_rate": round(self._clipped / self._steps, 4),
            "tokens_per_s": round(self._tokens / max(now - self._since, 1e-9)),
            **extra,
        }
        self._clipped = self._steps = self._tokens = 0
        self._since = now
        self.metrics.write(**record)
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, int | float):
                    self.tb.add_scalar(f"train/{k}", v, step)

    def val(self, step: int, epoch: int, elapsed_s: float, **scores: float | str) -> None:
        """One validation: its scores (and texts, such as a sample), written as ``val_<name>``."""
        if self.metrics is None:
            return
        named = {f"val_{k}": v for k, v in scores.items()}
        self.metrics.write(step=step, epoch=epoch, elapsed_s=round(elapsed_s, 2), **named)
        if self.tb is not None:
            for k, v in scores.items():
                if isinstance(v, str):
                    self.tb.add_text(f"val/{k}", v, step)
                elif isinstance(v, int | float):
                    self.tb.add_scalar(f"val/{k}", v, step)
            self.tb.flush()

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        if self.tb is not None:
            self.tb.close()
