"""Cold start of the flagship demo as a user meets it: launch `apps/caption_demo.py`, wait for its
page, caption a photo through the API; twice, to show the first launch and a later one.

    uv run python bench/cold_start.py [--launches 2] [--drop-bytecode]

What a user's machine does: `uv sync` installs the packages and, as this project asks
(`[tool.uv] compile-bytecode = true`), compiles their bytecode once; every launch then loads torch
and gradio from it. These machines export PYTHONDONTWRITEBYTECODE=1 (every import compiles
again); the demo runs here with that variable removed. `--drop-bytecode` deletes every
`__pycache__` of the project and its venv first: the worst case, an install that compiled
nothing (plain `uv pip install` or pip with --no-compile), where launch 1 compiles and writes the
cache that launch 2 reads. Target: page served and a photo captioned within 20 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from seqlab import hardware
from seqlab.data.photos import licensed_photos

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drop_bytecode() -> int:
    """Delete every __pycache__ under the repo and its venv; returns how many."""
    dirs = [d for d in ROOT.rglob("__pycache__") if d.is_dir()]
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    return len(dirs)


def wait_for_page(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the demo exited with {proc.returncode} before serving its page")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no page at {url} after {timeout:.0f} s")


def launch_once(photo: Path, timeout: float, checkpoint: str | None) -> dict:
    from gradio_client import Client, handle_file

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cmd = [sys.executable, str(ROOT / "apps" / "caption_demo.py"), "--port", str(port)]
    cmd += ["--checkpoint", checkpoint] if checkpoint else []
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_page(url, proc, timeout)
        page_s = time.perf_counter() - t0
        client = Client(url, verbose=False)
        hero, _, _ = client.predict(handle_file(str(photo)), 3, 1, api_name="/caption")
        caption_s = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"page_s": page_s, "captioned_s": caption_s, "caption": hero}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--launches", type=int, default=2)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the page")
    p.add_argument("--checkpoint", help="the demo's --checkpoint (default: the shipped model)")
    p.add_argument(
        "--drop-bytecode", action="store_true", help="delete every __pycache__ before launch 1"
    )
    args = p.parse_args(argv)
    print(hardware.describe_cpu(), flush=True)
    photos = {ph.name: ph.path for ph in licensed_photos()}
    photo = photos.get("grace_hopper") or next(iter(photos.values()))
    if args.drop_bytecode:
        print(f"deleted {drop_bytecode()} __pycache__ folders: launch 1 compiles the bytecode")
    print("PYTHONDONTWRITEBYTECODE is unset for the demo, as on a user's machine")
    for k in range(args.launches):
        r = launch_once(photo, args.timeout, args.checkpoint)
        caption = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(r["caption"])).split())
        cache = "no bytecode cache" if k == 0 and args.drop_bytecode else "bytecode cached"
        print(
            f"launch {k + 1} ({cache}): page served {r['page_s']:.1f} s, "
            f"photo captioned {r['captioned_s']:.1f} s after launch: {caption[:120]!r}",
            flush=True,
        )


if __name__ == "__main__":
    main()
