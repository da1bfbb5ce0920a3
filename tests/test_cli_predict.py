"""The predict verbs' one shape (seqlab.commands.predicting): caption, translate and sentiment
take the same flags and print the same records; long inputs are echoed cut short and a model
that read only part of an input says so; bad flags and mistyped names are refused in one line
before any model loads."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from seqlab.cli import build_parser, main

COMMON = {"input", "output", "n_best", "familiarity"}
TEXT_FIELDS = COMMON | {"chars", "truncated"}


@pytest.fixture(scope="module")
def sentiment_ckpt(tmp_path_factory) -> Path:
    from app_fixtures import tiny_sentiment_checkpoint

    return tiny_sentiment_checkpoint(tmp_path_factory.mktemp("sentiment"))


@pytest.fixture(scope="module")
def translator(tmp_path_factory) -> Path:
    from app_fixtures import tiny_translator

    folder = tmp_path_factory.mktemp("translate")
    tiny_translator(folder)
    return folder / "ckpt_best.pt"


def _parse(argv: list[str]):
    if argv[0] == "caption":  # caption parses its verbs itself (an image path may come first)
        from seqlab.commands.caption import _verb_parsers

        return _verb_parsers()["predict"].parse_args(argv[1:])
    return build_parser(argv).parse_args(argv)


@pytest.mark.parametrize(
    "argv",
    [["caption", "photo.jpg"], ["translate", "Ein Hund."], ["sentiment", "predict", "a film"]],
)
def test_the_three_predictors_take_the_same_flags(argv):
    """`seqlab sentiment predict --json "x"` and `--threads 1` once failed with "unrecognized
    arguments"; caption and translate had no --threads."""
    flags = ["--json", "--threads", "1", "--device", "cpu", "--checkpoint", "some/run"]
    args = _parse([*argv, *flags])
    assert (args.json, args.threads, args.device, args.checkpoint) == (True, 1, "cpu", "some/run")


def test_sentiment_prints_plain_lines_and_json_records(sentiment_ckpt, capsys):
    texts = ["a wonderful film", "a dull and boring plot"]
    assert main(["sentiment", "predict", "--checkpoint", str(sentiment_ckpt), *texts]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("\t")[0] for ln in lines] == texts  # INPUT<TAB>LABEL (p)
    argv = ["sentiment", "predict", "--checkpoint", str(sentiment_ckpt), "--json", "--threads"]
    assert main([*argv, "1", *texts]) == 0
    records = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert all(TEXT_FIELDS <= r.keys() for r in records)
    assert records[0]["output"] == records[0]["n_best"][0]["text"]
    assert sum(c["score"] for c in records[0]["n_best"]) == pytest.approx(1, abs=1e-3)


def test_translate_prints_the_same_records(translator, capsys):
    argv = ["translate", "--checkpoint", str(translator), "--json", "--threads", "1"]
    assert main([*argv, "--n-best", "2", "--beam", "2", "may 3, 2001"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert TEXT_FIELDS <= rec.keys() and len(rec["n_best"]) == 2
    assert rec["input"] == "may 3, 2001" and rec["output"] == rec["n_best"][0]["text"]
    assert main(["translate", "--checkpoint", str(translator), "may 3, 2001"]) == 0
    assert capsys.readouterr().out.startswith("may 3, 2001\t")


def test_caption_prints_the_same_records(tmp_path, capsys):
    from app_fixtures import tiny_captioner
    from PIL import Image

    tiny_captioner(tmp_path / "run")
    image = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(image)
    argv = ["caption", str(image), "--checkpoint", str(tmp_path / "run"), "--threads", "1"]
    assert main([*argv, "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert COMMON <= rec.keys() and rec["input"] == str(image)
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(f"{image}\t")


# ---------------------------------------------------------------------------- long inputs


def test_a_one_megabyte_line_is_not_printed_back(sentiment_ckpt, capsys, monkeypatch):
    """`seqlab sentiment predict < big.txt` with a 1,000,000-character line once printed it
    twice (in the stderr note and in the JSON); the model reads its first max_length tokens,
    and the output says so."""
    big = "good film " * 100_000
    argv = ["sentiment", "predict", "--checkpoint", str(sentiment_ckpt)]
    monkeypatch.setattr("sys.stdin", io.StringIO(big + "\n"))
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert len(captured.out) + len(captured.err) < 2000
    assert "…" in captured.out and "the model read the first" in captured.err
    monkeypatch.setattr("sys.stdin", io.StringIO(big + "\n"))
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    rec = json.loads(captured.out)
    assert len(captured.out) < 2000 and captured.err == ""
    assert rec["truncated"] is True and rec["chars"] == len(big)
    assert rec["input"] == big[:200] + "…" and rec["read_tokens"] < rec["tokens"]
    assert main([*argv, "--json", "a fine film"]) == 0
    assert json.loads(capsys.readouterr().out)["truncated"] is False


def test_translate_echoes_a_long_source_cut_short(translator, capsys):
    long = "may 3, 2001 " * 60  # 720 characters: under the translator's limit
    assert main(["translate", "--checkpoint", str(translator), long]) == 0
    out = capsys.readouterr().out
    assert out.startswith(long[:200] + "…\t") and long[:300] not in out
    assert main(["translate", "--checkpoint", str(translator), "--json", long]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["input"] == long[:200] + "…" and rec["chars"] == len(long)
    assert rec["truncated"] is False


def test_translate_answers_each_stdin_line_on_its_own(translator, capsys, monkeypatch):
    """One line over the limit is refused by its number, without being printed back, and the
    other lines are translated."""
    lines = ["may 3, 2001", "x" * 5000, "june 1, 1990"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["translate", "--checkpoint", str(translator), "-"]) == 1
    captured = capsys.readouterr()
    assert [ln.split("\t")[0] for ln in captured.out.splitlines()] == [lines[0], lines[2]]
    assert "line 2:" in captured.err and "xxxxxxxxxx" not in captured.err


@pytest.fixture(scope="module")
def charlm_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("charlm")
    (folder / "input.txt").write_text("ab ba\nbab aab\n" * 200)
    argv = ["charlm", "train", "--text", str(folder / "input.txt"), "--out", str(folder / "run"),
            "--max-steps", "2", "--hidden-size", "8", "--embedding-size", "4", "--num-layers",
            "1", "--batch-size", "2", "--bptt", "8", "--precision", "fp32"]  # fmt: skip
    assert main(argv) == 0
    return folder / "run"


def test_charlm_echoes_a_long_prime_by_its_end(charlm_run, capsys):
    prime = "a" * 30 + "\n" + "b" * 20_000
    argv = ["charlm", "sample", "--checkpoint", str(charlm_run), "--length", "20"]
    capsys.readouterr()
    assert main([*argv, "--prime", prime, "--temperature", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("…" + "b" * 200) and len(captured.out) < 200 + 30
    assert "20,031 characters" in captured.err and "last 10,000" in captured.err


# ---------------------------------------------------------------------------- refused early


@pytest.mark.parametrize(
    "argv, message",
    [
        (["caption", "--beam", "0", "photo.jpg"], "--beam: must be >= 1, got 0"),
        (["caption", "--beam", "2", "--n-best", "3", "photo.jpg"], "--n-best (3) must be at most"),
        (["caption", "evaluate", "--root", "x", "--beam", "0"], "--beam: must be >= 1"),
        (["translate", "--beam", "2", "--n-best", "3", "Hallo"], "--n-best (3) must be at most"),
        (["translate", "--length-penalty", "-1", "Hallo"], "--length-penalty must be >= 0"),
        (["sentiment", "predict", "--threads", "-1", "x"], "--threads: must be >= 0"),
        (["charlm", "sample", "--top-p", "0"], "--top-p must be in (0, 1]"),
        (["charlm", "sample", "--length", "-5"], "--length: must be >= 0"),
        (["charlm", "sample", "--temperature", "-1"], "--temperature must be >= 0"),
    ],
)
def test_bad_flags_are_refused_before_any_model_loads(argv, message, tmp_path, capsys):
    """The checkpoint does not exist: a flag refused before it is looked for was refused before
    anything loaded (`seqlab caption --beam 0 img` once loaded the model for 11 s first, then
    said "1 of 1 images could not be captioned")."""
    assert main([*argv, "--checkpoint", str(tmp_path / "missing.pt")]) in (1, 2)
    err = capsys.readouterr().err
    assert message in err and "checkpoint not found" not in err
    assert "could not be captioned" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, typo, meant",
    [
        (["caption", "photo.jpg"], "caption-flicker8k", "caption-flickr8k"),
        (["sentiment", "predict", "x"], "sentiment-sst", "sentiment-sst2"),
        (["translate", "Hallo"], "translate-multi30k-en-de", "translate-multi30k-de-en"),
        (["charlm", "sample"], "charlm-shakespear", "charlm-shakespeare"),
    ],
)
def test_a_mistyped_shipped_name_gets_the_closest_one(argv, typo, meant, capsys):
    assert main([*argv, "--checkpoint", typo]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"did you mean {meant}?" in err
    assert "shipped" in err and meant in err.split("did you mean")[1]


def test_a_missing_run_directory_lists_the_shipped_models(tmp_path, capsys):
    assert main(["sentiment", "predict", "--checkpoint", str(tmp_path), "x"]) == 1
    err = capsys.readouterr().err
    assert "holds no ckpt_best.pt or ckpt_last.pt" in err and "sentiment-sst2" in err
    assert "did you mean" not in err  # a path, not a name


@pytest.mark.parametrize(
    "argv, usage",
    [
        (["sentiment", "predict", "--bogus", "x"], "usage: seqlab sentiment predict"),
        (["translate", "--bogus", "Hallo"], "usage: seqlab translate"),
        (["charlm", "sample", "--bogus"], "usage: seqlab charlm sample"),
    ],
)
def test_an_unknown_flag_shows_the_usage_of_its_verb(argv, usage, capsys):
    """`seqlab sentiment predict --json x` once answered with seqlab's top-level usage."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(usage) and "unrecognized arguments: --bogus" in err
