"""Latency of the Gradio apps under concurrent requests: p50/p95/max seconds and requests/s.

    uv run python bench/app_latency.py                                 # all four, shipped models
    uv run python bench/app_latency.py --app translate --requests 32 --concurrency 1 4 16
    uv run python bench/app_latency.py --app translate --checkpoint runs/de-en

Each app is launched in-process exactly as its main() launches it (seqlab.serving: the queue runs
one request at a time per event, the rest wait), with --checkpoint or, without it, the app's
shipped model (seqlab pretrained list). Then
--requests requests go through gradio_client from each --concurrency's threads at once, cycling
through the app's examples with the page's default settings. A latency counts from submission to
answer, so it includes the wait in the queue. The translate and caption apps decode queued requests
together (Gradio batching, up to 16): throughput with C clients over the one-client rate is what
batching buys (target: >= 3x at 16). One warm-up request is not counted. The client threads share
the process with the server.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from seqlab import hardware
from seqlab.registry import DEFAULTS

APPS = ("caption", "sentiment", "translate", "gradients")


# Each builder makes the page as the app's main() makes it, from the app's own loader and
# build_demo, and sends the page's examples with the page's starting settings (the app's own
# constants), so that a change in an app shows up here, or in tests/test_bench_smoke.py.


def sentiment_app(checkpoint: str | None):
    from apps.sentiment_demo import CACHE, EXAMPLES, METHODS, build_demo, load_predictor

    predictor, about = load_predictor(checkpoint or DEFAULTS["sentiment"], 120.0, CACHE)
    requests = [(row[0], next(iter(METHODS))) for row in EXAMPLES]  # the page's first method
    return build_demo(predictor, about), "/classify", requests


def translate_app(checkpoint: str | None):
    from apps.translate_demo import BEAM, CACHE, N_BEST, build_demo, load_translator

    translator, about, examples = load_translator(checkpoint or DEFAULTS["translate"], 2.0, CACHE)
    requests = [(row[0], BEAM, translator.length_penalty, N_BEST) for row in examples]
    return build_demo(translator, about, examples), "/translate", requests


def caption_app(checkpoint: str | None):
    from gradio_client import handle_file

    from apps import caption_demo as app
    from seqlab.caption.predict import scene_examples

    # load_predictor gives the predictor and build_demo's keyword arguments, as main() uses them
    predictor, page = app.load_predictor(
        checkpoint or DEFAULTS["caption"], "data/cache/caption-demo"
    )
    images = page.get("examples") or scene_examples(tempfile.mkdtemp(prefix="app_latency_"), n=8)
    requests = [(handle_file(path), app.BEAM, app.N_BEST) for path in images]
    return app.build_demo(predictor, **page), "/caption", requests


def gradients_app(checkpoint: str | None):
    from apps.gradients_demo import build_demo

    if checkpoint:
        raise SystemExit("app_latency: error: the gradient lab takes no --checkpoint")
    defaults = (["rnn", "lstm", "gru"], 100, 0.9, "default", "0,1,3", 64, 3, "0,3")  # the page's
    return build_demo(), "/temporal", [defaults]


BUILDERS = {
    "caption": caption_app,
    "sentiment": sentiment_app,
    "translate": translate_app,
    "gradients": gradients_app,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fire(client, api: str, requests: list[tuple], n: int, concurrency: int) -> dict:
    """Send n requests (cycling through ``requests``) from ``concurrency`` threads; timings."""

    def one(k: int) -> tuple[float, bool]:
        start = time.perf_counter()
        try:
            client.predict(*requests[k % len(requests)], api_name=api)
            ok = True
        except Exception:  # noqa: BLE001 - counted and reported, the bench goes on
            ok = False
        return time.perf_counter() - start, ok

    client.predict(*requests[0], api_name=api)  # warm-up, not counted
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - start
    latency = np.array([t for t, _ in results])
    return {
        "p50": float(np.percentile(latency, 50)),
        "p95": float(np.percentile(latency, 95)),
        "max": float(latency.max()),
        "rps": n / wall,
        "errors": sum(not ok for _, ok in results),
    }


def bench_app(name: str, checkpoint: str | None, n: int, levels: list[int]) -> list[dict]:
    from gradio_client import Client

    from seqlab import serving

    demo, api, requests = BUILDERS[name](checkpoint)
    serving.launch(demo, "127.0.0.1", _free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        return [fire(client, api, requests, n, c) for c in levels]
    finally:
        demo.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", choices=[*APPS, "all"], default="all")
    parser.add_argument("--checkpoint", help="the app's model (one app only); default: its demo")
    parser.add_argument("--requests", type=int, default=64, help="requests per app")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 4, 16], help="clients at once, in turn"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args(argv)
    print(hardware.describe_cpu(), flush=True)
    if args.checkpoint and args.app == "all":
        parser.error("--checkpoint needs one --app")
    if args.requests < 1 or min(args.concurrency) < 1:
        parser.error("--requests and --concurrency must be >= 1")
    import torch

    from seqlab import serving
    from seqlab.errors import UserError

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{args.requests} requests per app and client count; server: "
        f"{serving.CONCURRENCY} at a time per event, queue of {serving.MAX_QUEUE}; "
        f"torch threads {torch.get_num_threads()}"
    )
    head = f"{'app':<10} {'clients':>7} {'p50 s':>8} {'p95 s':>8} {'max s':>8} {'req/s':>8}"
    print(head + f" {'vs 1':>6} {'errors':>7}")
    for name in APPS if args.app == "all" else [args.app]:
        try:
            rows = bench_app(name, args.checkpoint, args.requests, args.concurrency)
        except UserError as e:
            parser.exit(1, f"app_latency: error: {e}\n")
        for c, r in zip(args.concurrency, rows, strict=True):
            print(
                f"{name:<10} {c:>7} {r['p50']:>8.3f} {r['p95']:>8.3f} {r['max']:>8.3f} "
                f"{r['rps']:>8.2f} {r['rps'] / rows[0]['rps']:>5.2f}x {r['errors']:>7}",
                flush=True,
            )


if __name__ == "__main__":
    main()
