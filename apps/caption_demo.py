"""Image captioning demo (placeholder until the captioner lands).

uv run python apps/caption_demo.py [--host 127.0.0.1] [--port 7860]
"""

from __future__ import annotations

import argparse

import gradio as gr


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="seqlab: image captioning") as demo:
        gr.Markdown(
            "# seqlab image captioner\n\nThe CNN-encoder / LSTM-decoder captioner is being "
            "built; this page is a placeholder. Meanwhile try `seqlab charlm train`."
        )
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1: local)")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    build_demo().launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
