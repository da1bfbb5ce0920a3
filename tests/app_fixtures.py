"""Tiny models for the app tests (gradio_client, load and browser tests), trained in seconds so
that no test trains a demo's full-size model, and a free local port to launch a demo on.

    from app_fixtures import free_port, tiny_captioner, tiny_sentiment, tiny_translator

and ``frame_images``, which reads the caption demo's attention frames back from its HTML.
"""

from __future__ import annotations

import base64
import io
import re
import socket
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_client(demo):
    """A gradio_client of ``demo``, launched as the apps' main() launches it; closed afterwards."""
    from gradio_client import Client

    from seqlab import serving

    serving.launch(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def frame_images(frames_html: str) -> list:
    """The attention frames of a caption demo answer: its inline JPEGs, in word order."""
    from PIL import Image

    found = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', frames_html)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def tiny_captioner(folder: Path):
    """An attention captioner (scratch encoder, sizes 8) trained 2 steps on 16 synthetic scenes."""
    from seqlab.caption.config import CaptionTrainConfig
    from seqlab.caption.predict import CaptionPredictor
    from seqlab.caption.train import train
    from seqlab.models.captioner import CaptionerConfig
    from seqlab.models.encoders import EncoderConfig
    from seqlab.training import OptimConfig

    cfg = CaptionTrainConfig(
        dataset="scenes",
        scenes=16,
        out=str(folder),
        batch_size=4,
        max_steps=2,
        val_images=4,
        min_count=1,
    )
    mcfg = CaptionerConfig(
        attention=True, embedding_size=8, hidden_size=8, projection_size=8, attention_size=8
    )
    train(
        cfg,
        mcfg,
        EncoderConfig(name="scratch", image_size=32, grid_size=4, channels=16),
        OptimConfig(warmup_steps=1),
    )
    return CaptionPredictor.from_checkpoint(folder)


def tiny_sentiment_checkpoint(folder: Path) -> Path:
    """The sentiment demo's own offline model, trained for 3 s on 400 generated sentences."""
    from seqlab.sentiment.train import demo_model

    return demo_model(folder, max_minutes=0.05, n_train=400)


def tiny_sentiment(folder: Path):
    from seqlab.sentiment.predict import SentimentPredictor

    return SentimentPredictor.from_checkpoint(tiny_sentiment_checkpoint(folder), "cpu")


def tiny_translator(folder: Path):
    """A GRU + attention translator (hidden 16) trained one epoch on 150 generated dates."""
    from seqlab.models.seq2seq import Seq2SeqConfig
    from seqlab.toy.dates import make_date_pairs
    from seqlab.training import OptimConfig
    from seqlab.translate.config import TranslateTrainConfig
    from seqlab.translate.predict import Translator
    from seqlab.translate.train import train

    (folder / "dates.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in make_date_pairs(150)))
    cfg = TranslateTrainConfig(
        pairs=str(folder / "dates.tsv"),
        dev_size=10,
        out=str(folder),
        epochs=1,
        vocab_size=60,
        tgt_vocab_size=16,
        joint_vocab=False,
        device="cpu",
    )
    train(cfg, Seq2SeqConfig(embedding_size=8, hidden_size=16), OptimConfig(schedule="none"))
    return Translator.from_checkpoint(folder / "ckpt_best.pt", "cpu")
