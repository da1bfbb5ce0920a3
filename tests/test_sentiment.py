"""Sentiment classification: loaders (and their errors), tokenizers kept in the checkpoint, model
shapes and pooling, attribution, and the `seqlab sentiment` CLI on tiny data made in tmp_path."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from seqlab.cli import main
from seqlab.data.labelled import label_names, load_labelled
from seqlab.data.tokenizers import PAD, UNK, SentencePieceTokenizer, tokenizer_from_dict
from seqlab.data.wordvectors import embedding_matrix, vector_size
from seqlab.errors import UserError
from seqlab.models.classifier import ClassifierConfig, TextClassifier
from seqlab.sentiment.batches import (
    adversarial_perturbation,
    classification_metrics,
    collate,
    drop_words,
)
from seqlab.sentiment.predict import SentimentPredictor
from seqlab.toy.sentiment import generate, write_splits
from seqlab.training import WeightAverage

TINY = [
    "--tokenizer",
    "word",
    "--embedding-size",
    "8",
    "--hidden-size",
    "8",
    "--batch-size",
    "16",
    "--max-steps",
    "6",
    "--eval-every",
    "3",
    "--device",
    "cpu",
]


# --------------------------------------------------------------------------- loaders


def test_sst2_tsv_maps_labels_and_keeps_quotes(tmp_path):
    p = tmp_path / "train.tsv"
    p.write_text('sentence\tlabel\nit \'s a " quoted " gem \t1\ndull \t0\n')
    data = load_labelled(p)
    assert data.texts == ['it \'s a " quoted " gem ', "dull "]
    assert data.labels == ["positive", "negative"]


def test_imdb_folder_and_csv(tmp_path):
    for label, text in [("pos", "great<br />fun"), ("neg", "awful")]:
        (tmp_path / "aclImdb" / "train" / label).mkdir(parents=True)
        (tmp_path / "aclImdb" / "train" / label / "0_9.txt").write_text(text)
    data = load_labelled(tmp_path / "aclImdb" / "train")
    pairs = sorted(zip(data.labels, data.texts, strict=True))
    assert pairs == [("negative", "awful"), ("positive", "great fun")]
    with pytest.raises(UserError, match="train or test"):
        load_labelled(tmp_path / "aclImdb")
    csv = tmp_path / "imdb.csv"
    csv.write_text('review,sentiment\n"Loved it, really.\nTwo lines",positive\nMeh.,negative\n')
    data = load_labelled(csv)
    assert data.texts[0] == "Loved it, really.\nTwo lines"
    assert data.labels == ["positive", "negative"]


def test_jsonl_with_columns_and_many_classes(tmp_path):
    p = tmp_path / "d.jsonl"
    rows = [{"body": f"text {i}", "stars": str(i % 3 + 1)} for i in range(6)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_labelled(p, text_column="body", label_column="stars")
    assert label_names(data.labels) == ["1", "2", "3"]
    other = tmp_path / "d.csv"
    other.write_text("a,b\nx,1\n")
    with pytest.raises(UserError, match="no column 'text'"):
        load_labelled(other, text_column="text")
    with pytest.raises(UserError, match="--text-column"):
        load_labelled(other)


@pytest.mark.parametrize(
    "suffix,content,line",
    [
        (".tsv", "sentence\tlabel\ngood\t1\nbad\t0\textra\n", 3),
        (".tsv", "sentence\tlabel\ngood\t1\nbad\t7\n", 3),
        (".csv", "text,label\ngood,pos\n,neg\n", 3),
        (".jsonl", '{"text": "good", "label": "pos"}\n{"text": "bad"\n', 2),
    ],
)
def test_malformed_rows_name_file_and_line_or_are_skipped(tmp_path, suffix, content, line):
    p = tmp_path / f"bad{suffix}"
    p.write_text(content)
    with pytest.raises(UserError, match=f"bad{suffix}, line {line}: .*--skip-bad"):
        load_labelled(p)
    data = load_labelled(p, skip_bad=True)
    assert data.skipped == 1 and len(data) == 1


def test_loader_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_labelled(tmp_path / "nope.tsv")
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(UserError, match="unknown format"):
        load_labelled(tmp_path / "x.parquet")
    (tmp_path / "latin.csv").write_bytes(b"text,label\ncaf\xe9,1\n")
    with pytest.raises(UserError, match="not UTF-8"):
        load_labelled(tmp_path / "latin.csv")


def test_synthetic_data_is_deterministic_and_balanced():
    rows = generate(400, seed=3)
    assert rows == generate(400, seed=3)
    assert 150 < sum(label == "positive" for _, label in rows) < 250
    assert all(text.strip() for text, _ in rows)


def test_word_vectors_fill_known_rows(tmp_path):
    from seqlab.data.tokenizers import make_tokenizer

    tok = make_tokenizer("word", ["good movie", "bad movie"], min_freq=1)
    vec = tmp_path / "vec.txt"
    vec.write_text("2 3\ngood 1 2 3\nzzz 0 0 0\n")
    weight, found = embedding_matrix(vec, tok, 3)
    assert tok.id_to_piece(found.tolist()) == ["good"]
    assert weight[found[0]].tolist() == [1, 2, 3]
    with pytest.raises(UserError, match="embedding-size 3"):
        embedding_matrix(vec, tok, 4)
    assert vector_size(vec) == 3
    (tmp_path / "glove.txt").write_text("good 1 2\nbad 3 4\n")
    assert vector_size(tmp_path / "glove.txt") == 2
    (tmp_path / "bom.txt").write_bytes("\ufeffgood 5 6 7\n".encode())  # Notepad's BOM
    assert vector_size(tmp_path / "bom.txt") == 3
    assert embedding_matrix(tmp_path / "bom.txt", tok, 3)[0][found[0]].tolist() == [5, 6, 7]
    (tmp_path / "cut.txt").write_bytes(b"\xef")  # only the start of a BOM
    with pytest.raises(UserError, match="not UTF-8"):
        embedding_matrix(tmp_path / "cut.txt", tok, 3)
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(UserError, match="no word vectors"):
        vector_size(tmp_path / "empty.txt")


def test_narrow_word_vectors_fill_the_first_columns(tmp_path, splits):
    train, dev = splits
    vec = tmp_path / "glove.txt"
    vec.write_text("great 9 9\nawful -9 -9\n")
    out = tmp_path / "run"
    args = ["sentiment", "train", "--train", str(train), "--dev", str(dev), "--out", str(out)]
    wide = [*TINY, "--word-vectors", str(vec), "--max-steps", "1", "--lr", "1e-9"]
    assert main([*args, *wide]) == 0
    ckpt = torch.load(out / "ckpt_last.pt", weights_only=True)
    tok = tokenizer_from_dict(ckpt["tokenizer"])
    row = ckpt["model"]["embedding.weight"][tok.encode("great")[0]]  # (8,)
    assert torch.allclose(row[:2], torch.tensor([9.0, 9.0])) and row[2:].abs().sum() > 0
    assert main([*args, "--embedding-size", "1", "--word-vectors", str(vec)]) == 1


# --------------------------------------------------------------------------- model


@pytest.mark.parametrize("pooling", ["final", "max", "mean", "max_final", "attention"])
@pytest.mark.parametrize("cell,bidirectional", [("lstm", True), ("gru", False), ("rnn", True)])
def test_classifier_shapes_and_padding_is_ignored(pooling, cell, bidirectional):
    cfg = ClassifierConfig(
        vocab_size=20,
        num_classes=3,
        cell=cell,
        embedding_size=6,
        hidden_size=5,
        num_layers=2,
        bidirectional=bidirectional,
        dropout=0.0,
        pooling=pooling,
    )
    model = TextClassifier(cfg).eval()
    x, lengths = collate([[4, 5, 6], [7]])
    logits = model(x, lengths)  # (B, C)
    assert logits.shape == (2, 3)
    alone = model(torch.tensor([[7]]), torch.tensor([1]))
    torch.testing.assert_close(logits[1:], alone)  # padding never leaks into the result


def test_metrics():
    m = classification_metrics(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 1, 0, 1]), 2)
    assert m["accuracy"] == 0.75 and m["confusion"] == [[1, 1], [0, 2]]
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    return write_splits(tmp_path_factory.mktemp("syn"), n_train=300, n_dev=40)


@pytest.mark.parametrize("tokenizer", ["word", "sentencepiece"])
def test_cli_train_evaluate_predict(tmp_path, splits, tokenizer, capsys, monkeypatch):
    train, dev = splits
    out = tmp_path / "run"
    extra = ["--vocab-size", "60"] if tokenizer == "sentencepiece" else []
    assert (
        main(
            [
                "sentiment",
                "train",
                "--train",
                str(train),
                "--dev",
                str(dev),
                "--out",
                str(out),
                *TINY,
                "--tokenizer",
                tokenizer,
                *extra,
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 6 and (out / "ckpt_best.pt").is_file()
    ckpt = torch.load(out / "ckpt_best.pt", weights_only=True)
    # one scale for people (percent, named in the key), fractions in the run's files
    assert "best_dev_accuracy" not in summary
    assert summary["best_dev_accuracy_pct"] == round(100 * ckpt["metrics"]["accuracy"], 2)
    assert ckpt["tokenizer"]["kind"] == tokenizer and ckpt["labels"] == ["negative", "positive"]

    assert main(["sentiment", "evaluate", "--checkpoint", str(out), "--data", str(dev)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 40 and len(result["confusion"]) == 2
    # a percentage, as the model cards print it (86.12 for 751 of 872)
    assert result["accuracy"] == round(100 * result["correct"] / result["n"], 2)
    assert result["correct"] == sum(result["confusion"][k][k] for k in range(2))
    # the splits: negation and contrast words, and the rest; each its own texts' accuracy
    from seqlab.sentiment.negation import has_contrast, has_negation

    texts = load_labelled(dev).texts
    neg, con = sum(map(has_negation, texts)), sum(map(has_contrast, texts))
    rest = sum(not has_negation(t) and not has_contrast(t) for t in texts)
    assert (result["negation"]["n"], result["contrast"]["n"], result["rest"]["n"]) == (
        neg,
        con,
        rest,
    )
    assert result["negation"]["n"] + result["no_negation"]["n"] == 40 and neg > 0 and con > 0
    assert main(["sentiment", "evaluate", "--help"]) == 0
    assert "accuracy in percent" in capsys.readouterr().out

    assert (
        main(
            [
                "sentiment",
                "predict",
                "--checkpoint",
                str(out),
                "not good at all",
                "--explain",
                "occlusion",
                "--json",
            ]
        )
        == 0
    )
    line = json.loads(capsys.readouterr().out)
    assert line["output"] in ("negative", "positive") and len(line["attribution"]) >= 4
    assert sum(line["probs"].values()) == pytest.approx(1, abs=1e-4)

    # the reading word by word: P(the predicted label) after each token, the last one the answer
    args = ["sentiment", "predict", "--checkpoint", str(out), "not good at all"]
    assert main([*args, "--explain", "prefix", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert [t for t, _ in line["prefix"]] == ["not", "good", "at", "all"] or tokenizer != "word"
    assert line["prefix"][-1][1] == pytest.approx(line["probs"][line["output"]], abs=1e-4)
    assert main([*args, "--explain", "prefix"]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert plain[1].startswith(f"\tP({line['output']}) ") and plain[1].count(":") == len(
        line["prefix"]
    )

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("great film\n\nawful plot\n"))
    assert main(["sentiment", "predict", "--checkpoint", str(out)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_cli_errors_are_one_line(tmp_path, splits, capsys):
    train, _ = splits
    assert main(["sentiment", "train", "--train", str(tmp_path / "none.tsv")]) == 1
    assert "data file not found" in capsys.readouterr().err
    assert main(["sentiment", "train", "--train", str(train), "--dropout", "2"]) == 1
    assert "--dropout" in capsys.readouterr().err
    assert main(["sentiment", "predict", "--checkpoint", str(tmp_path), "x"]) == 1
    assert "checkpoint not found" in capsys.readouterr().err


def test_predictor_attribution_and_bad_text(tmp_path, splits):
    train, dev = splits
    assert (
        main(
            [
                "sentiment",
                "train",
                "--train",
                str(train),
                "--dev",
                str(dev),
                "--out",
                str(tmp_path),
                *TINY,
            ]
        )
        == 0
    )
    pred = SentimentPredictor.from_checkpoint(tmp_path)
    for method in ("integrated_gradients", "occlusion"):
        tokens, scores, label = pred.attribute("slow start but a wonderful ending", method)
        assert tokens[:2] == ["slow", "start"] and len(scores) == len(tokens) == 6
        assert label in pred.labels
    spans, _ = pred.spans("Ünïcödé 😀 日本語 text")
    assert spans and all(s is None or -1 <= s <= 1 for _, s in spans)
    # a word the model does not know is read as <unk>: marked, and never credited
    assert pred.unknown("zzqx wonderful ending") == ["zzqx"]
    for method in ("integrated_gradients", "occlusion"):
        tokens, scores, _ = pred.attribute("zzqx wonderful ending", method)
        assert tokens[0] == "zzqx" and scores[0] == 0.0
    spans, _ = pred.spans("zzqx wonderful ending")
    assert spans[0] == ("zzqx(?) ", None) and spans[1][1] is not None
    with pytest.raises(UserError, match="empty"):
        pred.predict(["   "])
    long = pred.predict(["good " * 5000])[0]  # cut at max_length tokens
    assert long["label"] in pred.labels


def test_word_dropout_only_hits_real_tokens():
    torch.manual_seed(0)
    x = torch.tensor([[5, 6, 7, 8, 0, 0]] * 2000)  # (B, T), 0 = padding
    y = drop_words(x, 0.25)
    assert (y[:, 4:] == PAD).all()
    hit = (y[:, :4] == UNK).float().mean().item()
    assert 0.23 < hit < 0.27
    assert torch.equal(y[y != UNK], x[y != UNK])


def test_adversarial_perturbation_is_the_worst_nearby_embeddings():
    torch.manual_seed(0)
    model = TextClassifier(ClassifierConfig(vocab_size=30, embedding_size=8, hidden_size=6))
    model.eval()  # no dropout: the same function in every call below
    x = torch.randint(1, 30, (4, 7))
    x[0, 5:] = 0  # a shorter text: padding at the end
    lengths = torch.tensor([5, 7, 7, 7])
    y = torch.tensor([0, 1, 0, 1])

    def loss(noise):
        return F.cross_entropy(model(x, lengths, noise), y, reduction="none")  # (B,)

    noise = torch.zeros(4, 7, 8, requires_grad=True)
    loss(noise).sum().backward()
    r = adversarial_perturbation(noise.grad, 0.05)
    assert torch.allclose(r.flatten(1).norm(dim=1), torch.full((4,), 0.05))
    assert (r[0, 5:] == 0).all()  # padding is never moved
    clean = loss(None).detach()
    with torch.no_grad():
        random = torch.randn(4, 7, 8)
        random = 0.05 * random / random.flatten(1).norm(dim=1)[:, None, None]
        assert (loss(r) > clean).all() and (loss(r) > loss(random)).all()


def test_weight_average_warms_up_then_follows_slowly():
    model = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    avg = WeightAverage(model, decay=0.99)
    with torch.no_grad():
        model.weight.fill_(1.0)
    avg.update(model)  # warm-up decay (1 + 1) / (10 + 1)
    assert torch.allclose(avg.model.weight, torch.full((1, 2), 1 - 2 / 11))
    for _ in range(2000):
        avg.update(model)
    assert torch.allclose(avg.model.weight, torch.ones(1, 2), atol=1e-6)
    assert not avg.model.weight.requires_grad


def test_sentencepiece_sampling_varies_the_split_not_the_text():
    import sentencepiece as spm

    texts = [t for t, _ in generate(300, seed=0)]
    tok = SentencePieceTokenizer.train(texts, vocab_size=80, lower=True)
    spm.set_random_generator_seed(1)
    text = texts[0].lower()
    splits = {tuple(tok.sample(text, 0.1)) for _ in range(20)}
    assert len(splits) > 1
    assert {tok.decode(s) for s in splits} == {tok.decode(tok.encode(text))}


def test_the_demo_says_how_much_of_a_text_it_reads(tmp_path):
    """The app cuts a text at MAX_CHARS characters, and the model reads max_length tokens:
    the page says both before anything is typed (#32 item 3)."""
    pytest.importorskip("gradio")
    from app_fixtures import tiny_sentiment

    from apps import sentiment_demo as app

    pred = tiny_sentiment(tmp_path)
    demo = app.build_demo(pred, "a tiny model")
    infos = [getattr(b, "info", None) or "" for b in demo.blocks.values()]
    said = [i for i in infos if f"{app.MAX_CHARS:,} characters" in i]
    assert said and f"first {pred.max_length} tokens" in said[0]
