"""The shipped models' data: one ``ModelEntry`` each, with everything its model card says, the
default model of each task, and the check that a weights file is the one the registry names.

A name becomes a verified path here (``verify``); ``seqlab.sources`` unpacks it into a checkpoint
dict, a task's predictor builds the model from that, and ``seqlab.pretrained.load`` ties the three
together. This file imports nothing above ``seqlab.errors`` (and no torch).

Like torchvision's weights enums, the entry is the single source of its meta: the card
(``seqlab pretrained show NAME``), the table (``seqlab pretrained list``) and the README rows are
generated from it. Figures are measured on the test split with the packed (shipped) file; the
fp32 figures beside them are the same evaluation of the training checkpoint, so the difference
is what the compact storage costs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.errors import UserError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# The model each task uses when no --checkpoint is given.
DEFAULTS = {
    "caption": "caption-flickr8k",
    "translate": "translate-multi30k-de-en",
    "sentiment": "sentiment-sst2",
    "charlm": "charlm-shakespeare",
}


@dataclass(frozen=True)
class ModelEntry:
    """One shipped model: its file and checksum, and everything its card says (data and licence,
    the commands that trained, packed and scored it, the test metrics of the shipped file and of
    the fp32 checkpoint, the machine it trained on, notes, and how its familiarity flag does)."""

    name: str
    task: str  # charlm | sentiment | translate | caption: which predictor loads it
    file: str  # under seqlab/weights/
    sha256: str
    size_bytes: int
    parameters: int
    storage: str  # fp16 | int8 (seqlab.packing)
    summary: str
    dataset: str
    licence: str
    train_command: str
    pack_command: str
    eval_command: str
    metrics: dict[str, float]  # the shipped file, test split
    metrics_fp32: dict[str, float]  # the training checkpoint, same evaluation ({}: not rescored)
    trained_on: str  # the CPU (or GPU) and the wall-clock time
    notes: tuple[str, ...] = field(default_factory=tuple)
    # how its in_domain flag does (bench/familiarity.py): the card's lines, the README's cell
    familiarity: tuple[str, ...] = field(default_factory=tuple)
    familiarity_summary: str = ""

    @property
    def path(self) -> Path:
        """The weights file: ``seqlab/weights/<file>``."""
        return WEIGHTS_DIR / self.file


_SHIPPED = [
    ModelEntry(
        name="caption-flickr8k",
        task="caption",
        file="caption-flickr8k.safetensors",
        sha256="145e37ca37ee7b1254b0c10d018c83c6529046a78ae5072d730b2ed56a3f52f4",
        size_bytes=15709030,
        parameters=5636335,
        storage="fp16",
        summary=(
            "Show, Attend and Tell: EfficientNet-Lite0 features (7x7x1280, frozen, ImageNet-pretrained) and a 512-unit LSTM decoder with soft attention; beam 3."
        ),
        dataset=(
            "Flickr8k (Hodosh, Young and Hockenmaier 2013), the official 6000/1000/1000 split; scored with nltk corpus BLEU against all five references of the 1000 test images"
        ),
        licence=("research use; the images are Flickr photos under the Flickr Terms of Use"),
        train_command=(
            "uv run python bench/caption_flickr8k.py --root ../shared/data/flickr8k --max-minutes 85 --threads 1 --only attention --lr 1e-3 --eval-reserve-min 3 --out runs/ship-caption"
        ),
        pack_command=(
            "uv run seqlab pretrained export runs/ship-caption/attention/ckpt_best.pt caption-flickr8k.safetensors --storage fp16"
        ),
        eval_command=(
            "uv run seqlab caption evaluate --checkpoint caption-flickr8k --root ../shared/data/flickr8k --split test --beam 3"
        ),
        metrics={"bleu1": 62.76, "bleu2": 44.75, "bleu3": 31.02, "bleu4": 21.32, "beam": 3},
        metrics_fp32={},
        trained_on=(
            "AMD EPYC, 2 cores (AVX2 only), 1 thread, fp32, sharing the cores with 2-3 other training runs; 13.2 min of feature extraction and 69 min of training (10 epochs, 4673 steps)"
        ),
        notes=(
            "The target was BLEU-4 >= 22 (beam 3): not met (21.32). A 31-minute warm-restart continuation (--resume --max-minutes 100) did not raise validation BLEU and was not kept.",
            "Decoding now rules out <unk> (its beam-3 caption had one for 39 of the 1000 test images): BLEU-1..4 62.69/44.61/30.92/21.26 -> 62.76/44.75/31.02/21.32 with this file. Under the old decoding the fp32 checkpoint scored exactly what this fp16 file did (fp16 storage cost +0 on every figure); that checkpoint is not kept, so it was not rescored.",
            "A rerun of the recipe in bf16 on an AMX Xeon (220 steps/min, a 61-minute cosine) peaked at val greedy BLEU-4 17.82 at epoch 15 and then overfit; this model scores 18.5 on the same val set, so it stays.",
            "A rerun with a weight average (--ema 0.999, fp32, 92 min on an idle core of an AMD EPYC Zen 4, 16 epochs) peaked at val greedy BLEU-4 18.27 (epoch 10), below this model's 18.5, so it was not shipped, although it scored 21.73 on test (beam 3).",
            "A rerun on 288-pixel images (--image-size 288: a 9x9 grid; 90 min, 12 epochs, fp32, AMD EPYC Zen 4 with the other core training) peaked at val greedy BLEU-4 18.63 (epoch 5), within the 0.3 margin over this model's 18.5 that was set before scoring it on test, so it was not shipped; test BLEU-4 20.36 (beam 3).",
            "With an int8 copy of the decoder (the evaluate command above with --int8; the encoder stays fp32): BLEU-1..4 63.14/45.23/31.49/21.73, beam 3, on the same test images (AMD EPYC Zen 4). A different rounding of the same model, not a better one: it was not chosen on val.",
        ),
        familiarity=(
            "score: the cosine similarity of a photo's mean EfficientNet-Lite0 features to the nearest of the 6,000 training photos' (deep nearest neighbours, Sun et al. 2022), after a projection onto their 512 principal directions; the bank of training vectors is stored in int8 (4.4 MB of this file). Calibrated to flag 5% of the 1,000 Flickr8k validation photos.",
            "flags 4.7% of the 1,000 Flickr8k test photos. Out of domain: the photos installed packages ship (31, with scikit-image's) 83.9% (AUROC 0.936 against the test photos), synthetic scenes of shapes (200) 100% (1.000), matplotlib charts (100) 100% (1.000). The trust issue's examples (a lion, a cheetah, the Eiffel tower, Grace Hopper, a cup of coffee, a deep-field galaxy) are all flagged.",
            "baseline, the Mahalanobis distance on the same features (Lee et al. 2018; 256 principal directions), calibrated the same way: 4.5% of test; 61.3% (0.883), 80.0% (0.967), 100% (0.996).",
            "still called familiar: scikit-image's astronaut portrait, the man with a camera, the horse silhouette and the motorcycles (people and vehicles, as in Flickr8k). The nearest-neighbour score with k = 1 was picked over k = 2-20, Mahalanobis and the encoder's ImageNet view after looking at these out-of-domain sets, so their figures flatter it a little; the test figure does not.",
            "reproduce: uv run python bench/fit_familiarity.py --flickr8k ../shared/data/flickr8k (writes this file, bit for bit, from the previous one: the weights are unchanged), then uv run --with scikit-image python bench/familiarity.py --flickr8k ../shared/data/flickr8k --tasks caption (the figures; AMD EPYC Zen 4, 1 thread).",
        ),
        familiarity_summary="test 4.7%; other photos 84-100%",
    ),
    ModelEntry(
        name="translate-multi30k-de-en",
        task="translate",
        file="translate-multi30k-de-en.safetensors",
        sha256="fbef0a4943709128f61f8db04579a2626b05fb42fd4bbeb62e9984150923dda9",
        size_bytes=12809764,
        parameters=12270912,
        storage="int8",
        summary=(
            "German -> English: bidirectional GRU encoder, GRU decoder with Bahdanau attention and input feeding (512 hidden, 256 embeddings, joint sentencepiece vocabulary of 8000); beam 5, GNMT length penalty 1.0 chosen on val."
        ),
        dataset=(
            "Multi30k (Elliott et al. 2016, WMT16 multimodal task 1), raw train/val; scored with sacreBLEU on test2016 (1000 sentences)"
        ),
        licence=(
            "non-commercial research and educational use (Multi30k); derived from Flickr30K, whose images fall under the Flickr Terms of Use"
        ),
        train_command=(
            "uv run python bench/translate_multi30k.py --data ../shared/data/multi30k --max-minutes 75 --baseline-max-minutes 0 --threads 1 --out runs/ship-translate, then uv run seqlab translate train --config runs/ship-translate/attention/config.json --out runs/ship-translate/attention --resume --max-minutes 120 (a resumed run's budget counts its 75 minutes already trained: 45 more; the model shipped at commit 1568a5f: git show 1568a5f:seqlab/pretrained/weights/translate-multi30k-de-en.safetensors > runs/prev-translate.safetensors), then uv run seqlab translate train --train-src ../shared/data/multi30k/raw/train.de --train-tgt ../shared/data/multi30k/raw/train.en --dev-src ../shared/data/multi30k/raw/val.de --dev-tgt ../shared/data/multi30k/raw/val.en --init-from runs/prev-translate.safetensors --out runs/ft-translate --epochs 9 --patience 9 --lr 1e-3 --schedule cosine --warmup-steps 100 --clip-norm 1.0 --dropout 0.3 --precision bf16 --threads 1 --device cpu"
        ),
        pack_command=(
            "uv run seqlab pretrained export runs/ft-translate/ckpt_best.pt translate-multi30k-de-en.safetensors --storage int8 --meta length_penalty=1.0"
        ),
        eval_command=(
            "uv run seqlab translate evaluate --checkpoint translate-multi30k-de-en --src ../shared/data/multi30k/raw/test_2016_flickr.de --ref ../shared/data/multi30k/raw/test_2016_flickr.en --beam 5"
        ),
        metrics={
            "bleu": 40.3,
            "bleu_lc": 40.57,
            "perplexity": 5.65,
            "beam": 5,
            "length_penalty": 1.0,
        },
        metrics_fp32={
            "bleu": 40.4,
            "bleu_lc": 40.67,
            "perplexity": 5.65,
            "beam": 5,
            "length_penalty": 1.0,
        },
        trained_on=(
            "AMD EPYC, 2 cores (AVX2 only), 1 thread, fp32, beside 2-3 other runs: 75 + 45 min (6.9 epochs, 3125 steps); then fine-tuned on an Intel Xeon with AMX (Sapphire Rapids), 1 thread, bf16 autocast, beside another training run: 48 min (9 epochs, 4086 steps)"
        ),
        notes=(
            "The target was sacreBLEU >= 40 (beam 5): met, 40.30 with the shipped int8 file (fp32 checkpoint 40.40). The fine-tune started from the previous shipped file (38.50) with a fresh Adam and a cosine schedule over 9 epochs; greedy dev BLEU went 37.4 -> 39.92 (best at epoch 8, the checkpoint kept).",
            "The length penalty was chosen on val with beam 5: 40.94 / 41.15 / 40.47 at 0.6 / 1.0 / 1.4. The test set was scored once, with the chosen checkpoint and penalty.",
            "int8 with per-row scales costs 0.10 BLEU here and halves the file (fp16: 24.9 MB).",
        ),
        familiarity=(
            "score: the mean of two signals, each standardised on the validation sources: the best translation's log-probability per token (sequence-level uncertainty, Malinin and Gales 2021) and the source's log-likelihood per character under the source sentencepiece unigram model (a small language model of the training German). Calibrated to flag 5% of the 1,014 Multi30k validation sentences, decoded with beam 5.",
            "flags 5.1% of the 1,000 sentences of Multi30k test 2016. Out of domain: everyday and news German written for the bench (40) 100% (AUROC 0.999), the German messages of the programs on the machine (300, from their gettext catalogues) 100% (0.999), English captions (300) 68.3% (0.957), French (300, Tatoeba) 100% (1.000).",
            "baseline, the log-probability per token alone (Malinin and Gales 2021), calibrated the same way: 3.7% of test; 97.5% (0.994), 99.0% (0.998), 100% (0.996), 100% (0.999). It misses one everyday sentence ('Der Zug nach Berlin hat heute zwanzig Minuten Verspätung.') that the shipped score flags, and flags English better. The combination was picked among four after looking at these sets.",
            "reproduce: uv run python bench/fit_familiarity.py --multi30k ../shared/data/multi30k, then uv run python bench/familiarity.py --multi30k ../shared/data/multi30k --tatoeba ../shared/data/eng-fra/eng-fra.first58856.txt --tasks translate (AMD EPYC Zen 4, 1 thread).",
        ),
        familiarity_summary="test 5.1%; other German 100%",
    ),
    ModelEntry(
        name="sentiment-sst2",
        task="sentiment",
        file="sentiment-sst2.safetensors",
        sha256="2cc3295f2c011c91da46235747df3da46ee1244cabe1a61fd7f4a76e5abfdfd4",
        size_bytes=6139179,
        parameters=2023002,
        storage="fp16",
        summary=(
            "Bidirectional LSTM (embeddings 200, hidden 150, max pooling) over a sentencepiece vocabulary of 8000; word dropout, subword sampling and a weight average (EMA 0.999) in training."
        ),
        dataset=(
            "GLUE SST-2 (Socher et al. 2013; Wang et al. 2018): 67,349 training phrases; scored on the 872-sentence dev set (GLUE's test labels are not public)"
        ),
        licence=(
            "no dataset licence is stated; SST is distributed by Stanford for research, GLUE's copy with it"
        ),
        train_command=(
            "uv run python bench/sentiment_sst2.py ../shared/data/sst2 --cells lstm --eval-every 250 --max-minutes 25 --threads 1 --out runs/ship-sentiment2"
        ),
        pack_command=(
            "uv run seqlab pretrained export runs/ship-sentiment2/lstm/ckpt_best.pt sentiment-sst2.safetensors --storage fp16"
        ),
        eval_command=(
            "uv run seqlab sentiment evaluate --checkpoint sentiment-sst2 --data ../shared/data/sst2/dev.tsv"
        ),
        metrics={"accuracy": 86.12, "macro_f1": 0.8611},
        metrics_fp32={"accuracy": 86.12, "macro_f1": 0.8611},
        trained_on=(
            "AMD EPYC, 2 cores (AVX2 only), 1 thread, fp32, sharing the cores with 2-3 other training runs; 25 min of training (9565 steps)"
        ),
        notes=(
            "The target was >= 86.5% dev accuracy from one model: not met (86.12%, 751 of 872; the dev set's standard error is 1.2 points).",
            "A 45-minute rerun of the recipe in bf16 on an AMD EPYC Zen 4 (34.9k steps, 3.6 times as many) peaked at 86.24% (752 of 872) at step 8250 and no higher after: one sentence more, not worth a new weights file.",
            "Negations it gets right: 'not good at all', 'the acting is not convincing', 'never boring, always surprising'. Litotes it gets wrong: 'it is not a bad film.' comes out negative (p(positive) 0.035).",
            "Negation on SST-2 dev (`seqlab sentiment evaluate` prints it): 80.00% on the 180 sentences with not, n't, no, never or nothing, against 87.72% on the other 692; 79.11% on the 158 with a contrast word (but, although, though, yet, however, while, despite) and 89.44% on the 587 with neither.",
            "Word order (issue 34): on seqlab's contrast set (tests/data/sentiment_contrast.tsv: 68 pairs of sentences one or two words apart with opposite labels) 69.12% (94 of 136): negation pairs 57.81%, but/although pairs 80.56%, intensity pairs 77.78%, both sentences of a pair right 29 of 68; typed untokenised ('it's not a bad film.') 68.38%. It fits 88.36% of the 6,142 training phrases with a negation word. Measured with `uv run python bench/sentiment_contrast.py --sst2 ../shared/data/sst2` (AMD EPYC Zen 4, 1 thread); the recipes tried to raise these are in the results (docs/results), none met the rule for replacing this model.",
            "A rerun of the recipe that shows each training phrase with a negation word twice more (--negation-repeats 2: 6,142 of the 67,349 phrases, 25 min, fp32, 1 thread of an AMD EPYC Zen 4) raised dev negation accuracy to 82.78% (+5 sentences) but lowered overall dev accuracy to 85.09% (-9 sentences), so it was not shipped: the issue asked for better negation without a worse dev score.",
        ),
        familiarity=(
            "score: the cosine similarity of a text's sentence vector (what the classifier's head reads: the bi-LSTM's max-pooled states) to the nearest of 6,000 training phrases of six words or more (Sun et al. 2022), after a projection onto 256 principal directions; the bank in int8 (1.7 MB of this file). Calibrated to flag 5% of the first half of SST-2 dev (436 sentences).",
            "flags 5.5% of the second half of SST-2 dev (436 sentences; GLUE's test labels are not public, so dev's second half stands in for a test split). Out of domain: lines of Shakespeare (400) 49.0% (AUROC 0.883 against those 436), Multi30k's English captions (400) 36.0% (0.849), Tatoeba's English sentences (400) 78.5% (0.946), the English messages of the programs on the machine (400, gettext msgids) 52.0% (0.900).",
            "baseline, the maximum softmax probability (Hendrycks and Gimpel 2017), calibrated the same way: 4.8%; 14.2% (0.744), 9.5% (0.719), 21.8% (0.794), 13.2% (0.768).",
            "weaker than the captioner's and the translator's: a short plain English sentence often looks like a review to it (a third to a half of each out-of-domain set passes). The nearest-neighbour score was picked over the maximum softmax, the Mahalanobis distance and the share of unknown pieces after looking at these sets.",
            "reproduce: uv run python bench/fit_familiarity.py --sst2 ../shared/data/sst2, then uv run python bench/familiarity.py --sst2 ../shared/data/sst2 --multi30k ../shared/data/multi30k --shakespeare ../shared/data/tinyshakespeare/input.txt --tatoeba ../shared/data/eng-fra/eng-fra.first58856.txt --tasks sentiment (AMD EPYC Zen 4, 1 thread).",
        ),
        familiarity_summary="test 5.5%; other English 36-79%",
    ),
    ModelEntry(
        name="charlm-shakespeare",
        task="charlm",
        file="charlm-shakespeare.safetensors",
        sha256="8099929c0167d9556cadf5ab7ac5027d055565b39290371954e668c09384882b",
        size_bytes=6918570,
        parameters=3457729,
        storage="fp16",
        summary=(
            "Character-level LSTM, 2 layers of 512 (embeddings 128, dropout 0.5, DropConnect 0.25 on the recurrent weights: AWD-LSTM's weight drop), trained with truncated BPTT (64 streams x 128 steps), Adam 3e-3 with a cosine schedule over the time budget; the checkpoint with the best validation loss."
        ),
        dataset=(
            "Tiny Shakespeare (Karpathy's char-rnn corpus, 1.1 MB); the last 10% is validation, scored as one stream"
        ),
        licence=("public domain (Shakespeare)"),
        train_command=(
            "uv run seqlab charlm train --text ../shared/data/tinyshakespeare/input.txt --device cuda --epochs 0 --max-minutes 3.5 --eval-every 100 --precision bf16 --weight-dropout 0.25 --dropout 0.5 --lr 3e-3 --batch-size 64 --num-layers 2 --hidden-size 512 --embedding-size 128 --bptt 128 --out runs/charlm-h200"
        ),
        pack_command=(
            "uv run seqlab pretrained export runs/charlm-h200 charlm-shakespeare.safetensors --storage fp16"
        ),
        eval_command=(
            "uv run seqlab charlm evaluate --checkpoint charlm-shakespeare --text ../shared/data/tinyshakespeare/input.txt --val-fraction 0.1"
        ),
        metrics={"val_nats": 1.4126, "val_bits": 2.038},
        metrics_fp32={},
        trained_on=(
            "one NVIDIA H200 (torch 2.11, CUDA 13.0), bf16 autocast, with a second training run sharing the GPU the whole time: 3.5 min (11,324 steps, 440k characters/s), seqlab at commit 599acae, unchanged; its best validation in training's bf16 scoring was 1.4177, still falling slowly when the budget ran out. Evaluated here on a 2-core AMD EPYC Zen 4 (CPU, fp32)"
        ),
        notes=(
            "The target was <= 1.40 nats/char: not met (1.4126).",
            "nanoGPT's character-level Shakespeare GPT (config train_shakespeare_char: 6 layers, 6 heads, 384 wide, 10.7M parameters) is documented at a best validation loss of 1.4697 after about 3 minutes on one A100, on the same last-10% split of the same text; this 3.5M-parameter LSTM reached 1.4126 in 3.5 minutes on one (shared) H200.",
            "The previous shipped model (commit 599acae) scored 1.4417 after 40 minutes on one core of an AMX Xeon (dropout 0.5, no weight dropout, overfitting after epoch 14); the one before it 1.5195.",
            "Checked on the CPU before shipping: the evaluate command above (1.4126 nats, 2.038 bits), samples in speaker format (tests/test_shipped_models.py), and seqlab charlm inspect on the last 20,000 characters: a line-position cell with r = +0.92 (the previous model's best: +0.82) and a speaker-line cell with |r| = 0.75 (0.73). The fp32 checkpoint is not kept, so the cost of fp16 storage was not measured.",
        ),
    ),
]
ENTRIES: dict[str, ModelEntry] = {e.name: e for e in _SHIPPED}


def names() -> list[str]:
    """The shipped models' names, in the registry's order."""
    return list(ENTRIES)


def entry(name: str) -> ModelEntry:
    """The registry entry of the shipped model ``name``; an unknown name raises ``UserError``
    naming the shipped ones."""
    if name not in ENTRIES:
        known = ", ".join(ENTRIES) or "none"
        raise UserError(f"no shipped model named {name!r} (shipped: {known})")
    return ENTRIES[name]


def is_shipped(source: str) -> bool:
    """Whether `source` names a shipped model (rather than a file)."""
    return source in ENTRIES or source in DEFAULTS.values()


def _restore_hint(path: Path) -> str:
    try:
        rel = path.relative_to(Path(__file__).resolve().parents[1])
        return f"restore it with `git checkout -- {rel}` (or reinstall seqlab)"
    except ValueError:
        return "reinstall seqlab to restore it"


def verify(name: str) -> Path:
    """The shipped file's path once its size and sha256 match the registry; else one sentence."""
    return verify_entry(entry(name))


def verify_entry(e: ModelEntry) -> Path:
    """``verify`` for an entry: its file's path once size and sha256 match; a missing or altered
    file raises ``UserError`` that says how to restore it."""
    path = e.path
    if not path.is_file():
        raise UserError(f"the weights of {e.name} are missing ({path}); {_restore_hint(path)}")
    data = path.read_bytes()
    if len(data) != e.size_bytes or hashlib.sha256(data).hexdigest() != e.sha256:
        raise UserError(
            f"the weights of {e.name} ({path}) fail their sha256 check: the file is truncated or "
            f"altered; {_restore_hint(path)}"
        )
    return path
