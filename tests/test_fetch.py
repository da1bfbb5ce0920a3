"""Dataset downloads against a real HTTP server on 127.0.0.1 serving archives the tests build."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.data import fetch as F
from seqlab.errors import UserError


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from the test's folder; supports Range; ``/cut/<name>`` stops half way."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        cut = self.path.startswith("/cut/")
        path = Path(self.server.root) / self.path.removeprefix("/cut/").lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng and not cut:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        self.wfile.write(body[: len(body) // 2] if cut else body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root = root
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _dataset(name, url, data, filename, extract=False, sha=None):
    return F.Dataset(
        name,
        "test data",
        (F.Remote(url, filename, sha256=sha or hashlib.sha256(data).hexdigest(), extract=extract),),
    )


@pytest.fixture
def registry(monkeypatch):
    """A registry holding only what a test registers."""
    reg: dict = {}
    monkeypatch.setattr(F, "REGISTRY", reg)
    return reg


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_fetch_verifies_and_extracts(server, registry, tmp_path, capsys):
    root, url = server
    data = _zip({"corpus/train.txt": b"hello\n", "corpus/dev.txt": b"world\n"})
    (root / "c.zip").write_bytes(data)
    registry["toy"] = _dataset("toy", f"{url}/c.zip", data, "c.zip", extract=True)
    rc = main(["data", "fetch", "toy", "--dir", str(tmp_path / "cache")])
    assert rc == 0 and "ready" in capsys.readouterr().out
    assert (tmp_path / "cache/toy/corpus/train.txt").read_bytes() == b"hello\n"
    assert main(["data", "fetch", "toy", "--dir", str(tmp_path / "cache")]) == 0  # idempotent


def test_wrong_checksum_is_refused_and_removed(server, registry, tmp_path, capsys):
    root, url = server
    (root / "f.txt").write_bytes(b"tampered")
    registry["bad"] = _dataset("bad", f"{url}/f.txt", b"original", "f.txt")
    assert main(["data", "fetch", "bad", "--dir", str(tmp_path)]) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not (tmp_path / "bad/f.txt").exists()


def test_cut_connection_then_resume(server, registry, tmp_path, capsys):
    root, url = server
    data = bytes(range(256)) * 400
    (root / "big.bin").write_bytes(data)
    registry["cut"] = _dataset("cut", f"{url}/cut/big.bin", data, "big.bin")
    assert main(["data", "fetch", "cut", "--dir", str(tmp_path)]) == 1
    assert "cut off" in capsys.readouterr().err
    part = tmp_path / "cut/big.bin.part"
    assert 0 < part.stat().st_size < len(data)
    registry["cut"] = _dataset("cut", f"{url}/big.bin", data, "big.bin")  # the link recovers
    assert main(["data", "fetch", "cut", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "cut/big.bin").read_bytes() == data


def test_offline_gives_a_clear_message(registry, tmp_path, capsys):
    registry["off"] = _dataset("off", "http://127.0.0.1:9/nothing", b"x", "x")
    assert main(["data", "fetch", "off", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "offline" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_zip_slip_is_refused(tmp_path, member):
    archive = tmp_path / "slip.zip"
    archive.write_bytes(_zip({member: b"pwned"}))
    with pytest.raises(UserError, match="unsafe"):
        F.extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_tar_links_are_refused(tmp_path):
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("passwd")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(UserError, match="link"):
        F.extract(archive, tmp_path / "out")


def test_zip_bomb_is_refused(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(_zip({"zeros.bin": b"\0" * (4 << 20)}))  # 4 MiB that deflates to KBs
    assert archive.stat().st_size < 64 << 10
    with pytest.raises(UserError, match="limit"):
        F.extract(archive, tmp_path / "out", max_bytes=1 << 20)


def test_registry_lists_tinyshakespeare(capsys):
    assert main(["data", "list"]) == 0
    assert "tinyshakespeare" in capsys.readouterr().out


def test_unknown_dataset(capsys):
    assert main(["data", "fetch", "nope"]) == 1
    assert "unknown dataset" in capsys.readouterr().err
