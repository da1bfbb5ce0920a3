"""``--resume`` for the epoch-based trainers (sentiment, caption): the state beyond weights and
optimizer that lets a resumed run continue the interrupted one exactly, kept as plain data in the
checkpoint's ``"resume"`` entry (it loads with ``weights_only=True``).

A trainer saves ``{"configs", "position", "rng", "elapsed_s", ...}`` at each validation point
and, on ``--resume``, calls ``load_resume`` (refuses a missing or foreign checkpoint),
``check_same_run`` (refuses other settings), then restores and calls ``set_rng_states`` just
before its loop.

Batch order: each epoch is shuffled by the trainer's own generator. ``resume_point`` keeps that
generator's state from the start of the epoch and how many of its batches were done, so a resumed
run draws the same order again and skips those; after an epoch's last batch it points at the next
epoch instead (with the generator's state at that moment). Together with the torch, Python and
NumPy generators of every process, the resumed run's losses and weights on a CPU are the
uninterrupted run's, bit for bit.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from seqlab import distributed
from seqlab.checkpoint import read_checkpoint
from seqlab.config import load_config_file
from seqlab.errors import UserError

# What a resumed run may change: its budgets, where it runs, how often it validates and logs.
# Any other setting (data, tokenizer, model, optimizer, seed) makes it a different run.
MAY_CHANGE = frozenset(
    {
        "max_steps",
        "epochs",
        "max_minutes",
        "tensorboard",
        "patience",
        "eval_every",
        "log_every",
        "device",
        "precision",
        "threads",
        "compile",
        "num_workers",
        "cache_dir",
        "out",
        "resume",
    }
)


def base_config(config: str | None, resume: bool | None, out: str) -> dict:
    """The flags a run starts from: ``--config``'s, else on ``--resume`` the run's own
    config.json, so ``train --out RUN --resume`` needs no other flag (explicit ones still
    override, and ``check_same_run`` refuses the ones that would change the run)."""
    if not config and resume and (Path(out) / "config.json").is_file():
        config = str(Path(out) / "config.json")
    base = load_config_file(config)
    base.pop("resume", None)  # re-running a resumed run's config starts afresh
    return base


def load_resume(out: str | Path, task: str, info=None) -> dict:
    """OUT/ckpt_last.pt, or a one-line error when there is none or it cannot be resumed. Under
    torchrun rank 0 reads it and sends it to the others: rank 0 alone writes the run directory,
    so on other machines it may not be there."""
    if info is None or not info.enabled:
        return _read_resume(out, task)
    ckpt, error = None, None
    if info.is_main:
        try:
            ckpt = _read_resume(out, task)
        except UserError as e:
            error = str(e)
    ckpt, error = distributed.from_main((ckpt, error), info)
    if error:
        raise UserError(error)
    return ckpt


def _read_resume(out: str | Path, task: str) -> dict:
    path = Path(out) / "ckpt_last.pt"
    if not path.is_file():
        raise UserError(f"--resume: no checkpoint at {path}; train without --resume first")
    ckpt = read_checkpoint(path, task=task)
    if "resume" not in ckpt:
        raise UserError(f"--resume: {path} has no resume state; train into a new --out")
    return ckpt


def check_same_run(ckpt: dict, out: str | Path, **configs: dict) -> None:
    """Refuse a checkpoint whose saved configs (``train=asdict(cfg)``, ``model=...``) differ from
    this run's in a setting outside ``MAY_CHANGE``."""
    saved_all = ckpt["resume"]["configs"]
    for name, now in configs.items():
        saved = saved_all.get(name, {})
        diff = [
            k
            for k in sorted(saved.keys() | now.keys())
            if k not in MAY_CHANGE and saved.get(k) != now.get(k)
        ]
        if diff:
            k, more = diff[0], f" (and {len(diff) - 1} more)" if len(diff) > 1 else ""
            raise UserError(
                f"--resume: {Path(out) / 'ckpt_last.pt'} is another run: its {name} setting {k} "
                f"is {saved.get(k)!r}, not {now.get(k)!r}{more}; resume with the run's own flags "
                "or train into a new --out"
            )


def resume_point(epoch: int, done: int, n_batches: int, epoch_start, now) -> dict:
    """Where a resumed run starts: batch ``done`` of this epoch's order, drawn again from the
    order generator's ``epoch_start`` state, or once the epoch is over, the next epoch (``now``)."""
    if done >= n_batches:
        return {"epoch": epoch + 1, "done": 0, "order_state": now}
    return {"epoch": epoch, "done": done, "order_state": epoch_start}


def restore(
    ckpt: dict, model, optimizer, order: torch.Generator | random.Random, sched=None, scaler=None
) -> tuple[dict, int, int]:
    """Load the weights, optimizer, LR schedule and grad scaler, and put the order generator back
    where the saved position needs it; returns (the resume state, epoch, batches done in it)."""
    state = ckpt["resume"]
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if sched is not None:
        sched.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    set_order_state(order, state["position"]["order_state"])
    return state, state["position"]["epoch"], state["position"]["done"]


def _rng_state() -> dict:
    key, pos, has_gauss, gauss = np.random.get_state()[1:]
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None,
        "python": [version, list(internal), gauss_next],
        "numpy": [key.tolist(), pos, has_gauss, gauss],
    }


def rng_states(info) -> list[dict]:
    """The global generators of every process, in rank order (a collective under torchrun:
    every process calls it). Dropout draws differ between processes with different blocks."""
    state = _rng_state()
    if not info.enabled:
        return [state]
    states = [None] * info.world_size
    dist.all_gather_object(states, state)
    return states


def set_rng_states(states: list[dict], info) -> None:
    """Restore this process's generators (rank 0's when the run had fewer processes)."""
    s = states[info.rank] if info.rank < len(states) else states[0]
    torch.set_rng_state(s["torch"])
    if s["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(s["cuda"])
    version, internal, gauss_next = s["python"]
    random.setstate((version, tuple(internal), gauss_next))
    key, pos, has_gauss, gauss = s["numpy"]
    np.random.set_state(("MT19937", np.array(key, dtype=np.uint32), pos, has_gauss, gauss))


def order_state(gen: torch.Generator | random.Random):
    """A shuffling generator's state as plain data."""
    if isinstance(gen, torch.Generator):
        return gen.get_state()
    version, internal, gauss_next = gen.getstate()
    return [version, list(internal), gauss_next]


def set_order_state(gen: torch.Generator | random.Random, state) -> None:
    if isinstance(gen, torch.Generator):
        gen.set_state(state)
    else:
        version, internal, gauss_next = state
        gen.setstate((version, tuple(internal), gauss_next))
