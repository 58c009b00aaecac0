"""Make this example's eval images from real photos that ship with scikit-image and matplotlib.

Each listed photo is cut into square crops (``CROPS``: photo, left, top, side), resized to
320 x 320 (a multiple of 32, as PP-OCR's detector needs) and written as ``images/NN-name.jpg`` (JPEG quality 90).
Crops of the scanned page (skimage's ``page.png``, two scales) come first, then ``text.png``
(lettering in a photo) and photos without text, where the detector's map should stay empty.

    python examples/ppocr-det/make_eval.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image

SIZE = 320
CROPS = [
    ("skimage", "data/page.png", 0, 0, 191), ("skimage", "data/page.png", 96, 0, 191),
    ("skimage", "data/page.png", 193, 0, 191), ("skimage", "data/page.png", 0, 0, 120),
    ("skimage", "data/page.png", 130, 40, 120), ("skimage", "data/page.png", 260, 71, 120),
    ("skimage", "data/text.png", 0, 0, 172), ("skimage", "data/text.png", 276, 0, 172),
    ("skimage", "data/rocket.jpg", 100, 0, 300), ("skimage", "data/coffee.png", 0, 0, 400),
    ("skimage", "data/chelsea.png", 0, 0, 300),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", 0, 0, 512),
]


def package_file(package: str, rel: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / rel


def main() -> None:
    out = Path(__file__).resolve().parent / "images"
    out.mkdir(exist_ok=True)
    for i, (package, rel, left, top, side) in enumerate(CROPS):
        with Image.open(package_file(package, rel)) as img:
            rgb = img.convert("RGB")
        side = min(side, rgb.width - left, rgb.height - top)
        crop = rgb.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        crop.save(out / f"{i:02d}-{Path(rel).stem}.jpg", quality=90)


if __name__ == "__main__":
    main()
