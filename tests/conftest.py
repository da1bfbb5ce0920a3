"""Shared test fixtures: tiny sizes, fixed seeds, and the path to ../shared/data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Test tensors are tiny: one thread avoids OpenMP overhead, and on a busy 2-core machine a second
# thread per process made small RNN steps up to 15x slower (measured while several jobs ran).
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (it is not part of a user's clone)")
    return SHARED_DATA


@pytest.fixture
def no_fused_bf16():
    """Make the hardware probe answer 'no bf16 in the fused kernels', as an AVX2-only CPU does,
    on any CPU: the fp32 fallback (and what 'auto' picks) is then tested everywhere."""
    from seqlab import fused, hardware

    before = os.environ.get("SEQLAB_FUSED_BF16")
    os.environ["SEQLAB_FUSED_BF16"] = "0"
    hardware.fused_bf16_ok.cache_clear()
    fused._log_fp32_fallback.cache_clear()
    yield
    if before is None:
        del os.environ["SEQLAB_FUSED_BF16"]
    else:
        os.environ["SEQLAB_FUSED_BF16"] = before
    hardware.fused_bf16_ok.cache_clear()
    fused._log_fp32_fallback.cache_clear()


@pytest.fixture(scope="session")
def quote_run(tmp_path_factory):
    """A small LSTM char-LM that learned to track quotes (tests/charlm_fixtures.py): its run."""
    from charlm_fixtures import train_quote_model

    return train_quote_model(tmp_path_factory.mktemp("quotes"))
