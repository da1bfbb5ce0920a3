"""Familiarity of the shipped models: how many in-domain test inputs they flag as unfamiliar, how
many out-of-domain inputs they flag, and the AUROC of the score between the two, beside a known
baseline fitted here the same way (calibrated on validation data, never on test data).

    uv run --with scikit-image python bench/familiarity.py \\
        --flickr8k ../shared/data/flickr8k --multi30k ../shared/data/multi30k \\
        --sst2 ../shared/data/sst2 --shakespeare ../shared/data/tinyshakespeare/input.txt \\
        --tatoeba ../shared/data/eng-fra/eng-fra.first58856.txt --threads 1

Out-of-domain sets, built from what a machine has or generated here:
  - photos: the photos installed packages ship (gradio, matplotlib; scikit-image's with
    ``--with scikit-image``), seqlab's synthetic scenes, and matplotlib charts;
  - German: everyday and news sentences written for this bench (below), the German messages of
    the programs on this machine (gettext catalogues under --locale-dir), English and French;
  - English: lines of Shakespeare, Multi30k's English captions, Tatoeba's English sentences,
    and the programs' English messages.
Baselines: Mahalanobis distance on the same features (Lee et al. 2018) for the captioner, the
best translation's log-probability per token alone (Malinin and Gales 2021) for the translator,
the maximum softmax probability (Hendrycks and Gimpel 2017) for the sentiment classifier.
"""

from __future__ import annotations

import argparse
import gettext
import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from seqlab import pretrained
from seqlab.familiarity import Calibration, GaussianDensity, auroc, max_softmax

# Everyday and news German, written for this bench (the three examples first).
GERMAN = """Ich habe keine Ahnung, wovon du sprichst.|Hallo Welt|Die Regierung hat gestern neue
Steuergesetze beschlossen.|Können Sie mir bitte sagen, wie spät es ist?|Der Zug nach Berlin hat
heute zwanzig Minuten Verspätung.|Die Inflationsrate ist im dritten Quartal leicht gesunken.|Ich
muss morgen früh zum Zahnarzt.|Das Meeting wurde auf nächsten Dienstag verschoben.|Bitte schließen
Sie die Tür, wenn Sie gehen.|Der Bundestag debattiert über die Reform des Rentensystems.|Mein
Computer startet nicht mehr, seit ich das Update installiert habe.|Wir sollten uns bald mal wieder
treffen.|Die Zentralbank hat den Leitzins um einen Viertelprozentpunkt angehoben.|Kannst du mir das
Salz reichen?|Der Vertrag tritt am ersten Januar in Kraft.|Es tut mir leid, aber ich verstehe Sie
nicht.|Die Wettervorhersage meldet für das Wochenende starken Regen.|Das Unternehmen hat im
vergangenen Jahr einen Rekordgewinn erzielt.|Wo ist der nächste Bahnhof?|Ich hätte gern einen
Kaffee mit Milch, bitte.|Die Ärzte warnen vor einer neuen Grippewelle.|Der Angeklagte bestreitet
alle Vorwürfe.|Vielen Dank für Ihre schnelle Antwort.|Die Software speichert alle Daten
verschlüsselt auf dem Server.|Nach langen Verhandlungen einigten sich die Parteien auf einen
Kompromiss.|Morgen habe ich leider keine Zeit.|Der Minister kündigte seinen Rücktritt an.|Wie viel
kostet eine Fahrkarte nach München?|Die Studie zeigt, dass Schlafmangel das Gedächtnis
beeinträchtigt.|Ich glaube, das ist eine gute Idee.|Die Arbeitslosigkeit ist auf den niedrigsten
Stand seit zehn Jahren gefallen.|Das Passwort muss mindestens acht Zeichen lang sein.|Hast du die
Nachrichten heute schon gelesen?|Der Gipfel endete ohne gemeinsame Erklärung.|Ich bin seit drei
Jahren verheiratet.|Die Preise für Energie sind stark gestiegen.|Das Konzert wurde wegen Krankheit
des Sängers abgesagt.|Bitte füllen Sie das Formular vollständig aus.|Warum hast du mich nicht
angerufen?|Die Opposition fordert eine unabhängige Untersuchung."""
GERMAN_SENTENCES = [s.strip() for s in GERMAN.replace("\n", " ").split("|")]


def flagged(cal: Calibration, raw) -> float:
    return float(np.mean([not cal(float(r)).in_domain for r in raw]))


def report(title: str, ood: list[str], shipped, baseline_name: str, baseline) -> None:
    """shipped/baseline: (Calibration, {set: raw scores}) with the in-domain test set as 'test'."""
    print(f"\n## {title}\n")
    print(f"| set | n | flagged, shipped | AUROC, shipped | flagged, {baseline_name} | AUROC |")
    print("|---|---|---|---|---|---|")
    for name in ["val", "test", *ood]:
        row = [name, len(shipped[1][name])]
        for cal, raw in (shipped, baseline):
            row.append(f"{100 * flagged(cal, raw[name]):.1f}%")
            auc = "" if name in ("val", "test") else f"{auroc(raw['test'], raw[name]):.3f}"
            row.append(auc)
        print("| " + " | ".join(str(c) for c in row) + " |")


def package_photos() -> list[Path]:
    """Photos installed packages ship: the demo's out-of-domain examples and more."""
    from seqlab.data.photos import licensed_photos

    paths = [p.path for p in licensed_photos()]
    try:
        import skimage

        data = Path(skimage.__file__).parent / "data"
        paths += sorted(p for p in data.iterdir() if p.suffix in (".png", ".jpg"))
    except ImportError:
        print("(scikit-image is not installed: its photos are left out)", file=sys.stderr)
    return paths


def generated_images(folder: Path) -> dict[str, list[Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqlab.toy.scenes import make_scenes

    scenes, _ = make_scenes(200, seed=5, image_size=256)
    out = {"scenes": [], "charts": []}
    for k, image in enumerate(scenes):
        out["scenes"].append(folder / f"scene{k:03d}.png")
        image.save(out["scenes"][-1])
    rng = np.random.default_rng(0)
    for k in range(100):
        fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
        if k % 4 == 0:
            ax.plot(rng.normal(size=20).cumsum())
        elif k % 4 == 1:
            ax.bar(range(8), rng.random(8))
        elif k % 4 == 2:
            ax.scatter(rng.normal(size=50), rng.normal(size=50))
        else:
            ax.imshow(rng.random((16, 16)))
        ax.set_title(f"figure {k}")
        out["charts"].append(folder / f"chart{k:03d}.png")
        fig.savefig(out["charts"][-1])
        plt.close(fig)
    return out


def caption_bench(args) -> None:
    from seqlab.caption.familiarity import pooled_features
    from seqlab.data.captions import load_caption_set

    pred = pretrained.load("caption-flickr8k", device="cpu")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    def feats(name, paths):
        path = cache / f"caption_{name}_{len(paths)}.npy"
        if not path.is_file():
            np.save(path, pooled_features(pred, list(paths)))
        return np.load(path)

    sets = {s: feats(s, load_caption_set("flickr8k", args.flickr8k, s).images) for s in
            ("train", "val", "test")}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        ood_paths = {"package photos": package_photos(), **generated_images(Path(tmp))}
        ood = {name: pooled_features(pred, paths) for name, paths in ood_paths.items()}
    shipped_raw = {n: pred.familiarity.detector.raw(x) for n, x in {**sets, **ood}.items()}
    gauss = GaussianDensity.fit(sets["train"], k=256)
    base_raw = {n: gauss.raw(x) for n, x in {**sets, **ood}.items()}
    base = (Calibration.fit(base_raw["val"], "mahalanobis"), base_raw)
    shipped = (pred.familiarity.calibration, shipped_raw)
    report("caption-flickr8k (Flickr8k test: in-domain)", list(ood), shipped, "Mahalanobis", base)
    missed = [p.name for p, r in zip(ood_paths["package photos"], shipped_raw["package photos"],
              strict=True) if pred.familiarity.calibration(float(r)).in_domain]  # fmt: skip
    print(f"\npackage photos marked familiar: {', '.join(missed) or 'none'}")


def program_messages(locale_dir: str, lang: str, n: int = 300, msgids: bool = False) -> list[str]:
    """Sentence-like messages of the programs on this machine, from their gettext catalogues in
    `lang`: the translations, or with ``msgids`` the English originals."""
    found = set()
    for mo in sorted(Path(locale_dir).glob(f"{lang}/LC_MESSAGES/*.mo")):
        try:
            with open(mo, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        for key, value in catalog.items():
            text = key if msgids else value
            if isinstance(text, str) and 4 <= len(text.split()) <= 25 and text[0].isupper():
                if not re.search(r"[%{}<>\\\n\t_$|]", text):
                    found.add(text.strip())
    found = sorted(found)
    random.Random(0).shuffle(found)
    return found[:n]


def translate_bench(args) -> None:
    tr = pretrained.load("translate-multi30k-de-en", device="cpu")
    raw_dir = Path(args.multi30k) / "raw"
    lines = lambda name: (raw_dir / name).read_text(encoding="utf-8").splitlines()  # noqa: E731
    fra = Path(args.tatoeba).read_text(encoding="utf-8").splitlines()[-300:]
    sets = {
        "val": lines("val.de"),
        "test": lines("test_2016_flickr.de"),
        "everyday/news German": GERMAN_SENTENCES,
        "German program messages": program_messages(args.locale_dir, "de"),
        "English captions": lines("test_2016_flickr.en")[:300],
        "French (Tatoeba)": [ln.split("\t")[1] for ln in fra],
    }
    results = {n: tr.translate_many(s, beam_size=5) for n, s in sets.items() if s}
    fam = tr.familiarity
    shipped = (fam.calibration, {n: fam.signals.raw([x["signals"] for x in r]) for n, r in
               results.items()})  # fmt: skip
    base_raw = {n: np.array([x["signals"][0] for x in r]) for n, r in results.items()}
    base = (Calibration.fit(base_raw["val"], "log-prob per token"), base_raw)
    ood = [n for n in results if n not in ("val", "test")]
    report("translate-multi30k-de-en (Multi30k test 2016: in-domain)", ood, shipped,
           "log-prob per token", base)  # fmt: skip
    print()
    for text, r in zip(GERMAN_SENTENCES[:3], results["everyday/news German"], strict=False):
        print(f"- {text} -> {r['translation']} ({r['familiarity']})")


def sentiment_bench(args) -> None:
    se = pretrained.load("sentiment-sst2", device="cpu")
    dev = Path(args.sst2, "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    dev = [row.split("\t")[0] for row in dev]
    rng = random.Random(1)
    shakespeare = [ln for ln in Path(args.shakespeare).read_text().splitlines() if
                   len(ln.split()) >= 6]  # fmt: skip
    captions = (Path(args.multi30k) / "raw" / "test_2016_flickr.en").read_text().splitlines()
    tatoeba = [ln.split("\t")[0] for ln in Path(args.tatoeba).read_text().splitlines()[-3000:]]
    tatoeba = [t for t in tatoeba if len(t.split()) >= 5]
    for s in (shakespeare, captions, tatoeba):
        rng.shuffle(s)
    sets = {
        "val": dev[:436],  # the first half of SST-2 dev calibrated the shipped model
        "test": dev[436:],  # GLUE's test labels are not public: dev's second half reports
        "Shakespeare": shakespeare[:400],
        "English captions": captions[:400],
        "Tatoeba English": tatoeba[:400],
        "English program messages": program_messages(args.locale_dir, "de", 400, msgids=True),
    }
    sets = {n: s for n, s in sets.items() if s}
    from seqlab.sentiment.familiarity import features

    fam = se.familiarity
    feats = {n: features(se, s) for n, s in sets.items()}
    shipped = (fam.calibration, {n: fam.detector.raw(f) for n, f in feats.items()})
    msp = {n: max_softmax(se.model.head(torch.as_tensor(f))) for n, f in feats.items()}
    base = (Calibration.fit(msp["val"], "msp"), msp)
    ood = [n for n in sets if n not in ("val", "test")]
    report("sentiment-sst2 (SST-2 dev, second half: in-domain)", ood, shipped,
           "max softmax", base)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flickr8k", help="Flickr8k folder (the captioner's bench)")
    ap.add_argument("--multi30k", help="Multi30k folder with raw/ (translator and sentiment)")
    ap.add_argument("--sst2", help="SST-2 folder with dev.tsv (sentiment)")
    ap.add_argument("--shakespeare", help="Tiny Shakespeare input.txt (sentiment)")
    ap.add_argument("--tatoeba", help="Tatoeba eng-fra tab-separated pairs")
    ap.add_argument("--locale-dir", default="/usr/share/locale", help="gettext catalogues")
    ap.add_argument("--cache", default="data/cache/familiarity", help="caption feature cache")
    ap.add_argument("--tasks", default="caption,translate,sentiment")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from seqlab.hardware import describe_cpu

    print(f"{describe_cpu()}; {args.threads} thread(s)")
    tasks = args.tasks.split(",")
    if "caption" in tasks and args.flickr8k:
        caption_bench(args)
    if "translate" in tasks and args.multi30k and args.tatoeba:
        translate_bench(args)
    if "sentiment" in tasks and args.sst2 and args.shakespeare and args.tatoeba:
        sentiment_bench(args)


if __name__ == "__main__":
    with torch.no_grad():
        main()
