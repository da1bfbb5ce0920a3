"""Training plumbing shared by every task: optimizers, LR schedules, clip-and-step, precision,
seeding, devices, TBPTT state cutting and the ``metrics.jsonl`` log.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import random
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from seqlab import hardware
from seqlab.config import PRECISIONS, OptimConfig
from seqlab.errors import UserError
from seqlab.strictjson import dumps

log = logging.getLogger(__name__)


def make_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class LRSchedule:
    """Cosine decay with linear warmup (stepped per batch), or divide-by-10 on a validation plateau
    (stepped per evaluation), or constant. Under a time budget, ``step_batch(progress)`` passes
    the elapsed share of it, and the cosine follows whichever of steps and time is further
    along, so a run stopped by the clock still ends on a low learning rate."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int):
        self.kind = cfg.schedule
        self.sched = None
        self.progress = 0.0  # share of a time budget used, set by step_batch
        if self.kind == "cosine":
            warm, total = cfg.warmup_steps, max(total_steps, 1)

            def factor(step: int) -> float:
                if step < warm:
                    return (step + 1) / warm
                # total_steps 0: a time-only budget, where the clock alone says how far along
                steps = (step - warm) / max(total - warm, 1) if total_steps else 0.0
                progress = min(max(steps, self.progress), 1.0)
                return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

            self.sched = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        elif self.kind == "plateau":
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=0.1, patience=0
            )

    def step_batch(self, progress: float | None = None) -> None:
        if progress is not None:
            self.progress = progress
        if self.kind == "cosine":
            self.sched.step()

    def step_eval(self, val_loss: float) -> None:
        if self.kind == "plateau":
            self.sched.step(val_loss)

    def state_dict(self) -> dict:
        return self.sched.state_dict() if self.sched is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.sched is not None and state:
            self.sched.load_state_dict(state)


def clip_and_step(
    params: list[Tensor],
    optimizer: torch.optim.Optimizer,
    cfg: OptimConfig,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[float, bool]:
    """Clip the gradients, step, and return (pre-clip global norm, whether the step was taken).

    A non-finite norm skips the step (the gradients are dropped) so one bad batch cannot
    destroy the weights (Pascanu, Mikolov and Bengio 2013 clip for the same reason).
    """
    if scaler is not None:
        scaler.unscale_(optimizer)
    max_norm = cfg.clip_norm if cfg.clip_norm > 0 and cfg.clip_value == 0 else math.inf
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    if not math.isfinite(norm):
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.update()  # lets the scaler lower its scale
        return norm, False
    if cfg.clip_value > 0:
        torch.nn.utils.clip_grad_value_(params, cfg.clip_value)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return norm, True


def was_clipped(norm: float, cfg: OptimConfig) -> bool:
    """Whether clip_and_step scaled this step's gradients down (global-norm clipping)."""
    return bool(cfg.clip_norm and not cfg.clip_value and norm > cfg.clip_norm)


class NonFiniteGuard:
    """Counts non-finite gradients in a row; warns on each, stops the run after too many."""

    def __init__(self, max_bad_steps: int):
        self.max_bad_steps = max_bad_steps
        self.in_a_row = 0

    def update(self, stepped: bool, step: int, fp16: bool = False) -> None:
        if stepped:
            self.in_a_row = 0
            return
        if fp16:
            return  # the grad scaler skips overflowing steps by design while it finds its scale
        self.in_a_row += 1
        warnings.warn(f"step {step}: non-finite gradient norm, step skipped", stacklevel=2)
        if self.in_a_row >= self.max_bad_steps:
            raise UserError(
                f"training diverged: {self.in_a_row} non-finite gradients in a row at step {step}; "
                "the last good checkpoint is kept; try a lower --lr or a --clip-norm"
            )


def map_state(state, fn):
    """Apply ``fn`` to every tensor of a recurrent or decoder state: a tensor, None, or a nested
    tuple (namedtuples too), list or dict of them. The structure is kept."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {k: map_state(v, fn) for k, v in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # namedtuple
        return type(state)(*(map_state(s, fn) for s in state))
    if isinstance(state, tuple | list):
        return type(state)(map_state(s, fn) for s in state)
    raise TypeError(f"not a state of tensors: {type(state).__name__}")


def detach_state(state):
    """Cut the graph at a TBPTT boundary: keep the state's values, forget how they were made.

    Without this, backward at chunk k would run through every earlier chunk (full BPTT, with
    memory growing without bound) and fail once those graphs are freed.
    """
    return map_state(state, Tensor.detach)


# --------------------------------------------------------------------------- precision


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' picks bf16 on CUDA with bf16 support, and on AMX CPUs whose fused recurrent kernels
    all run in bf16 (probed: seqlab.hardware); everywhere else fp32, never a slower or failing path.

    An explicit 'bf16' is kept on any CPU: where a fused kernel has no bf16 version (oneDNN's LSTM
    on CPUs without AVX-512 BF16), seqlab.rnn runs those layers in fp32 inside the autocast region
    and logs one line saying so.
    """
    if precision not in PRECISIONS:
        raise UserError(f"--precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise UserError("--precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if (
        device.type == "cpu"
        and hardware.cpu_has_fast_bf16()
        and all(hardware.fused_bf16_ok(m) for m in hardware.RNN_MODES)
    ):
        return "bf16"
    return "fp32"


def check_compile(compile: bool, device: torch.device) -> None:
    """--compile on a CPU needs a C++ compiler (Inductor writes and builds C++): say so up front,
    not as an Inductor traceback minutes into the run."""
    if compile and device.type == "cpu" and hardware.cxx_compiler() is None:
        raise UserError(
            "--compile on CPU needs a C++ compiler (g++ or clang++, or set CXX); "
            "install one (e.g. apt-get install g++) or drop --compile"
        )


def autocast(precision: str, device: torch.device):
    """Mixed precision for the forward pass: weights stay fp32, matmuls run in bf16/fp16."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16 needs loss scaling to keep small gradients from flushing to zero; bf16 does not."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


# --------------------------------------------------------------------------- runs


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python and torch once per run; return a generator for shuffling and sampling."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; anything else must be available or it is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise UserError(f"unknown --device {name!r}; use auto, cpu, cuda or mps") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA GPU is available")
    return device


def open_run(
    out: str | Path, is_main: bool, resume_step: int | None, **configs
) -> MetricsLog | None:
    """Start a run directory: rank 0 writes config.json (each config dataclass under its name, as
    ``--config`` reads it back) and opens metrics.jsonl (trimmed to ``resume_step`` on a resume);
    the other ranks write nothing and get None."""
    if not is_main:
        return None
    from seqlab.checkpoint import write_json  # seqlab.checkpoint does not import this module

    write_json(Path(out) / "config.json", {k: dataclasses.asdict(v) for k, v in configs.items()})
    return MetricsLog(Path(out) / "metrics.jsonl", resume_step=resume_step)


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl``; on resume, drops lines written after
    the checkpoint's step so the log matches the run that continues."""

    def __init__(self, path: str | Path, resume_step: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        elif self.path.exists():
            kept = [
                ln
                for ln in self.path.read_text().splitlines()
                if ln.strip() and _step_of(ln) <= resume_step
            ]
            self.path.write_text("".join(ln + "\n" for ln in kept))
        self._f = open(self.path, "a")  # noqa: SIM115 - closed in close()

    def write(self, **record) -> None:
        self._f.write(dumps(record) + "\n")  # a non-finite value (a skipped step's norm): null
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _step_of(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 1 << 62  # a torn last line from a crash: drop it


def read_metrics(path: str | Path) -> list[dict]:
    """Read a ``metrics.jsonl`` file, skipping a torn last line. A null (a non-finite number
    when it was written, e.g. a skipped step's gradient norm) reads back as NaN, a gap in a plot."""
    out = []
    for ln in Path(path).read_text().splitlines():
        try:
            record = json.loads(ln)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            record = {k: math.nan if v is None else v for k, v in record.items()}
        out.append(record)
    return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def progress(iterable=None, budget=None, **kwargs):
    """A tqdm bar on a terminal; elsewhere (a log file, a pipe, nohup) a ``LogProgress`` that
    logs one line every ``log_seconds`` (default 30) instead of nothing.

    ``budget`` (a training run's ``seqlab.run.Budget``) gives either one the run's clock (a
    resumed run's minutes included, the summary's ``elapsed_s`` at the end), its share done and
    its ETA: the end of the budget, by the step limit at this rate or the time limit, whichever
    comes first."""
    from tqdm.auto import tqdm

    log_seconds = kwargs.pop("log_seconds", 30.0)
    if iterable is None and not sys.stderr.isatty() and not kwargs.get("disable"):
        bar = LogProgress(kwargs.get("total"), kwargs.get("desc", "training"), log_seconds, budget)
        bar.n = bar.start_n = kwargs.get("initial") or 0  # a resumed run counts on
        return bar
    kwargs.setdefault("disable", not sys.stderr.isatty())
    kwargs.setdefault("dynamic_ncols", True)
    if budget is not None:
        return _budget_tqdm(tqdm)(iterable, budget=budget, **kwargs)
    return tqdm(iterable, **kwargs)


BUDGET_BAR = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{left}, {rate_fmt}{postfix}]"


def _budget_tqdm(base: type) -> type:
    """A subclass of tqdm's ``base`` (plain or notebook) on a budget's clock."""

    class BudgetBar(base):
        """tqdm on the run's clock, with the budget's end as its ETA (``[elapsed<left]``)."""

        def __init__(self, *args, budget, **kwargs):
            self.budget = budget
            super().__init__(*args, bar_format=BUDGET_BAR, **kwargs)

        @property
        def format_dict(self):
            d = super().format_dict
            if d.get("rate") is None and d["elapsed"]:  # this session's rate, not the run's
                d["rate"] = (self.n - self.initial) / d["elapsed"]
            d["elapsed"] = self.budget.elapsed
            left = self.budget.eta_s(d.get("rate") or 0.0)
            d["left"] = "?" if left is None else self.format_interval(left)
            return d

    return BudgetBar


class LogProgress:
    """The part of tqdm's interface the trainers use (update, set_postfix, close), as log lines:
    ``train: step 250/1800 (14%) loss=1.520 norm=0.70 | 3.2 min, 78 steps/min, ETA 19.8 min``.
    With a ``budget`` the clock, the share and the ETA are the run's (see ``progress``); the
    steps per minute are always this process's."""

    def __init__(self, total: int | None, desc: str, log_seconds: float = 30.0, budget=None):
        self.total, self.desc, self.every, self.budget = total, desc, log_seconds, budget
        self.n = self.start_n = 0
        self.postfix = ""
        self._start = self._last = time.perf_counter()
        self._log = logging.getLogger("seqlab.progress")

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.perf_counter() - self._last >= self.every:
            self._emit()

    def set_postfix(self, **values) -> None:
        self.postfix = " ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.n > self.start_n:
            self._emit()

    def _emit(self) -> None:
        self._last = time.perf_counter()
        session = (self._last - self._start) / 60
        rate = (self.n - self.start_n) / max(session, 1e-9)  # steps per minute, this process
        where = f"step {self.n}" + (f"/{self.total}" if self.total else "")
        if self.budget is not None:
            minutes, share = self.budget.elapsed / 60, self.budget.progress
            left = self.budget.eta_s(rate / 60)
            eta = None if left is None else left / 60
            share = share if self.total or self.budget.max_s else None
        else:
            minutes, share = session, self.n / self.total if self.total else None
            eta = (self.total - self.n) / max(rate, 1e-9) if self.total else None
        where += f" ({100 * share:.0f}%)" if share is not None else ""
        self._log.info(
            "%s: %s %s | %.1f min, %.0f steps/min%s",
            self.desc, where, self.postfix, minutes, rate,
            "" if eta is None else f", ETA {eta:.1f} min",
        )  # fmt: skip


class WeightAverage:
    """An exponential moving average of a model's weights (Polyak and Juditsky 1992), with the
    usual warm-up: the decay is min(decay, (1 + n) / (10 + n)) after n updates, so the first
    steps do not drag the random initialisation along."""

    def __init__(self, model: nn.Module, decay: float):
        self.model = copy.deepcopy(model).requires_grad_(False)
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        avg = list(self.model.state_dict().values())
        now = list(model.state_dict().values())
        floats = [(a, b) for a, b in zip(avg, now, strict=True) if a.is_floating_point()]
        torch._foreach_lerp_([a for a, _ in floats], [b for _, b in floats], 1.0 - d)
