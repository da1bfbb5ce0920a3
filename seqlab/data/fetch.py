"""Dataset downloads for users with internet: progress bar, checksum verification, resume of a
partial download, and safe archive extraction (no path traversal, no links, size limits).

    seqlab data list
    seqlab data fetch tinyshakespeare --dir data/cache

Nothing here runs at import time, and nothing in seqlab downloads unless a user asks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from seqlab.errors import UserError
from seqlab.training import progress

DEFAULT_DIR = Path("data/cache")
MAX_EXTRACT_BYTES = 8 << 30  # refuse archives that unpack to more than 8 GiB (zip bombs)
MAX_MEMBERS = 200_000


@dataclass(frozen=True)
class Remote:
    """One file to download: where from, what it must hash to, and whether to unpack it."""

    url: str
    filename: str
    sha256: str | None = None
    md5: str | None = None  # some upstreams publish only MD5 (torchtext's tables, for example)
    extract: bool = False


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    files: tuple[Remote, ...]
    license: str = ""
    mirrors: tuple[str, ...] = field(default_factory=tuple)


REGISTRY: dict[str, Dataset] = {}


def register(ds: Dataset) -> Dataset:
    REGISTRY[ds.name] = ds
    return ds


register(
    Dataset(
        "tinyshakespeare",
        "Tiny Shakespeare, 1.1 MB of plays (Karpathy's char-rnn corpus)",
        (
            Remote(
                "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
                "input.txt",
                "input.txt",
                sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            ),
        ),
        license="public domain text",
    )
)


def file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, remote: Remote) -> None:
    """Raise UserError (and remove the file) if its checksum is wrong."""
    for algo in ("sha256", "md5"):
        want = getattr(remote, algo)
        if want and file_digest(path, algo) != want:
            path.unlink(missing_ok=True)
            raise UserError(
                f"{remote.filename}: {algo} mismatch (download corrupted or changed "
                f"upstream); the bad file was removed, run the command again"
            )


def download(url: str, dest: Path, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest``, resuming from ``dest.part`` with an HTTP Range request."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "seqlab"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - user-requested URL
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the part file is already complete
            part.replace(dest)
            return dest
        raise UserError(f"download of {url} failed: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise UserError(
            f"cannot reach {url} ({reason}); are you offline? "
            "Put the files in place by hand, or retry when online"
        ) from e
    with resp:
        if have and resp.status != 206:  # server ignored the Range header: start over
            have = 0
        total = resp.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        mode = "ab" if have else "wb"
        bar = progress(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name)
        try:
            with open(part, mode) as f:
                while chunk := resp.read(1 << 16):
                    f.write(chunk)
                    bar.update(len(chunk))
        except (OSError, TimeoutError) as e:
            raise UserError(
                f"download of {url} was cut off ({e}); run the command again to resume it"
            ) from e
        finally:
            bar.close()
    if total is not None and part.stat().st_size < total:
        raise UserError(
            f"download of {url} was cut off at {part.stat().st_size} of {total} "
            "bytes; run the command again to resume it"
        )
    part.replace(dest)
    return dest


def _safe_target(root: Path, name: str) -> Path:
    """The path a member named ``name`` may be written to, or UserError if it leaves ``root``."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise UserError(
            f"unsafe archive member {name!r} (it would write outside the target "
            "folder); refusing to extract"
        )
    target = (root / p).resolve()
    if not target.is_relative_to(root.resolve()):
        raise UserError(f"unsafe archive member {name!r}; refusing to extract")
    return target


def extract(archive: Path, root: Path, max_bytes: int = MAX_EXTRACT_BYTES) -> list[Path]:
    """Extract a zip or tar archive into ``root``, refusing traversal, links, devices and bombs."""
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _check_sizes(archive, len(infos), sum(i.file_size for i in infos), max_bytes)
            for info in infos:
                target = _safe_target(root, info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UserError(
                        f"archive member {info.filename!r} is a symbolic link; refusing to extract"
                    )
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    _copy_limited(src, dst, info.file_size, info.filename)
                written.append(target)
        return written
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as e:
        raise UserError(f"{archive} is not a zip or tar archive") from e
    with tf:
        members = tf.getmembers()
        _check_sizes(archive, len(members), sum(m.size for m in members), max_bytes)
        for m in members:
            target = _safe_target(root, m.name)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(m) as src, open(target, "wb") as dst:
                    _copy_limited(src, dst, m.size, m.name)
                written.append(target)
            else:
                raise UserError(
                    f"archive member {m.name!r} is a link or device; refusing to extract"
                )
    return written


def _check_sizes(archive: Path, count: int, size: int, max_bytes: int) -> None:
    if count > MAX_MEMBERS or size > max_bytes:
        raise UserError(
            f"{archive.name} would unpack to {size} bytes in {count} files, over the "
            f"limit ({max_bytes} bytes, {MAX_MEMBERS} files); refusing to extract"
        )


def _copy_limited(src, dst, declared: int, name: str) -> None:
    """Copy at most ``declared`` bytes: a member that inflates past its header lies (a bomb)."""
    left = declared
    while chunk := src.read(1 << 16):
        left -= len(chunk)
        if left < 0:
            raise UserError(f"archive member {name!r} is larger than it declares; refusing")
        dst.write(chunk)


def fetch(name: str, root: str | Path = DEFAULT_DIR) -> Path:
    """Download (and unpack) dataset ``name`` into ``root/name``; returns that folder."""
    if name not in REGISTRY:
        raise UserError(f"unknown dataset {name!r}; `seqlab data list` shows the choices")
    ds = REGISTRY[name]
    folder = Path(root) / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {folder}: {e.strerror or e}") from e
    for remote in ds.files:
        dest = folder / remote.filename
        if dest.exists():
            verify(dest, remote)
        else:
            download(remote.url, dest)
            verify(dest, remote)
        if remote.extract:
            marker = folder / f".{remote.filename}.extracted"
            if not marker.exists():
                tmp = folder / f".{remote.filename}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                extract(dest, tmp)
                for item in tmp.iterdir():
                    final = folder / item.name
                    if final.exists():
                        shutil.rmtree(final) if final.is_dir() else final.unlink()
                    os.replace(item, final)
                tmp.rmdir()
                marker.touch()
    return folder


# Sentiment (issue 4). MD5s as published in torchtext's dataset tables (datasets/sst2.py, imdb.py).
register(
    Dataset(
        "sst2",
        "GLUE SST-2 binary sentiment (67k train phrases, 872 dev): SST-2/{train,dev}.tsv",
        (
            Remote(
                "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
                "SST-2.zip",
                md5="9f81648d4199384278b86e315dac217c",
                extract=True,
            ),
        ),
        license="research use; cite Socher et al. 2013 and Wang et al. 2018 (GLUE)",
    )
)
register(
    Dataset(
        "imdb",
        "IMDB movie reviews (Maas et al. 2011), 25k train / 25k test; unpacks to aclImdb/",
        (
            Remote(
                "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                "aclImdb_v1.tar.gz",
                md5="7c2ac02c03563afcf9b574c7e56c153a",
                extract=True,
            ),
        ),
        license="research use; cite Maas et al. 2011",
    )
)

# Multi30k task 1 (Elliott et al. 2016). The WMT16 host is gone; this mirror is the one torchtext
# points to, and the sha256 values are torchtext's (its table is named MD5 but holds sha256).
_M30K = "https://raw.githubusercontent.com/neychev/small_DL_repo/master/datasets/Multi30k/"
register(
    Dataset(
        "multi30k",
        "Multi30k de-en-fr (WMT16 task 1): train 29k, val 1014, test2016 1000 sentence triples",
        (
            Remote(
                _M30K + "training.tar.gz",
                "training.tar.gz",
                extract=True,
                sha256="20140d013d05dd9a72dfde46478663ba05737ce983f478f960c1123c6671be5e",
            ),
            Remote(
                _M30K + "validation.tar.gz",
                "validation.tar.gz",
                extract=True,
                sha256="a7aa20e9ebd5ba5adce7909498b94410996040857154dab029851af3a866da8c",
            ),
            Remote(
                _M30K + "mmt16_task1_test.tar.gz",
                "mmt16_task1_test.tar.gz",
                extract=True,
                sha256="0681be16a532912288a91ddd573594fbdd57c0fbb81486eff7c55247e35326c2",
            ),
        ),
        license="research/non-commercial (Flickr30k terms); cite Elliott et al. 2016",
    )
)

# md5 sums as published in the R torchvision package's flickr8k/flickr30k caption datasets.
register(
    Dataset(
        "flickr8k",
        "Flickr8k images + captions (Hodosh et al. 2013; 6000/1000/1000 split) with Karpathy's "
        "split JSONs; unpacks to Flicker8k_Dataset/, Flickr8k.token.txt, dataset_flickr8k.json",
        (
            Remote(
                "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"
                "Flickr8k_Dataset.zip",
                "Flickr8k_Dataset.zip",
                extract=True,
                md5="f18a1e2920de5bd84dae7cf08ec78978",
            ),
            Remote(
                "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"
                "Flickr8k_text.zip",
                "Flickr8k_text.zip",
                extract=True,
                md5="bf6c1abcb8e4a833b7f922104de18627",
            ),
            Remote(
                "https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip",
                "caption_datasets.zip",
                extract=True,
                md5="4fa8c08369d22fe16e41dc124bd1adc2",
            ),
        ),
        license="research use (Flickr terms of use); cite Hodosh, Young and Hockenmaier 2013",
    )
)

# COCO 2017 captions (Lin et al. 2014; Chen et al. 2015): the official annotations archive (241 MB;
# captions, instances and keypoints). Its md5 as published in the R torchvision package's COCO
# datasets, PaddleDetection's COCO reader test and MLCommons' COCO scripts. The images are separate
# downloads (train2017.zip 18 GB, val2017.zip 0.8 GB): see data/README.md.
register(
    Dataset(
        "coco-captions",
        "COCO 2017 caption annotations (118k train / 5k val images, about 5 captions each); "
        "unpacks to annotations/captions_{train,val}2017.json (images not included)",
        (
            Remote(
                "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
                "annotations_trainval2017.zip",
                md5="f4bbac642086de4f52a3fdda2de5fa2c",
                extract=True,
            ),
        ),
        license="annotations CC BY 4.0 (COCO Consortium); images under the Flickr terms of use",
    )
)
