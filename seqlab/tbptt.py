"""Truncated backpropagation through time (Williams and Peng 1990), TBPTT(k1, k2):
every k1 steps, backpropagate through the last k2 (k1 <= k2).

The stream batcher (``seqlab.data.text.make_streams``) lays a long sequence out as B parallel
streams; these helpers walk along them, carrying the recurrent state across windows and cutting
the graph with ``detach_state`` at each boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from seqlab.training import detach_state

__all__ = ["tbptt_windows", "tbptt_forward", "detach_state"]


def tbptt_windows(length: int, k1: int, k2: int, start: int = 0) -> Iterator[tuple[int, ...]]:
    """Walk target positions [start, length) in updates of k1 new positions.

    Yields (s, mid, t, t_prev): run [s, t) from the state carried at s, take the loss on the k1
    new positions [t_prev, t), and carry the state at ``mid``, the next window's start. With
    k1 == k2 this is plain chunked TBPTT (s == t_prev, mid == t).
    """
    if not 1 <= k1 <= k2:
        raise ValueError(f"TBPTT needs 1 <= k1 <= k2, got k1={k1}, k2={k2}")
    t_prev = start
    while t_prev < length:
        t = min(t_prev + k1, length)
        s = max(0, t_prev + k1 - k2)  # at most k2 - k1 steps of history before the new ones
        mid = max(0, t + k1 - k2)
        yield s, mid, t, t_prev
        t_prev = t


def tbptt_forward(model: Callable, x: Tensor, carry, s: int, mid: int, t: int, t_prev: int):
    """Run one window: ``x`` holds inputs [s, t) (B, t - s, ...); ``carry`` is the state at s.

    Returns (outputs for the new positions [t_prev, t) (B, t - t_prev, ...), state at ``mid``
    detached for the next window).
    """
    parts, state = [], carry
    if mid > s:  # run up to the next window's start and keep that state
        out, state = model(x[:, : mid - s], carry)
        parts.append(out)
    # TBPTT boundary: the next window starts from these values, but no gradient may flow back
    # past it; without the cut, backward would run through every earlier window.
    next_carry = detach_state(state) if mid > s else carry
    if t > mid:
        out, _ = model(x[:, mid - s :], state)
        parts.append(out)
    return torch.cat(parts, 1)[:, -(t - t_prev) :], next_carry
