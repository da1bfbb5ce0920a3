"""How the Gradio demos in apps/ listen and look: the bind address, the upload limit, the queue,
and the one theme they share.

Every app's main() calls ``add_server_args(parser)`` and ``launch(demo, args.host, args.port)``,
and the tests launch demos the same way, so what is tested is what runs:

    demo = build_demo(...)
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)

Text and parameter limits belong to each app (they depend on its model); see the MAX_* constants
in apps/*.py and seqlab.translate.predict.MAX_SOURCE_CHARS.
"""

from __future__ import annotations

import argparse
import logging

HOST = "127.0.0.1"  # local only; --host 0.0.0.0 listens on every interface, on purpose only
PORT = 7860
# Per uploaded file. Gradio refuses a larger upload before any handler runs: the browser shows an
# error, an API client gets HTTP 413 "File size exceeded maximum allowed size of N bytes.".
# 20 MB holds a phone photo (the captioner) and a long run's metrics.jsonl (the gradient lab).
MAX_UPLOAD_MB = 20
# One request at a time per event: the models run on the CPU, where one request already uses the
# cores, and pyplot and the global torch RNG are not safe to share between threads. The others wait
# in the queue (their place is shown); past MAX_QUEUE waiting, new ones get "Queue is full".
CONCURRENCY = 1
MAX_QUEUE = 64


def add_server_args(parser: argparse.ArgumentParser) -> None:
    """--host and --port, with the local-only default."""
    parser.add_argument(
        "--host", default=HOST, help=f"address to bind ({HOST}: this machine only; 0.0.0.0: all)"
    )
    parser.add_argument("--port", type=int, default=PORT)


def theme():
    """The one theme of every seqlab demo (Gradio takes it at launch, so ``launch`` sets it)."""
    import gradio as gr

    return gr.themes.Soft(primary_hue="indigo", secondary_hue="amber")


def launch(demo, host: str = HOST, port: int | None = PORT, **kwargs):
    """Queue and launch a gr.Blocks with the limits above and the seqlab theme; ``kwargs`` go to
    ``demo.launch`` (an app's own ``css`` among them)."""
    # gradio checks its own server with httpx, which logs each request at INFO ("HTTP Request:
    # GET .../startup-events 200 OK"): noise on an app's terminal; its warnings still show
    logging.getLogger("httpx").setLevel(logging.WARNING)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=MAX_QUEUE)
    return demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=MAX_UPLOAD_MB * 1024 * 1024,
        theme=theme(),
        **kwargs,
    )


def add_int8_arg(parser: argparse.ArgumentParser) -> None:
    """--int8: serve an int8 copy of the model (off by default: bench/quantize.py measures it)."""
    parser.add_argument(
        "--int8",
        action="store_true",
        help="int8 dynamic quantization of the model's linear and recurrent layers, for CPU "
        "inference (seqlab.quantize; speed and quality: bench/quantize.py)",
    )


def use_int8(predictor, on: bool):
    """The predictor, its model swapped for an int8 copy when ``on`` (CPU only)."""
    if on:
        from seqlab import quantize
        from seqlab.errors import UserError

        if predictor.device.type != "cpu":
            raise UserError(f"--int8 is for CPU inference; this model runs on {predictor.device}")
        predictor.model = quantize.int8(predictor.model)
    return predictor
