"""Cold start of the flagship demo as a user meets it: launch `apps/caption_demo.py`, wait for its
page, caption a photo through the API; twice, to show the first launch and a later one.

    uv run python bench/cold_start.py [--launches 2] [--drop-bytecode]
    uv run python bench/cold_start.py --fresh-env /tmp/env [--sync-first]

What a user's machine does: the first `uv run` installs the packages, and the first launch
compiles the bytecode of what it imports into `__pycache__`; later launches load torch and gradio
from it. These machines export PYTHONDONTWRITEBYTECODE=1 (every import compiles again); the demo
runs here with that variable removed. Without `--fresh-env` the demo runs in this environment:
`--drop-bytecode` deletes every `__pycache__` of the project and its venv first, so launch 1
compiles what it imports and writes the cache that launch 2 reads.

`--fresh-env DIR` measures what a user's first command meets: DIR is deleted and every launch is
`uv run --frozen python apps/caption_demo.py` with UV_PROJECT_ENVIRONMENT=DIR, so launch 1's
time includes uv creating DIR (installing from its cache, and compiling all bytecode first when
UV_COMPILE_BYTECODE=1, as the former `[tool.uv] compile-bytecode = true` did) and later launches
include uv run's own check; with `--sync-first`, `uv sync --frozen
--compile-bytecode` builds DIR first (timed apart). It ends with the time of a bare
`uv run python -c pass` in DIR and what uv printed. Target: page served and a photo captioned
within 20 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import signal
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


def user_env(fresh_env: Path | None) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONDONTWRITEBYTECODE, and with ``fresh_env`` the
    project environment uv run builds and uses there (instead of this one's)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV")
    }
    if fresh_env is not None:
        env["UV_PROJECT_ENVIRONMENT"] = str(fresh_env)
    return env


def python_cmd(fresh_env: Path | None) -> list[str]:
    return ["uv", "run", "--frozen", "python"] if fresh_env is not None else [sys.executable]


def uv_sync(fresh_env: Path) -> float:
    """`uv sync --frozen --compile-bytecode` into ``fresh_env``; returns its seconds."""
    t0 = time.perf_counter()
    cmd = ["uv", "sync", "--frozen", "--compile-bytecode"]
    subprocess.run(cmd, cwd=ROOT, env=user_env(fresh_env), check=True, capture_output=True)
    return time.perf_counter() - t0


def uv_run_overhead(fresh_env: Path, runs: int = 5) -> tuple[float, str]:
    """The median seconds of `uv run python -c pass` and what uv printed on stderr."""
    times, said = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([*python_cmd(fresh_env), "-c", "pass"], cwd=ROOT,
                             env=user_env(fresh_env), capture_output=True, text=True)  # fmt: skip
        times.append(time.perf_counter() - t0)
        said = " ".join(out.stderr.split()) or "nothing"
    return sorted(times)[len(times) // 2], said


def launch_once(photo: Path, timeout: float, checkpoint: str | None, fresh_env=None) -> dict:
    from gradio_client import Client, handle_file

    port = free_port()
    cmd = [*python_cmd(fresh_env), str(ROOT / "apps" / "caption_demo.py"), "--port", str(port)]
    cmd += ["--checkpoint", checkpoint] if checkpoint else []
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=user_env(fresh_env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_page(url, proc, timeout)
        page_s = time.perf_counter() - t0
        client = Client(url, verbose=False)
        # the caption hero is the first output, whatever else the page returns beside it
        hero = client.predict(handle_file(str(photo)), 3, 1, api_name="/caption")[0]
        caption_s = time.perf_counter() - t0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # uv run and the demo it started
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
    p.add_argument(
        "--fresh-env",
        type=Path,
        help="launch through `uv run` in this project environment, deleted first (a first run)",
    )
    p.add_argument(
        "--sync-first",
        action="store_true",
        help="with --fresh-env: `uv sync --frozen --compile-bytecode` before launch 1",
    )
    args = p.parse_args(argv)
    print(hardware.describe_cpu(), flush=True)
    photos = {ph.name: ph.path for ph in licensed_photos()}
    photo = photos.get("grace_hopper") or next(iter(photos.values()))
    if args.drop_bytecode:
        print(f"deleted {drop_bytecode()} __pycache__ folders: launch 1 compiles the bytecode")
    print("PYTHONDONTWRITEBYTECODE is unset for the demo, as on a user's machine")
    if args.fresh_env is not None:
        shutil.rmtree(args.fresh_env, ignore_errors=True)
        print(f"a fresh environment at {args.fresh_env}: launches are `uv run --frozen python`")
        if args.sync_first:
            print(f"uv sync --frozen --compile-bytecode: {uv_sync(args.fresh_env):.1f} s")
    for k in range(args.launches):
        r = launch_once(photo, args.timeout, args.checkpoint, args.fresh_env)
        caption = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(r["caption"])).split())
        cache = "no bytecode cache" if k == 0 and args.drop_bytecode else "bytecode cached"
        if args.fresh_env is not None:
            cache = "first uv run" if k == 0 and not args.sync_first else "uv run"
        print(
            f"launch {k + 1} ({cache}): page served {r['page_s']:.1f} s, "
            f"photo captioned {r['captioned_s']:.1f} s after launch: {caption[:120]!r}",
            flush=True,
        )
    if args.fresh_env is not None:
        seconds, said = uv_run_overhead(args.fresh_env)
        print(f"uv run python -c pass: {seconds:.2f} s (median of 5); uv printed: {said}")


if __name__ == "__main__":
    main()
