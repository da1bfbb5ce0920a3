"""The four apps under load and over their limits: each is launched in-process the way its main()
launches it (seqlab.serving: 127.0.0.1, upload limit, queue) on a tiny model, and gets 16
concurrent gradio_client requests, good and bad mixed. Every answer must be the one its own
request asked for (checked against the predictor called directly) or the right message."""

from __future__ import annotations

import argparse
import html
import json
import logging

import httpx
import numpy as np
import pytest
from app_fixtures import (
    frame_images,
    served_client,
    tiny_captioner,
    tiny_sentiment,
    tiny_translator,
)
from gradio_client import handle_file

from seqlab import serving

N = 16  # concurrent requests per app (issue 8)


def _fire(client, calls: list[tuple[tuple, str]]) -> list:
    """Submit every (args, api_name) at once; each job's result, or the exception it raised."""
    assert len(calls) == N
    jobs = [client.submit(*args, api_name=api) for args, api in calls]
    out = []
    for job in jobs:
        try:
            out.append(job.result(timeout=60))
        except Exception as e:  # noqa: BLE001 - an error answer is an answer to check
            out.append(e)
    return out


def _raw_call(client, api: str, data: list) -> str:
    """POST a request as any HTTP client could, and the event stream it answers with."""
    base = client.src.rstrip("/")
    event = httpx.post(f"{base}/gradio_api/call/{api}", json={"data": data}).json()["event_id"]
    return httpx.get(f"{base}/gradio_api/call/{api}/{event}", timeout=60).text


def _mean(images) -> list[float]:
    """The mean R, G, B of the first image (empty list for none): tells the scenes apart."""
    return [float(v) for im in images[:1] for v in np.asarray(im.convert("RGB")).mean((0, 1))]


@pytest.fixture(scope="module")
def big_upload(tmp_path_factory):
    """A file one byte over the upload limit."""
    path = tmp_path_factory.mktemp("big") / "big.png"
    path.write_bytes(b"\0" * (serving.MAX_UPLOAD_MB * 1024 * 1024 + 1))
    return path


def test_launch_is_local_with_limits(big_upload):
    parser = argparse.ArgumentParser()
    serving.add_server_args(parser)
    assert parser.parse_args([]).host == "127.0.0.1"
    assert parser.parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0"
    import gradio as gr

    with gr.Blocks() as demo:
        gr.Markdown("hello")
    with served_client(demo) as client:
        assert demo.server_name == "127.0.0.1"
        assert demo.max_file_size == serving.MAX_UPLOAD_MB * 1024 * 1024
        assert demo._queue.max_size == serving.MAX_QUEUE >= N
        with big_upload.open("rb") as f:  # a client that ignores the limit in the config: HTTP 413
            reply = httpx.post(client.upload_url, files={"files": f})
        assert reply.status_code == 413 and "maximum allowed size" in reply.text


def test_launch_logs_no_http_requests(caplog):
    """Issue 32, item 8: with INFO logging on (the caption app's main turns it on), start-up
    printed httpx's "HTTP Request: GET .../startup-events 200 OK" lines."""
    import gradio as gr

    caplog.set_level(logging.INFO)
    with gr.Blocks() as demo:
        gr.Markdown("hello")
    with served_client(demo) as client:
        assert client.view_api(return_format="dict", print_info=False)
    said = [r.getMessage() for r in caplog.records if r.name.startswith("httpx")]
    assert not said, said[:3]


def test_sentiment_under_load(tmp_path):
    from apps.sentiment_demo import MAX_CHARS, build_demo

    predictor = tiny_sentiment(tmp_path)
    words = ["good", "awful", "wonderful", "flat", "boring", "not good"]
    goods = [f"the film was {w} and the plot {v}" for w in words for v in ("moved", "dragged")]
    calls = [
        ((t, "integrated gradients" if k % 4 == 0 else "occlusion"), "/classify")
        for k, t in enumerate(goods)
    ]
    calls += [(("", "occlusion"), "/classify"), (("  \n", "occlusion"), "/classify")]
    calls += [(("good " * (MAX_CHARS // 4), "occlusion"), "/classify")]  # over the limit: cut
    calls += [(("x", "grad-cam"), "/classify")]  # not a choice: gradio refuses it
    expected = [_sentiment_expected(predictor, *args) for args, _ in calls[:12]]
    with served_client(build_demo(predictor, "a tiny test model")) as client:
        answers = _fire(client, calls)
    for (label, spans, status), (want, want_spans) in zip(answers[:12], expected, strict=True):
        assert label["label"] == want["label"] and "Prediction" in status
        got = {c["label"]: c["confidence"] for c in label["confidences"]}
        assert got == pytest.approx(want["probs"], abs=1e-5)
        assert [(s["token"], s["class_or_confidence"]) for s in spans] == want_spans
    for label, _, status in answers[12:14]:
        assert not label and "Type a sentence" in status
    label, spans, status = answers[14]
    assert label["label"] in predictor.labels and f"cut to its first {MAX_CHARS:,}" in status
    assert isinstance(answers[15], Exception) and "grad-cam" in str(answers[15])


def _sentiment_expected(predictor, text, method):
    spans, _ = predictor.spans(
        text, "occlusion" if method == "occlusion" else "integrated_gradients"
    )
    return predictor.predict([text])[0], [(t, s) for t, s in spans]


def test_translate_under_load(tmp_path):
    from apps.translate_demo import build_demo
    from seqlab.toy.dates import make_date_pairs
    from seqlab.translate.predict import MAX_SOURCE_CHARS

    translator = tiny_translator(tmp_path)
    sources = [s for s, _ in make_date_pairs(10, seed=99)]
    # beam 1..4 and n-best 1..3: the n-best table's length tells the answers apart too
    good = [(s, 1 + k % 4, 0.6, 1 + k % 3) for k, s in enumerate(sources)]
    bad = [
        ("", 3, 0.6, 2),
        (" \n\t", 3, 0.6, 2),
        ("may " * (MAX_SOURCE_CHARS // 4 + 1), 3, 0.6, 2),  # over the limit: refused
        ("the 1st of may 1990", 2, 0.6, 5),  # n-best over the beam: shortened, with a note
        ("the 1st of may 1990", 40, 0.6, 2),  # beam over the slider's range: gradio refuses
        ("the 1st of may 1990", 2, 9.0, 2),  # length penalty over the slider's range
    ]
    expected = [translator.translate(s, b, a, min(n, b)) for s, b, a, n in good]
    with served_client(build_demo(translator, "a tiny test model")) as client:
        answers = _fire(client, [(args, "/translate") for args in good + bad])
    for (text, table, _, status), want, (_, b, _, n) in zip(
        answers[:10], expected, good, strict=True
    ):
        assert text == want["translation"] and "length penalty 0.6" in status
        assert [row[1] for row in table["data"]] == [t for t, _, _ in want["n_best"]]
        assert len(table["data"]) == min(n, b)
    assert "Type a sentence" in answers[10][3] and "Type a sentence" in answers[11][3]
    assert "Cannot translate" in answers[12][3] and f"limit is {MAX_SOURCE_CHARS}" in answers[12][3]
    assert "at most the beam size (2)" in answers[13][3] and len(answers[13][1]["data"]) == 2
    # out of the sliders' ranges: each such request gets its own answer, its batch goes on
    assert "beam size must be a whole number from 1 to 10, not 40" in answers[14][3]
    assert "length penalty must be from 0 to 2, not 9" in answers[15][3]


def test_caption_under_load(tmp_path, big_upload):
    from apps.caption_demo import MAX_BEAM, build_demo
    from seqlab.caption.predict import scene_examples

    predictor = tiny_captioner(tmp_path / "model")
    images = scene_examples(tmp_path / "scenes", n=12)
    good = [(path, 1 + k % 3, 1 + k % 3) for k, path in enumerate(images)]
    (tmp_path / "notes.txt").write_text("hello")
    bad = [
        (tmp_path / "notes.txt", 3, 2),  # not an image
        (big_upload, 3, 2),  # over the upload limit: refused before the app sees it
        (images[0], MAX_BEAM + 1, 2),  # over the beam limit (preprocess=False: the app checks)
        (None, 3, 2),  # nothing uploaded
    ]
    expected = [predictor.caption(predictor.view(p), beam_size=b, n_best=n) for p, b, n in good]
    # the tiny model may give every scene the same words; the first overlay shows the scene itself
    views = [predictor.view(p) for p, _, _ in good]
    overlays = [predictor.overlays(v, caps[0]) for v, caps in zip(views, expected, strict=True)]
    shades = [_mean([frame for frame, _ in frames]) for frames in overlays]
    calls = [((handle_file(str(p)) if p else None, b, n), "/caption") for p, b, n in good + bad]
    batch_sizes, caption_batch = [], predictor.caption_batch

    def counted(views, *args):
        batch_sizes.append(len(views))
        return caption_batch(views, *args)

    predictor.caption_batch = counted
    with served_client(build_demo(predictor)) as client:
        answers = _fire(client, calls)
        # preprocess=False, yet gradio still refuses a path on the server that was not uploaded
        # (gradio_client would upload a local path itself, so this request is sent raw)
        secret = {"path": str(images[1]), "meta": {"_type": "gradio.FileData"}}
        assert "event: error" in _raw_call(client, "caption", [secret, 3, 2])
    for (hero, table, frames), caps, (_, _, n) in zip(answers[:12], expected, good, strict=True):
        assert "warn" not in hero and html.escape(caps[0].text or "(no words)") in hero
        assert [row[1] for row in table["data"]] == [c.text or "(empty)" for c in caps]
        assert len(table["data"]) <= n and len(frame_images(frames)) == len(caps[0].words)
    for (_, _, frames), shade in zip(answers[:12], shades, strict=True):
        assert _mean(frame_images(frames)[:1]) == pytest.approx(shade, abs=2)
    assert "Cannot caption this file" in answers[12][0] and "not an image" in answers[12][0]
    assert "exceeds the maximum file size" in str(answers[13])  # the client checks first
    assert f"between 1 and {MAX_BEAM}" in answers[14][0] and answers[14][2] == ""
    assert "Add a picture first" in answers[15][0]
    assert max(batch_sizes) > 1 and sum(batch_sizes) == 12  # queued requests shared a search


def test_gradients_under_load(tmp_path, big_upload):
    from apps.gradients_demo import MAX_FORGET_BIASES, MAX_TRAIN_STEPS, build_demo, temporal_view

    cell_sets = [["rnn"], ["lstm"], ["gru"], ["rnn", "gru"]]
    # 4 distinct requests, each sent twice: every answer must be its own request's
    good = [(cell_sets[k % 4], 5 * (1 + k % 4), 0.9, "default", "0,1", 4, 1) for k in range(8)]
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "grad_norm": s}) + "\n" for s in range(9)))
    (tmp_path / "plain.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    many = ",".join(["1"] * (MAX_FORGET_BIASES + 1))
    calls = [(args, "/temporal") for args in good]
    calls += [
        ((["lstm"], 10, 0.9, "default", many, 4, 1), "/temporal"),  # too many curves
        ((["lstm"], 10, 0.9, "default", "one", 4, 1), "/temporal"),  # not a number
        ((["rnn"], 5000, 0.9, "default", "0", 4, 1), "/temporal"),  # over the slider's range
        ((handle_file(str(metrics)), 5.0), "/run"),
        ((handle_file(str(tmp_path / "plain.jsonl")), 5.0), "/run"),  # no grad_norm records
        ((handle_file(str(big_upload)), 5.0), "/run"),  # over the upload limit
        (("adding", ["rnn", "lstm", "gru"], [10, 200], 1000, 1.0, 8), "/train"),  # 12,000 steps
        (("adding", [], [10], 20, 1.0, 8), "/train"),  # no cell
    ]
    no_progress = lambda *a, **k: None  # noqa: E731
    expected = [temporal_view(*args, progress=no_progress)[1] for args in good[:4]]
    with served_client(build_demo()) as client:
        answers = _fire(client, calls)
    for (plot, table), want in zip(answers[:8], expected * 2, strict=True):
        assert plot is not None and table == want
    assert answers[11] is not None and not isinstance(answers[11], Exception)  # the good /run
    errors = [str(a) for a in answers[8:11] + answers[12:]]
    assert all(isinstance(a, Exception) for a in answers[8:11] + answers[12:])
    assert f"at most {MAX_FORGET_BIASES}" in errors[0] and "one" in errors[1]
    assert "greater than maximum value 300" in errors[2]  # gradio's check of the slider
    assert "grad_norm" in errors[3] and "maximum file size" in errors[4]
    assert "12,000 training steps" in errors[5] and f"limit is {MAX_TRAIN_STEPS:,}" in errors[5]
    assert "at least one cell" in errors[6]
