"""Shipped models: packing (fp16, int8 per channel), the registry's checks, the CLI, and that every
registry entry loads with its checksum holding. What the shipped models do is in
tests/test_shipped_models.py."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import pytest
import torch
from test_hardware import _charlm_bf16

from seqlab import pretrained
from seqlab.charlm.predict import CharLMPredictor
from seqlab.cli import main
from seqlab.errors import UserError
from seqlab.packing import INT8_MIN_NUMEL, pack, quantize_rows, read_header, unpack
from seqlab.sources import load_checkpoint


@pytest.fixture(scope="module")
def charlm_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("charlm")
    argv = _charlm_bf16(tmp)
    argv[argv.index("--hidden-size") + 1] = "64"  # big enough for int8 matrices
    assert main([*argv[:-1], "fp32"]) == 0
    return tmp / "run"


def test_int8_rows_are_within_half_a_step():
    w = torch.randn(40, 130) * torch.logspace(-3, 1, 40)[:, None]  # rows of very different scale
    q, scale = quantize_rows(w)
    assert q.dtype == torch.int8 and scale.shape == (40,)
    err = (q.float() * scale[:, None] - w).abs()
    assert (err <= scale[:, None] / 2 + 1e-7).all()


@pytest.mark.parametrize("storage", ["fp16", "int8"])
def test_pack_keeps_what_a_predictor_needs(charlm_run, tmp_path, storage):
    ckpt = load_checkpoint(charlm_run / "ckpt_best.pt")
    out = tmp_path / "m.safetensors"
    counts = pack(ckpt, out, storage)
    assert (storage == "int8") == ("int8" in counts)
    back = unpack(out)
    assert "optimizer" not in back and "rng" not in back  # training state stays behind
    assert back["vocab"] == ckpt["vocab"] and back["model_config"] == ckpt["model_config"]
    for k, v in ckpt["model"].items():
        got = back["model"][k]
        assert got.dtype == torch.float32 and got.shape == v.shape
        big = storage == "int8" and v.dim() >= 2 and v.numel() >= INT8_MIN_NUMEL
        tol = v.abs().amax() / 127 if big else v.abs().amax() * 2**-10
        assert (got - v).abs().max() <= tol + 1e-6, k
    assert out.stat().st_size < (charlm_run / "ckpt_best.pt").stat().st_size / 2
    header = read_header(out)
    assert set(header["storage"].values()) <= {"fp16", "int8", "int64 (as is)"}


@pytest.mark.parametrize("storage", ["fp16", "int8"])
def test_pack_keeps_integer_tensors_as_they_are(tmp_path, storage):
    """An int8 tensor of the checkpoint's own (a familiarity bank) is not a quantized weight."""
    bank = torch.randint(-127, 128, (100, 64), dtype=torch.int8)
    ckpt = {"format_version": 1, "task": "caption", "model": {"w": torch.randn(80, 80)}}
    ckpt["familiarity"] = {"bank": bank, "steps": torch.arange(5)}
    pack(ckpt, tmp_path / "m.safetensors", storage)
    back = unpack(tmp_path / "m.safetensors")
    assert torch.equal(back["familiarity"]["bank"], bank)
    assert torch.equal(back["familiarity"]["steps"], torch.arange(5))


def test_packed_file_samples_like_the_checkpoint(charlm_run, tmp_path):
    out = tmp_path / "m.safetensors"
    assert main(["pretrained", "export", str(charlm_run), str(out), "--storage", "fp16"]) == 0
    ref = CharLMPredictor.from_checkpoint(charlm_run, "cpu").sample("RO", 40, temperature=0)
    assert CharLMPredictor.from_checkpoint(out, "cpu").sample("RO", 40, temperature=0) == ref


def test_export_refuses_other_suffixes(charlm_run, tmp_path, capsys):
    assert main(["pretrained", "export", str(charlm_run), str(tmp_path / "m.pt")]) == 1
    assert "must end in .safetensors" in capsys.readouterr().err


def _entry_for(path, name="tiny-charlm") -> pretrained.ModelEntry:
    data = path.read_bytes()
    return pretrained.ModelEntry(
        name=name, task="charlm", file=str(path), sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data), parameters=1, storage="fp16", summary="a test model",
        dataset="a test text", licence="none", train_command="-", pack_command="-",
        eval_command="-", metrics={"val_nats": 1.0}, metrics_fp32={"val_nats": 1.0},
        trained_on="-",
    )  # fmt: skip


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered"])
def test_damaged_weights_are_refused_in_one_sentence(charlm_run, tmp_path, damage):
    out = tmp_path / "m.safetensors"
    pack(load_checkpoint(charlm_run), out, "fp16")
    e = _entry_for(out)
    assert pretrained.verify_entry(e) == out
    data = out.read_bytes()
    if damage == "missing":
        out.unlink()
    elif damage == "truncated":
        out.write_bytes(data[: len(data) // 2])
    else:
        out.write_bytes(data[:-100] + bytes(b ^ 1 for b in data[-100:]))
    with pytest.raises(UserError) as err:
        pretrained.verify_entry(e)
    msg = str(err.value)
    assert "\n" not in msg and str(out) in msg and "tiny-charlm" in msg
    assert ("missing" if damage == "missing" else "sha256") in msg
    assert "reinstall seqlab" in msg or "git checkout" in msg


def test_unknown_names_and_unshipped_defaults_are_one_sentence(capsys):
    with pytest.raises(UserError, match="no shipped model named 'nope'"):
        pretrained.entry("nope")
    assert main(["pretrained", "show", "nope"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_list_prints_every_entry(capsys):
    assert main(["pretrained", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in pretrained.names())


# --------------------------------------------------------------------------- the shipped files


@pytest.mark.parametrize("name", pretrained.names())
def test_shipped_entry_loads_and_its_checksum_holds(name, capsys):
    e = pretrained.entry(name)
    assert pretrained.verify(name) == e.path
    assert e.size_bytes <= 25_000_000 and e.storage in ("fp16", "int8")
    ckpt = load_checkpoint(name, task=e.task)
    params = sum(v.numel() for v in ckpt["model"].values() if v.is_floating_point())
    assert params == e.parameters
    assert main(["pretrained", "show", name]) == 0
    card = capsys.readouterr().out
    assert e.sha256 in card and e.train_command in card


def test_shipped_weights_fit_the_budget():
    assert sum(e.size_bytes for e in pretrained.ENTRIES.values()) <= 50_000_000
    files = {p.name for p in pretrained.weights_dir().glob("*.safetensors")}
    assert files == {e.file for e in pretrained.ENTRIES.values()}  # no orphan, none missing


def test_a_corrupted_shipped_file_is_refused(tmp_path):
    if not pretrained.ENTRIES:
        pytest.skip("no shipped model in this checkout")
    e = next(iter(pretrained.ENTRIES.values()))
    copy = tmp_path / e.file
    shutil.copy(e.path, copy)
    copy.write_bytes(copy.read_bytes()[:-1])
    with pytest.raises(UserError, match="fail their sha256 check"):
        pretrained.verify_entry(dataclasses.replace(e, file=str(copy)))


def test_readme_lists_the_shipped_models_as_the_registry_says():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert pretrained.markdown_table() in readme


def test_the_readme_table_is_one_short_line_per_model():
    """The recipe is the card's (`seqlab pretrained show NAME`), not a paragraph in a cell."""
    rows = pretrained.markdown_table().splitlines()[2:]
    assert len(rows) == len(pretrained.ENTRIES)
    for row, name in zip(rows, pretrained.ENTRIES, strict=True):
        assert len(row) <= 240 and "uv run" not in row, row
        assert row.endswith(f"| `seqlab pretrained show {name}` |")
        assert row.count("(") == row.count(")"), row  # no name cut inside its parentheses


HELP = [["--help"], ["pretrained", "list"], ["nope"]]
HELP += [[task, "train", "--help"] for task in ("charlm", "sentiment", "translate", "caption")]
HELP += [["charlm", "train", "--bptt", "zero"]]  # a usage error in a trainer's flags
HELP += [["translate", "--help"], ["caption", "--help"]]  # the implied verb's flags


@pytest.mark.parametrize("argv", HELP)
def test_help_list_and_usage_errors_do_not_import_torch(argv):
    """They answer at once: only the named command group is imported, and these need no torch."""
    import subprocess
    import sys

    code = f"import sys; from seqlab.cli import main; main({argv!r}); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr
