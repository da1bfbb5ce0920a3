"""CUDA checks (cuDNN through the fused backend); run with `uv run pytest -m gpu` on a GPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import seqlab.rnn as S
from seqlab.cli import main

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("backend", ["fused", "scratch"])
def test_cuda_parity_with_torch_nn(mode, backend):
    ref = getattr(nn, mode)(8, 16, num_layers=2, bidirectional=True).cuda().double()
    ours = getattr(S, mode)(8, 16, num_layers=2, bidirectional=True, backend=backend)
    ours = ours.cuda().double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(7, 3, 8, device="cuda", dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-10, rtol=0)


def test_charlm_trains_on_cuda(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("hello world, hello seqlab. " * 200)
    assert (
        main(
            [
                "charlm",
                "train",
                "--text",
                str(text),
                "--out",
                str(tmp_path / "r"),
                "--max-steps",
                "3",
                "--device",
                "cuda",
                "--batch-size",
                "4",
                "--bptt",
                "16",
                "--hidden-size",
                "32",
            ]
        )
        == 0
    )
