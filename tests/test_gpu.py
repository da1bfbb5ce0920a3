"""CUDA checks (cuDNN through the fused backend); run with `uv run pytest -m gpu` on a GPU.

cuDNN's flat weight layout (no copy, no warning, the same buffer torch.nn builds), DDP over
NCCL, each trainer for a few steps in fp32 and bf16, each predictor's greedy output on CUDA
against CPU from the same CUDA-trained checkpoint, and torchrun against a plain run.
"""

from __future__ import annotations

import json
import socket
import sys
import warnings

import pytest
import torch
import torch.distributed as dist
from test_distributed import _run
from test_distributed_tasks import TASKS
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import seqlab.rnn as S
from seqlab import fused
from seqlab.cli import main
from seqlab.training import read_metrics

COPY_WARNING = "not part of single contiguous chunk of memory"

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


def _offsets(module) -> tuple[list[int], int]:
    """Each weight's byte offset in its storage, and the storage's size."""
    weights = [getattr(module, n) for n in module._flat_weights_names]
    base = weights[0].untyped_storage().data_ptr()
    return [w.data_ptr() - base for w in weights], weights[0].untyped_storage().nbytes()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_flat_layout_is_torch_nn_cudnn_layout(mode, dtype):
    """seqlab's buffer is the one torch._cudnn_rnn_flatten_weight builds (odd sizes too)."""
    kw = {"num_layers": 2, "bidirectional": True, "device": "cuda", "dtype": dtype}
    ref, ours = getattr(nn, mode)(7, 13, **kw), getattr(S, mode)(7, 13, **kw)
    assert fused.is_flat(ours._flat_weights())
    assert _offsets(ours) == _offsets(ref)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_no_weight_copies_and_torch_nn_parity(mode):
    ref = getattr(nn, mode)(8, 16, num_layers=2, bidirectional=True).cuda()
    ours = getattr(S, mode)(8, 16, num_layers=2, bidirectional=True, weight_dropout=0.3)
    ours = ours.cuda()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(9, 4, 8, device="cuda")
    packed = pack_padded_sequence(x, torch.tensor([9, 5, 3, 2]), enforce_sorted=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cuDNN warns on every call that copies the weights
        for precision in (torch.float32, torch.bfloat16):
            with torch.autocast("cuda", precision, enabled=precision != torch.float32):
                for inp in (x, packed):
                    ours.eval()(inp)
                    out = ours.train()(inp)[0]  # weight dropout: one new flat buffer per call
                    (out.data if hasattr(out, "batch_sizes") else out).float().sum().backward()
    ours.weight_dropout = 0.0  # now the same function as torch.nn's (cuDNN backward: train mode)
    ours.zero_grad()
    a, b = ref(x)[0], ours(x)[0]
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    b.sum().backward()
    a.sum().backward()
    for (name, pa), pb in zip(ref.named_parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(pb.grad, pa.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_to_load_state_dict_and_cpu_keep_the_layout_right():
    m = S.LSTM(8, 16, num_layers=2).cuda()
    params = list(m.parameters())
    m = m.double()
    assert fused.is_flat(m._flat_weights()) and m.weight_hh_l1.dtype == torch.float64
    new = S.LSTM(8, 16, num_layers=2, device="cuda", dtype=torch.float64).state_dict()
    m.load_state_dict({k: v.clone() for k, v in new.items()}, assign=True)  # new tensors
    assert fused.is_flat(m._flat_weights())
    m.load_state_dict(S.LSTM(8, 16, num_layers=2).double().state_dict())  # copied in place
    assert fused.is_flat(m._flat_weights())
    cpu = m.cpu()  # separate tensors again, as torch.nn on CPU (safetensors can save them)
    assert len({p.untyped_storage().data_ptr() for p in cpu.parameters()}) == len(params)
    with torch.no_grad():
        m.cuda().weight_ih_l0.data = torch.randn(64, 8, device="cuda", dtype=torch.float64)
    assert not fused.is_flat(m._flat_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m(torch.randn(3, 2, 8, device="cuda", dtype=torch.float64))  # flattens on the call
    assert fused.is_flat(m._flat_weights())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_over_nccl_keeps_weights_flat():
    dist.init_process_group(
        "nccl", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        model = nn.Sequential(nn.Linear(8, 8), S.GRU(8, 16, num_layers=2)).cuda()
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=[0])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(2):
                out = ddp(torch.randn(5, 3, 8, device="cuda"))[0]
                out.sum().backward()
        assert fused.is_flat(model[1]._flat_weights())
    finally:
        dist.destroy_process_group()


def _charlm_args(tmp_path) -> list[str]:
    text = tmp_path / "t.txt"
    text.write_text("hello world, hello seqlab. " * 200)
    return ["charlm", "train", "--text", str(text), "--max-steps", "3", "--batch-size", "4",
            "--bptt", "16", "--hidden-size", "32", "--weight-dropout", "0.2"]  # fmt: skip


def _caption_args(tmp_path) -> list[str]:
    return [*TASKS["caption"](tmp_path), "--encoder", "scratch"]  # no pretrained weights to read


TRAINERS = {"charlm": _charlm_args, **TASKS, "caption": _caption_args}


def _train(tmp_path, task: str, precision: str) -> object:
    out = tmp_path / f"{task}-{precision}"
    argv = [*TRAINERS[task](tmp_path), "--device", "cuda", "--precision", precision]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*argv, "--out", str(out)]) == 0
    assert not [w for w in caught if COPY_WARNING in str(w.message)]
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    return out


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("task", TRAINERS)
def test_trainers_take_steps_on_cuda(tmp_path, task, precision):
    _train(tmp_path, task, precision)


def _greedy(task: str, pred, tmp_path) -> list:
    if task == "charlm":
        return [pred.sample("hello", length=40, top_k=1, seed=0)]
    if task == "sentiment":
        return [r["label"] for r in pred.predict(["a fine film", "dull and slow", "so so"])]
    if task == "translate":
        from seqlab.toy.dates import make_date_pairs

        sources = [src for src, _ in make_date_pairs(3, seed=1)]
        return [r["translation"] for r in pred.translate_many(sources, 1)]
    from seqlab.caption.predict import scene_examples

    return [c[0].text for c in pred.caption_batch(scene_examples(tmp_path / "sc", n=3), 1)]


@pytest.mark.parametrize("task", TRAINERS)
def test_cuda_checkpoint_predicts_the_same_on_cpu(tmp_path, task):
    """A checkpoint trained on CUDA loads on CPU (map_location) and greedy decodes alike."""
    from seqlab.sources import load_checkpoint

    out = _train(tmp_path, task, "fp32")
    assert load_checkpoint(out / "ckpt_last.pt")["model"]  # read onto the CPU
    cls = _predictor_class(task)
    on_cuda, on_cpu = cls.from_checkpoint(out, "cuda"), cls.from_checkpoint(out, "cpu")
    assert _greedy(task, on_cuda, tmp_path) == _greedy(task, on_cpu, tmp_path)


def _predictor_class(task: str):
    if task == "charlm":
        from seqlab.charlm.predict import CharLMPredictor as cls
    elif task == "sentiment":
        from seqlab.sentiment.predict import SentimentPredictor as cls
    elif task == "translate":
        from seqlab.translate.predict import Translator as cls
    else:
        from seqlab.caption.predict import CaptionPredictor as cls
    return cls


RUNNER = """
import json, sys
from seqlab.cli import main
for argv in json.loads(sys.argv[1]):
    assert main(argv) == 0, argv
"""


def test_torchrun_world_size_1_matches_a_plain_run(tmp_path):
    """torchrun with one process on the GPU (seqlab runs a world of 1 as a plain run) logs the
    plain run's losses."""
    runs = {name: [*make(tmp_path), "--device", "cuda", "--precision", "fp32", "--dropout", "0"]
            for name, make in TRAINERS.items() if name != "charlm"}  # fmt: skip
    for name, argv in runs.items():
        assert main([*argv, "--out", str(tmp_path / "plain" / name)]) == 0
    script = tmp_path / "runs.py"
    script.write_text(RUNNER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1"]
    argvs = [[*argv, "--out", str(tmp_path / "torchrun" / name)] for name, argv in runs.items()]
    _run([*cmd, str(script), json.dumps(argvs)], tmp_path, timeout=400)
    for name in runs:
        a = read_metrics(tmp_path / "plain" / name / "metrics.jsonl")
        b = read_metrics(tmp_path / "torchrun" / name / "metrics.jsonl")
        la, lb = [r["loss"] for r in a if "loss" in r], [r["loss"] for r in b if "loss" in r]
        assert len(la) == len(lb) >= 2, name
        assert lb == pytest.approx(la, rel=1e-4, abs=1e-5), name


def test_familiarity_reads_cuda_features():
    """A predictor on CUDA hands its features to a familiarity bank that lives on the CPU."""
    from seqlab.familiarity import GaussianDensity, NearestNeighbours

    x = torch.randn(200, 32)
    for det in (NearestNeighbours.fit(x, dim=8), GaussianDensity.fit(x, k=8)):
        assert (det.raw(x[:5].cuda()) == det.raw(x[:5])).all()


def _count_syncs(fn) -> int:
    """How many synchronising CUDA calls ``fn()`` makes (torch's sync debug mode warns on each)."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchronizing" in str(w.message) for w in caught)


def test_beam_search_syncs_about_once_per_step():
    """Batched beam search copies to the host once per step (and once more when items finish),
    not once per item: on a GPU a sync per item made beam 5 cost 3x greedy."""
    from seqlab.decoding import beam_search
    from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig

    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(src_vocab_size=60, tgt_vocab_size=60)).cuda().eval()
    B, calls = 32, []
    src = torch.randint(4, 60, (B, 9), device="cuda")

    def step(tokens, state):
        calls.append(1)
        return model.decode_step(tokens, state)

    with torch.no_grad():
        state = model.init_state(src, torch.full((B,), 9))
        syncs = _count_syncs(lambda: beam_search(step, state, B, 2, 3, beam_size=5, max_len=12))
    assert len(calls) >= 2
    assert syncs <= 3 * len(calls) + 4, (syncs, len(calls))  # the old search: >= B a step


def test_shipped_translator_n_best_on_cuda_equals_cpu():
    """Beam 5 with the 5-best on CUDA gives the CPU's hypotheses, in the CPU's order."""
    from seqlab.translate.predict import Translator

    texts = [
        "Ein Hund rennt über eine Wiese.",
        "Zwei Männer spielen Fußball im Park.",
        "Eine Frau in einem roten Kleid sitzt auf einer Bank.",
        "Ein kleines Mädchen klettert auf ein Klettergerüst.",
        "Ein Mann fährt mit dem Fahrrad eine Straße entlang.",
    ]
    on_cuda = Translator.from_checkpoint("translate-multi30k-de-en", "cuda")
    on_cpu = Translator.from_checkpoint("translate-multi30k-de-en", "cpu")
    a = on_cuda.translate_many(texts, beam_size=5, n_best=5)
    b = on_cpu.translate_many(texts, beam_size=5, n_best=5)
    for x, y in zip(a, b, strict=True):
        assert [h[0] for h in x["n_best"]] == [h[0] for h in y["n_best"]]
        assert [h[1] for h in x["n_best"]] == pytest.approx([h[1] for h in y["n_best"]], abs=1e-3)
