"""Size a char-LM to the device, the text and the time budget.

``seqlab charlm train --text FILE --max-minutes N`` with no size flags asks this module for its
model and batch: a short throughput probe times a training step of each candidate size on this
device (smallest first), then a sizing rule picks the largest candidate that still trains on
enough characters within the budget, and a dropout that suits its size and the epochs it buys.

The rule's constants are fitted on bench/charlm_sweep.py's runs (bench/results/
charlm_sweep.jsonl, one CPU core, Tiny Shakespeare and Python source); ``choose`` is a pure
function of the measured throughputs, so the plan is deterministic given them (tests feed it
made-up ones). Any explicit flag overrides the plan for that setting.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

DEFAULT_MINUTES = 5.0  # the budget when none is given: long enough to write Shakespeare-like lines

# (num_layers, hidden_size) by parameters: the sizes the sweep tried (one wide layer beat two
# narrow ones at 1 minute: 1x256 1.543 against 2x128 1.595 nats), then GPU sizes.
LADDER = (
    (2, 64), (2, 96), (2, 128), (1, 256), (2, 192), (2, 256), (2, 384), (2, 512), (3, 512),
    (3, 768),
)  # fmt: skip
EMBEDDING_SIZE = 64
BATCH_SIZE, BPTT = 32, 64
LR = 5e-3  # beat 3e-3 at 1 and 3 minutes (2x128: 1.595 vs 1.649; 2x192: 1.487 vs 1.516)
# Fitted on the sweep (bench/charlm_sweep.py --fit): a model needs about 1,500 steps of 32 x 64
# characters before its size pays; the largest size the budget gives that many is the best one
# or within a hundredth of it at every budget and on both texts swept. Bigger, and it stops
# short; smaller, and it saturates (a 2x64 sees 11M characters in a minute and ends at 1.66).
MIN_TRAIN_CHARS = 3_000_000
# Dropout by the epochs the budget buys: none while the model still underfits one pass.
# (epochs below, dropout, weight dropout) for budgets that buy many passes over the text: the
# last row is the shipped GPU recipe's regularisation (2x512, about 90 epochs in 3.5 H200
# minutes: 1.4126 nats), the middle one in between (neither swept here).
DROPOUT_BY_EPOCHS = ((10.0, 0.0, 0.0), (20.0, 0.2, 0.0), (math.inf, 0.5, 0.25))
# Below 10 epochs a model large for its text still gains from a little dropout: in the sweep 0.1
# lost on a 2x128 (0.24 parameters per training character; 1 min: 1.613 vs 1.595) and won on a
# 2x192 (0.5 per character; 3 min: 1.505 vs 1.516). A rule on parameters, not on the epochs the
# probe's speed predicts, so that a noisy probe cannot flip it. A rough one: it also lost, by
# 0.007, on a 2x256 at 3 min (1.4998 vs 1.4928 at lr 3e-3, 4 epochs); the plan's 3-minute run
# took it and landed 0.011 from the sweep's best (bench/results/charlm_budget.jsonl).
SMALL_DROPOUT, SMALL_DROPOUT_PARAMS_PER_CHAR = 0.1, 0.4
# A budget that buys many epochs of a small text (a GPU's) is capped by the data: at most this
# many parameters per training character (the shipped GPU model: 3.3M on 1.0M). Not swept here.
MAX_PARAMS_PER_CHAR = 4.0
# Share of the budget left to training steps (the rest: validations and their checkpoints).
TRAIN_SHARE = 0.9
SETTINGS = (
    "num_layers", "hidden_size", "embedding_size", "batch_size", "bptt", "lr", "dropout",
    "weight_dropout",
)  # fmt: skip


@dataclass
class Plan:
    """What the plan chose, and why (saved in the run's config.json under ``plan``)."""

    num_layers: int
    hidden_size: int
    embedding_size: int
    batch_size: int
    bptt: int
    lr: float
    dropout: float
    weight_dropout: float
    budget_minutes: float
    chars_per_s: float  # measured for the chosen size on this device
    train_chars: int  # characters the budget buys at that speed
    epochs: float  # train_chars over the training text's length
    params: int
    probed: dict[str, float]  # "LxH" -> chars/s, every size the probe timed
    reason: str

    def settings(self) -> dict:
        return {k: getattr(self, k) for k in SETTINGS}

    def line(self) -> str:
        """The one line printed before training."""
        return (
            f"plan: {self.num_layers}x{self.hidden_size} LSTM ({self.params / 1e6:.2f}M params), "
            f"batch {self.batch_size}, bptt {self.bptt}, lr {self.lr:g}, dropout {self.dropout:g}"
            + (f", weight dropout {self.weight_dropout:g}" if self.weight_dropout else "")
            + "; "
            f"{self.chars_per_s:,.0f} chars/s here, so {self.budget_minutes:g} min buys "
            f"{self.train_chars / 1e6:.1f}M chars, about {self.epochs:.1f} epochs "
            f"({self.reason}; any size flag overrides)"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def param_count(num_layers: int, hidden_size: int, embedding_size: int, vocab_size: int) -> int:
    """Parameters of CharLM with an LSTM: embedding, 4 gates per layer (two biases), head."""
    lstm = 0
    for layer in range(num_layers):
        inp = embedding_size if layer == 0 else hidden_size
        lstm += 4 * hidden_size * (inp + hidden_size + 2)
    return vocab_size * embedding_size + lstm + hidden_size * vocab_size + vocab_size


def dropout_for(epochs: float, params: int, n_train: int) -> tuple[float, float]:
    """(dropout, weight dropout) for a model of ``params`` parameters that sees its text of
    ``n_train`` characters ``epochs`` times."""
    dropout, weight_dropout = next((d, w) for top, d, w in DROPOUT_BY_EPOCHS if epochs < top)
    if dropout == 0 and params >= SMALL_DROPOUT_PARAMS_PER_CHAR * n_train:
        dropout = SMALL_DROPOUT
    return dropout, weight_dropout


def fixed_sizes(overrides: dict) -> list[tuple[int, int]]:
    """The ladder with explicit --num-layers/--hidden-size applied, duplicates dropped, smallest
    first (so the probe can stop at the first size the budget cannot feed)."""
    sizes = []
    for layers, hidden in LADDER:
        size = (overrides.get("num_layers") or layers, overrides.get("hidden_size") or hidden)
        if size not in sizes:
            sizes.append(size)
    emb = overrides.get("embedding_size") or EMBEDDING_SIZE
    return sorted(sizes, key=lambda s: param_count(*s, emb, 100))


def choose(
    probed: dict[tuple[int, int], float],
    budget_s: float,
    n_train: int,
    vocab_size: int,
    overrides: dict | None = None,
) -> Plan:
    """The sizing rule: the largest probed size whose budget buys ``MIN_TRAIN_CHARS`` training
    characters and that has at most ``MAX_PARAMS_PER_CHAR`` parameters per training character
    (the smallest if none does), then dropout by epochs. ``probed`` maps (num_layers,
    hidden_size) to measured chars/s; explicit ``overrides`` win."""
    o = {k: v for k, v in (overrides or {}).items() if v is not None}
    emb = o.get("embedding_size", EMBEDDING_SIZE)
    sizes = sorted(probed, key=lambda s: param_count(*s, emb, vocab_size))
    chosen = sizes[0]
    for size in sizes:
        chars = probed[size] * budget_s * TRAIN_SHARE
        fits = param_count(*size, emb, vocab_size) <= MAX_PARAMS_PER_CHAR * n_train
        if chars >= MIN_TRAIN_CHARS and fits:
            chosen = size
    layers, hidden = chosen
    speed = probed[chosen]
    train_chars = int(speed * budget_s * TRAIN_SHARE)
    epochs = train_chars / max(n_train, 1)
    params = param_count(layers, hidden, emb, vocab_size)
    dropout, weight_dropout = dropout_for(epochs, params, n_train)
    reason = (
        f"the largest size that trains on >= {MIN_TRAIN_CHARS / 1e6:g}M chars in the budget "
        f"with <= {MAX_PARAMS_PER_CHAR:g} parameters per training char"
        if train_chars >= MIN_TRAIN_CHARS
        else f"the smallest size; even it trains on under {MIN_TRAIN_CHARS / 1e6:g}M chars"
    )
    plan = Plan(
        num_layers=layers, hidden_size=hidden, embedding_size=emb,
        batch_size=BATCH_SIZE, bptt=BPTT, lr=LR, dropout=dropout, weight_dropout=weight_dropout,
        budget_minutes=round(budget_s / 60, 3), chars_per_s=round(speed), train_chars=train_chars,
        epochs=round(epochs, 2), params=params,
        probed={f"{a}x{b}": round(v) for (a, b), v in probed.items()}, reason=reason,
    )  # fmt: skip
    for key in SETTINGS:  # an explicit flag wins over the plan
        if key in o:
            setattr(plan, key, o[key])
    return plan


def probe_speed(
    size: tuple[int, int], vocab_size: int, device, precision: str, embedding_size: int,
    batch_size: int, bptt: int, min_s: float = 0.3,
) -> float:  # fmt: skip
    """Training chars/s of one size: a warm-up step, then timed steps for at least ``min_s``.

    Each step is the trainer's: forward over (B, T), cross-entropy, backward, clip, Adam."""
    import torch
    import torch.nn.functional as F

    from seqlab.models.charlm import CharLM, CharLMConfig
    from seqlab.training import autocast

    layers, hidden = size
    cfg = CharLMConfig(vocab_size=vocab_size, embedding_size=embedding_size,
                       hidden_size=hidden, num_layers=layers, dropout=0.0)  # fmt: skip
    model = CharLM(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(vocab_size, (batch_size, bptt + 1), generator=gen).to(device)  # (B, T+1)

    def step():
        with autocast(precision, device):
            logits, _ = model(x[:, :-1])  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()  # the first step builds kernels and primitives
    sync()
    n, t0 = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < min_s:
        step()
        n += 1
    sync()
    return n * batch_size * bptt / (time.perf_counter() - t0)


def make_plan(
    budget_s: float, n_train: int, vocab_size: int, device, precision: str, overrides: dict
) -> Plan:
    """Probe the ladder smallest first, stopping at the first size the budget cannot feed
    (larger ones are slower still) or the text cannot (too many parameters), then apply the
    rule."""
    o = {k: v for k, v in overrides.items() if v is not None}
    emb = o.get("embedding_size", EMBEDDING_SIZE)
    batch, bptt = o.get("batch_size", BATCH_SIZE), o.get("bptt", BPTT)
    probed: dict[tuple[int, int], float] = {}
    for size in fixed_sizes(o):
        if probed and param_count(*size, emb, vocab_size) > MAX_PARAMS_PER_CHAR * n_train:
            break  # too big for the text, whatever the speed
        speed = probe_speed(size, vocab_size, device, precision, emb, batch, bptt)
        probed[size] = speed
        if speed * budget_s * TRAIN_SHARE < MIN_TRAIN_CHARS:
            break
    return choose(probed, budget_s, n_train, vocab_size, o)


def planned_base(args, cfg) -> dict:
    """The settings `charlm train` starts from before its explicit flags: the budget (a time
    budget of DEFAULT_MINUTES when none is given; no epoch cap beside --max-minutes unless
    --epochs is given), and the plan's sizes unless every one of them is given. ``args`` says
    which flags were given; ``cfg`` is the run's CharLMTrainConfig built from them (validated).
    Prints the plan's line. Under torchrun the probe is skipped: ranks could time differently
    and disagree."""
    import os
    import sys

    base: dict = {}
    budgets = (args.max_minutes, args.epochs, args.max_steps)
    if all(b is None for b in budgets):
        base["max_minutes"] = DEFAULT_MINUTES
    if base.get("max_minutes") or args.max_minutes:
        base["epochs"] = 0  # the clock ends the run unless --epochs is given too
    overrides = {k: getattr(args, k, None) for k in SETTINGS}
    if all(v is not None for v in overrides.values()):
        return base
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        print("plan: off under torchrun; the config's default sizes apply", file=sys.stderr)
        return base
    plan = _plan(cfg, overrides, 60 * (args.max_minutes or DEFAULT_MINUTES))
    print(plan.line(), file=sys.stderr, flush=True)
    return {**base, **plan.settings(), "plan": plan.to_dict()}


def _plan(cfg, overrides: dict, budget_s: float) -> Plan:
    from seqlab import run
    from seqlab.charlm.corpus import load_corpus
    from seqlab.training import resolve_device

    device = resolve_device(cfg.device)
    precision = run.check(cfg, device)  # what the run would refuse, refused before the probe
    tokens, _ = load_corpus(cfg)  # the trainer finds the same cache in OUT
    n_train = int(len(tokens) * (1 - cfg.val_fraction))
    return make_plan(budget_s, n_train, len(tokens.chars), device, precision, overrides)
