"""The translation demo through gradio_client, the Translator predictor, and `data fetch multi30k`
against a local HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading

import pytest
import torch
from app_fixtures import tiny_translator

from seqlab.data import fetch
from seqlab.errors import UserError


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: one thread is faster, and the machine is shared
    yield tiny_translator(tmp_path_factory.mktemp("demo"))
    torch.set_num_threads(before)


def test_translator_outputs_and_bad_input(translator):
    out = translator.translate("the 1st of may 1990", beam_size=3, n_best=2)
    assert len(out["n_best"]) == 2 and out["n_best"][0][1] >= out["n_best"][1][1]
    if out["attention"] is not None:
        assert len(out["attention"]) == len(out["target_tokens"])
        assert len(out["attention"][0]) == len(out["source_tokens"])
    unknown = translator.translate("日本 may", 2)["unknown"]
    assert unknown and "<unk>" not in unknown and all(u in "日本" for u in unknown)
    with pytest.raises(UserError, match="empty"):
        translator.translate("   ")
    with pytest.raises(UserError, match="limit"):
        translator.translate("may " * 400)
    with pytest.raises(UserError, match="n-best"):
        translator.translate("may 1", beam_size=2, n_best=3)


def test_app_through_gradio_client(translator):
    from gradio_client import Client

    from apps.translate_demo import DATE_EXAMPLES, build_demo

    demo = build_demo(translator, "a tiny test model", DATE_EXAMPLES)
    demo.queue().launch(prevent_thread_lock=True, server_port=_free_port(), quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        text, table, plot, status = client.predict(
            "the 1st of may 1990", 3, 0.6, 2, api_name="/translate"
        )
        assert isinstance(text, str) and "beam search (beam 3)" in status
        assert len(table["data"]) == 2
        _, _, _, status = client.predict("", 3, 0.6, 2, api_name="/translate")
        assert "Type a sentence" in status
        _, _, _, status = client.predict("may " * 400, 3, 0.6, 2, api_name="/translate")
        assert "Cannot translate" in status and "limit" in status
        _, _, _, status = client.predict("☃☃ 日本", 1, 0.0, 5, api_name="/translate")
        assert "Unknown to the model" in status and "at most the beam size" in status
    finally:
        demo.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(folder):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_fetch_multi30k_layout_from_local_server(tmp_path, monkeypatch):
    real = fetch.REGISTRY["multi30k"]
    assert len(real.files) == 3 and all(r.sha256 and r.extract for r in real.files)
    served = tmp_path / "served"
    served.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in (("train.de", "ein Hund\n"), ("train.en", "a dog\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tf.addfile(info, io.BytesIO(text.encode()))
    (served / "training.tar.gz").write_bytes(buf.getvalue())
    server = _serve(served)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        good = fetch.Remote(
            base + "training.tar.gz",
            "training.tar.gz",
            extract=True,
            sha256=hashlib.sha256(buf.getvalue()).hexdigest(),
        )
        monkeypatch.setitem(
            fetch.REGISTRY, "multi30k", fetch.Dataset("multi30k", real.description, (good,))
        )
        folder = fetch.fetch("multi30k", tmp_path / "cache")
        assert (folder / "train.de").read_text() == "ein Hund\n"
        bad = fetch.Remote(base + "training.tar.gz", "training.tar.gz", sha256="0" * 64)
        monkeypatch.setitem(
            fetch.REGISTRY, "multi30k", fetch.Dataset("multi30k", real.description, (bad,))
        )
        with pytest.raises(UserError, match="sha256 mismatch"):
            fetch.fetch("multi30k", tmp_path / "other")
    finally:
        server.shutdown()
