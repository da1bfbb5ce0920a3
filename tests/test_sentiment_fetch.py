"""`seqlab data fetch sst2|imdb` against a local HTTP server serving small archives built here:
the registered entries download, check their MD5, unpack, and load with the sentiment loaders."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile

import pytest

from seqlab.cli import main
from seqlab.data import fetch as F
from seqlab.data.labelled import load_labelled


@pytest.fixture
def www(tmp_path):
    """A quiet http.server on 127.0.0.1 serving tmp_path/www; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def local_entry(www, monkeypatch):
    """Point a registered dataset at an archive on the local server: a new Dataset whose one
    Remote has the local URL and the archive's MD5, put in the registry for this test only."""
    root, base = www

    def serve(name: str, archive: bytes, md5: str | None = None) -> F.Dataset:
        ds = F.REGISTRY[name]
        remote = ds.files[0]
        (root / remote.filename).write_bytes(archive)
        local = dataclasses.replace(
            remote, url=f"{base}/{remote.filename}", md5=md5 or hashlib.md5(archive).hexdigest()
        )
        new = dataclasses.replace(ds, files=(local,))
        monkeypatch.setitem(F.REGISTRY, name, new)
        return new

    return serve


def _sst2_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("SST-2/train.tsv", "sentence\tlabel\na gem \t1\na mess \t0\n")
        zf.writestr("SST-2/dev.tsv", "sentence\tlabel\nfine \t1\n")
    return buf.getvalue()


def _imdb_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in [
            ("aclImdb/train/pos/0_9.txt", b"Loved it."),
            ("aclImdb/train/neg/1_2.txt", b"Hated it."),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
    return buf.getvalue()


def test_registered_with_published_md5s():
    assert F.REGISTRY["sst2"].files[0].md5 == "9f81648d4199384278b86e315dac217c"
    assert F.REGISTRY["imdb"].files[0].md5 == "7c2ac02c03563afcf9b574c7e56c153a"


def test_fetch_sst2_and_imdb(tmp_path, local_entry, capsys):
    local_entry("sst2", _sst2_zip())
    local_entry("imdb", _imdb_tar())
    assert main(["data", "fetch", "sst2", "--dir", str(tmp_path / "cache")]) == 0
    assert main(["data", "fetch", "imdb", "--dir", str(tmp_path / "cache")]) == 0
    sst2 = load_labelled(tmp_path / "cache" / "sst2" / "SST-2" / "train.tsv")
    assert sst2.labels == ["positive", "negative"]
    imdb = load_labelled(tmp_path / "cache" / "imdb" / "aclImdb" / "train")
    assert sorted(imdb.texts) == ["Hated it.", "Loved it."]


def test_fetch_refuses_a_wrong_checksum(tmp_path, local_entry, capsys):
    local_entry("sst2", _sst2_zip(), md5="0" * 32)
    assert main(["data", "fetch", "sst2", "--dir", str(tmp_path / "cache")]) == 1
    assert "md5 mismatch" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "sst2" / "SST-2.zip").exists()
