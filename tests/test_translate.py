"""Tests for translation: sentence-pair loaders, the seq2seq model and its decode_step, the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from seqlab.cli import main
from seqlab.data.pairs import bucket_batches, read_parallel, read_tsv_pairs, split_pairs
from seqlab.decoding import beam_search, greedy
from seqlab.errors import UserError
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.toy.dates import make_date_pairs, ordinal_words, year_words
from seqlab.training import read_metrics


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run faster on one thread, and much faster on a machine shared with others."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# ----------------------------------------------------------------------------- loaders


def test_read_parallel_and_errors(tmp_path):
    src = write(tmp_path / "a.de", "ein Hund\r\nzwei Katzen\n")
    tgt = write(tmp_path / "a.en", "a dog\ntwo cats\n")
    assert read_parallel(src, tgt) == [("ein Hund", "a dog"), ("zwei Katzen", "two cats")]
    short = write(tmp_path / "b.en", "a dog\n")
    with pytest.raises(UserError, match=r"a\.de has 2 lines but .*b\.en has 1"):
        read_parallel(src, short)
    hole = write(tmp_path / "c.en", "a dog\n  \n")
    with pytest.raises(UserError, match=r"c\.en, line 2: empty"):
        read_parallel(src, hole)
    bad = write(tmp_path / "d.en", b"a dog\ntwo \xff cats\n")
    with pytest.raises(UserError, match=r"d\.en, line 2: not valid UTF-8"):
        read_parallel(src, bad)
    with pytest.raises(UserError, match="not found"):
        read_parallel(tmp_path / "nope.de", tgt)


def test_read_tsv_pairs_two_or_three_columns_and_reverse(tmp_path):
    f = write(tmp_path / "fra.txt", "Go.\tVa !\tCC-BY 2.0 (France) #1\nHi.\tSalut !\n")
    assert read_tsv_pairs(f) == [("Go.", "Va !"), ("Hi.", "Salut !")]
    assert read_tsv_pairs(f, reverse=True)[0] == ("Va !", "Go.")
    bad = write(tmp_path / "bad.txt", "Go.\tVa !\nno tab here\n")
    with pytest.raises(UserError, match=r"bad\.txt, line 2: expected 2 or 3"):
        read_tsv_pairs(bad)
    with pytest.raises(UserError, match="empty"):
        read_tsv_pairs(write(tmp_path / "empty.txt", ""))


def test_bucket_batches_cover_every_index_once_and_split():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 4, 6]
    batches = bucket_batches(lengths, 3, torch.Generator().manual_seed(0), pool=2)
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert all(len(b) <= 3 for b in batches)
    train, dev = split_pairs([(str(i), str(i)) for i in range(10)], 2)
    assert len(train) == 8 and len(dev) == 2 and not set(train) & set(dev)


def test_synthetic_dates():
    assert ordinal_words(23) == "twenty-third" and ordinal_words(30) == "thirtieth"
    assert year_words(2004) == "two thousand four" and year_words(1987) == "nineteen eighty-seven"
    pairs = make_date_pairs(50, seed=1)
    assert pairs == make_date_pairs(50, seed=1)
    assert all(len(t) == 10 and t[4] == t[7] == "-" for _, t in pairs)


# ----------------------------------------------------------------------------- model


def tiny(**kw) -> Seq2Seq:
    cfg = dict(src_vocab_size=13, tgt_vocab_size=11, embedding_size=6, hidden_size=8, dropout=0.0)
    return Seq2Seq(Seq2SeqConfig(**{**cfg, **kw})).eval()


def batch():
    src = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])  # (B, S) padded
    lengths = torch.tensor([4, 2])
    tgt_in = torch.tensor([[2, 4, 5, 6], [2, 7, 0, 0]])  # (B, T)
    return src, lengths, tgt_in


@pytest.mark.parametrize(
    "kw",
    [
        {"attention": "bahdanau"},
        {"attention": "dot", "cell": "lstm"},
        {"attention": "general", "input_feeding": False},
        {"attention": "none"},
        {"tie_embeddings": True, "encoder_layers": 2, "decoder_layers": 2},
    ],
)
def test_forward_shapes_and_decode_step_match_teacher_forcing(kw):
    model = tiny(**kw)
    src, lengths, tgt_in = batch()
    with torch.no_grad():
        logits = model(src, lengths, tgt_in)  # (B, T, V)
        assert logits.shape == (2, 4, 11)
        state = model.init_state(src, lengths)
        for t in range(tgt_in.size(1)):
            log_probs, state, attn = model.decode_step(tgt_in[:, t], state)
            assert log_probs.shape == (2, 11)
            torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1))
            if kw.get("attention") == "none":
                assert attn is None
            else:
                assert attn.shape == (2, 4)
                torch.testing.assert_close(attn.sum(-1), torch.ones(2))
                assert attn[1, 2:].abs().max() == 0  # padding gets no attention


def test_model_with_shared_beam_search():
    model = tiny()
    src, lengths, _ = batch()
    with torch.no_grad():
        g = greedy(model.decode_step, model.init_state(src, lengths), 2, 2, 3, max_len=6)
        b = beam_search(model.decode_step, model.init_state(src, lengths), 2, 2, 3, beam_size=1,
                        max_len=6, length_penalty=0.0)  # fmt: skip
        nb = beam_search(model.decode_step, model.init_state(src, lengths), 2, 2, 3, beam_size=4,
                         max_len=6, n_best=3)  # fmt: skip
    assert [h.tokens for h in g] == [h[0].tokens for h in b]
    for item in nb:
        assert [h.score for h in item] == sorted((h.score for h in item), reverse=True)
        assert all(h.attention is None or h.attention.shape[1] == 4 for h in item)


def test_bad_config_is_a_one_line_error():
    with pytest.raises(ValueError, match="hidden-size must be even"):
        Seq2SeqConfig(hidden_size=7)


# ----------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def date_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("dates")
    pairs = make_date_pairs(240, seed=0)
    write(d / "train.src", "".join(s + "\n" for s, _ in pairs[:200]))
    write(d / "train.tgt", "".join(t + "\n" for _, t in pairs[:200]))
    write(d / "dev.src", "".join(s + "\n" for s, _ in pairs[200:]))
    write(d / "dev.tgt", "".join(t + "\n" for _, t in pairs[200:]))
    write(d / "pairs.tsv", "".join(f"{s}\t{t}\tCC-BY\n" for s, t in pairs))
    return d


TINY = ["--hidden-size", "16", "--embedding-size", "8", "--vocab-size", "60", "--batch-size", "32",
        "--device", "cpu"]  # fmt: skip


def test_resume_reproduces_the_uninterrupted_run(date_files, tmp_path):
    d = date_files
    data = [
        "--train-src",
        str(d / "train.src"),
        "--train-tgt",
        str(d / "train.tgt"),
        "--dev-src",
        str(d / "dev.src"),
        "--dev-tgt",
        str(d / "dev.tgt"),
        "--dropout",
        "0.3",
        "--schedule",
        "plateau",
        *TINY,
    ]  # fmt: skip  (a cosine's length depends on --epochs)
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main(["translate", "train", *data, "--epochs", "2", "--out", str(full)]) == 0
    assert main(["translate", "train", *data, "--epochs", "1", "--out", str(cut)]) == 0
    assert main(["translate", "train", *data, "--epochs", "2", "--out", str(cut), "--resume"]) == 0

    def losses(run):
        return [
            (r["step"], r.get("loss"), r.get("val_nll"))
            for r in read_metrics(run / "metrics.jsonl")
        ]

    assert losses(cut) == losses(full)  # dropout included: the RNG states are restored
    a = torch.load(full / "ckpt_last.pt", weights_only=True)["model"]
    b = torch.load(cut / "ckpt_last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_train_evaluate_translate(date_files, tmp_path, capsys):
    d, run = date_files, tmp_path / "run"
    argv = ["translate", "train", "--train-src", str(d / "train.src"), "--train-tgt",
            str(d / "train.tgt"), "--dev-src", str(d / "dev.src"), "--dev-tgt",
            str(d / "dev.tgt"), "--out", str(run), "--epochs", "1", *TINY]  # fmt: skip
    assert main(argv) == 0
    assert (run / "ckpt_best.pt").is_file() and (run / "config.json").is_file()
    assert main(["translate", "train", *argv[2:-8], *TINY[:-2], "--epochs", "2", "--resume"]) == 0
    capsys.readouterr()
    ev = ["translate", "evaluate", "--checkpoint", str(run), "--src", str(d / "dev.src"), "--ref",
          str(d / "dev.tgt"), "--beam", "2", "--output", str(tmp_path / "hyp.txt")]  # fmt: skip
    assert main(ev) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"bleu", "signature", "bleu_lc_tok", "perplexity"} <= scores.keys()
    assert "tok:13a" in scores["signature"]
    assert len((tmp_path / "hyp.txt").read_text().splitlines()) == 40
    assert (
        main(["translate", "the 1st of may 1990", "--checkpoint", str(run), "--n-best", "2"]) == 0
    )
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["translate", "text", "may 3, 2001", "--checkpoint", str(run), "--beam", "1"]) == 0
    capsys.readouterr()
    # --int8: an int8 copy of the model, for the text and for evaluate
    assert main(["translate", "--int8", "may 3, 2001", "--checkpoint", str(run)]) == 0
    assert capsys.readouterr().out.strip()
    assert main([*ev, "--int8", "--device", "cpu"]) == 0
    int8 = json.loads(capsys.readouterr().out)
    assert int8["perplexity"] == pytest.approx(scores["perplexity"], rel=0.1)  # rounding only


def test_flags_may_come_before_the_text(tmp_path, capsys):
    """`seqlab translate --beam 5 "Ein Hund ..."`: the text verb's flags work wherever a user puts
    them, and `seqlab translate --help` lists them."""
    from seqlab.cli import build_parser

    argv = ["translate", "--beam", "3", "--n-best", "2", "Ein Hund läuft im Park."]
    args = build_parser(argv).parse_args(argv)
    assert (args.verb, args.text, args.beam, args.n_best) == ("text", argv[-1], 3, 2)
    missing = str(tmp_path / "missing")
    assert main(["translate", "--checkpoint", missing, "--beam", "5", "Ein Hund."]) == 1
    assert "checkpoint not found" in capsys.readouterr().err  # parsed, then the file is missing
    assert main(["translate", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in ("--beam", "--checkpoint", "--int8", "translate train"))


def test_cli_pairs_file_and_user_errors(date_files, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["translate", "train", "--pairs", str(date_files / "pairs.tsv"), "--reverse",
            "--dev-size", "20", "--out", str(run), "--epochs", "1", *TINY]  # fmt: skip
    assert main(argv) == 0
    assert main(["translate", "x", "--checkpoint", str(tmp_path / "missing")]) == 1
    assert main(["translate", "", "--checkpoint", str(run)]) == 1
    assert main(["translate", "ok", "--checkpoint", str(run), "--beam", "0"]) == 2  # argparse
    assert main(["translate", "train", "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and "empty" in err and "--beam" in err
    assert "Traceback" not in err


def test_a_packed_model_carries_its_length_penalty(tmp_path, capsys):
    from app_fixtures import tiny_translator

    (tmp_path / "run").mkdir()
    tr = tiny_translator(tmp_path / "run")
    assert tr.length_penalty == 0.6  # a training run's checkpoint: the default
    out = tmp_path / "m.safetensors"
    argv = ["pretrained", "export", str(tmp_path / "run"), str(out), "--meta"]
    assert main([*argv, "length_penalty=1.0"]) == 0
    from seqlab.translate.predict import Translator

    packed = Translator.from_checkpoint(out, "cpu")
    assert packed.length_penalty == 1.0
    assert (
        packed.translate("may 1 1990")["translation"]
        == packed.translate("may 1 1990", length_penalty=1.0)["translation"]
    )
    assert main([*argv, "length_penalty"]) == 1
    assert "--meta takes KEY=JSON" in capsys.readouterr().err


@pytest.mark.parametrize("beam", [1, 3])
def test_a_batch_translates_each_sentence_as_it_would_alone(tmp_path, beam):
    """Batched serving: sentences of very different lengths decoded together get exactly the
    answer each gets alone (each has its own output-length limit: a one-epoch model runs into
    them)."""
    from app_fixtures import tiny_translator

    tr = tiny_translator(tmp_path)
    texts = ["may", "the 1st of may 1990", "twelve " * 15, "march 5 1999", "the " * 30 + "end"]
    alone = [tr.translate(t, beam, 0.6, 1) for t in texts]
    together = tr.translate_many(texts, beam, 0.6, 1)
    assert [r["translation"] for r in together] == [r["translation"] for r in alone]
    for a, b in zip(together, alone, strict=True):
        assert [t for t, _, _ in a["n_best"]] == [t for t, _, _ in b["n_best"]]
        # a batch's matmuls round in another order: the same numbers to float precision
        assert [s for _, s, _ in a["n_best"]] == pytest.approx([s for _, s, _ in b["n_best"]])
        assert torch.tensor(a["attention"]).shape == torch.tensor(b["attention"]).shape
        torch.testing.assert_close(torch.tensor(a["attention"]), torch.tensor(b["attention"]))
    assert len({len(r["target_tokens"]) for r in together}) > 1
