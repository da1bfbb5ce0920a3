"""What every trainer shares around its plain training loop: starting a run (device, precision,
threads, seed), the budget ("stop now? validate now?"), the best score with its patience, and the
end-of-run summary. Each task's loop reads top to bottom and calls these at the same points:

    info, device, precision, gen = run.start(cfg)
    budget = run.Budget(cfg, steps_per_epoch, info, elapsed_s=resumed_elapsed)
    best = run.Best(cfg.patience, higher_is_better=True)
    for batch in batches:
        ...optimizer step...
        sched.step_batch(budget.tick(step))        # the share of --max-minutes used
        if budget.eval_due(end_of_epoch):
            improved = best.update(validate()[metric])
            budget.evaluated()
            ...checkpoint ckpt_last.pt (and ckpt_best.pt if improved)...
        if budget.stop_reason() or best.stop_reason():
            break

Under torchrun every process calls ``tick`` once per step: with a time budget it takes rank 0's
clock, so all processes stop, validate and anneal at the same step.
"""

from __future__ import annotations

import logging
import math
import time

import torch

from seqlab import distributed
from seqlab.config import RunConfig
from seqlab.training import check_compile, progress, resolve_precision, seed_everything

log = logging.getLogger(__name__)


def start(cfg: RunConfig) -> tuple[distributed.DistInfo, torch.device, str, torch.Generator]:
    """Set up the process for a run: (distributed info, device, precision, shuffling generator).
    Refuses an unusable --device/--precision/--compile before anything is written."""
    info, device = distributed.setup(cfg.device)
    precision = check(cfg, device)
    return info, device, precision, seed_everything(cfg.seed)


def check(cfg: RunConfig, device: torch.device) -> str:
    """What a run refuses up front on ``device`` (--tensorboard without its package, an unusable
    --precision, --compile without a compiler), and --threads set; returns the precision."""
    if cfg.tensorboard:
        from seqlab.logs import require_tensorboard

        require_tensorboard()
    precision = resolve_precision(cfg.precision, device)
    check_compile(cfg.compile, device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return precision


class Budget:
    """Steps, epochs and minutes: the run stops at whichever ends first, and validates every
    ``--eval-every`` steps (0: after each epoch, and at least every fifth of ``--max-minutes``).

    ``elapsed_s`` carries a resumed run's training time on, so a time budget counts the
    interrupted run's minutes too (and the progress clock goes on from them): after a 60-minute
    run, ``--resume --max-minutes 90`` trains 30 minutes more. The stop message says so."""

    def __init__(
        self,
        cfg: RunConfig,
        steps_per_epoch: int,
        info: distributed.DistInfo,
        elapsed_s: float = 0.0,
        step: int = 0,
    ):
        limits = [n for n in (cfg.max_steps, cfg.epochs * steps_per_epoch) if n > 0]
        self.total_steps = min(limits) if limits else 0  # 0: only the clock ends the run
        self.max_s = cfg.max_minutes * 60
        self.eval_every = cfg.eval_every
        self.info = info
        self.step, self.elapsed = step, elapsed_s
        self.resumed_s = elapsed_s  # spent before --resume, inside the same --max-minutes
        self._start = time.perf_counter() - elapsed_s
        self._session = time.perf_counter()
        self._next_eval_s = elapsed_s + self.max_s / 5

    def tick(self, step: int) -> float:
        """Call after every optimizer step, on every process; returns the share of the time
        budget used (0 without one), which LRSchedule's cosine follows beside the steps."""
        self.step = step
        elapsed = time.perf_counter() - self._start
        self.elapsed = distributed.from_main(elapsed, self.info) if self.max_s else elapsed
        return self.elapsed / self.max_s if self.max_s else 0.0

    @property
    def progress(self) -> float:
        steps = self.step / self.total_steps if self.total_steps else 0.0
        return max(steps, self.elapsed / self.max_s if self.max_s else 0.0)

    def stop_reason(self) -> str:
        """Why the run must stop now ('' while the budget lasts)."""
        if self.total_steps and self.step >= self.total_steps:
            return f"step limit of {self.total_steps} reached"
        if self.max_s and self.elapsed >= self.max_s:
            reason = f"time budget of {self.max_s / 60:g} minutes reached"
            if self.resumed_s:
                reason += (
                    f" ({self.resumed_s / 60:.1f} minutes already spent before --resume; "
                    "raise --max-minutes to continue)"
                )
            return reason
        return ""

    def eval_due(self, end_of_epoch: bool = False) -> bool:
        if self.stop_reason():
            return True
        if self.eval_every:
            return self.step % self.eval_every == 0
        return end_of_epoch or bool(self.max_s and self.elapsed >= self._next_eval_s)

    def evaluated(self) -> None:
        self._next_eval_s = self.elapsed + self.max_s / 5

    def session_s(self) -> float:
        """Seconds since this process started the run (or resumed it)."""
        return time.perf_counter() - self._session

    def clock(self) -> float:
        """The run's seconds until now, a resumed run's earlier minutes included."""
        return time.perf_counter() - self._start

    def eta_s(self, steps_per_s: float) -> float | None:
        """Seconds until the budget ends: the step limit at this rate or the time limit,
        whichever comes first (None: no limit to reach, or no rate yet for a step limit)."""
        left = []
        if self.total_steps and steps_per_s > 0:
            left.append(max(self.total_steps - self.step, 0) / steps_per_s)
        if self.max_s:
            left.append(max(self.max_s - self.elapsed, 0.0))
        return min(left) if left else None


def progress_bar(budget: Budget, info: distributed.DistInfo, desc: str):
    """The run's progress on the budget's clock: a tqdm bar on a terminal, a log line every 30 s
    elsewhere; rank 0. A resumed run first says where it resumed."""
    if budget.step and info.is_main:
        log.info(
            "%s: resumed at step %d, after %.1f minutes of training",
            desc, budget.step, budget.resumed_s / 60,
        )  # fmt: skip
    total = budget.total_steps or None
    return progress(total=total, initial=budget.step, desc=desc, unit="step", budget=budget,
                    disable=not info.is_main or None)  # fmt: skip


def finish(bar, runlog, info: distributed.DistInfo, budget: Budget, out, precision: str, **task):
    """End a run the same way in every trainer: close its progress bar and log, leave the process
    group, say why it stopped, and return its summary. The clock stops here, after the last
    validation and checkpoint: the bar's last line and the summary's elapsed_s show one time."""
    task["stopped"] = task.get("stopped") or budget.stop_reason()  # before the clock moves on
    budget.elapsed = budget.clock()
    bar.close()
    runlog.close()
    distributed.cleanup(info)
    log.info("stopped: %s", task["stopped"])
    return summary(budget, info, out, precision, **task)


def summary(
    budget: Budget, info: distributed.DistInfo, out, precision: str, tokens: int = 0, **task
) -> dict:
    """The JSON a trainer prints at the end: the same keys first for every task."""
    done = {
        "steps": budget.step,
        "elapsed_s": round(budget.elapsed, 2),
        "stopped": task.pop("stopped", "") or budget.stop_reason(),
    }
    if tokens:  # this process's session only: a resumed run counts from its resume
        done["tokens_per_s"] = round(tokens / max(budget.session_s(), 1e-9))
    done.update(task)
    return {**done, "out": str(out), "precision": precision, "processes": info.world_size}


class Best:
    """The best validation score so far and the validations since it (early stopping)."""

    def __init__(self, patience: int = 0, higher_is_better: bool = True):
        self.patience, self.higher = patience, higher_is_better
        self.score = -math.inf if higher_is_better else math.inf
        self.bad_evals = 0

    def update(self, score: float) -> bool:
        """Record a validation score; returns whether it is a new best."""
        improved = score > self.score if self.higher else score < self.score
        if improved:
            self.score, self.bad_evals = score, 0
        else:
            self.bad_evals += 1
        return improved

    def stop_reason(self) -> str:
        if self.patience and self.bad_evals >= self.patience:
            return f"no better validation score in {self.patience} validations"
        return ""

    def state_dict(self) -> dict:
        return {"score": self.score, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict) -> None:
        self.score, self.bad_evals = state["score"], state["bad_evals"]
