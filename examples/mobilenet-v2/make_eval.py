"""Write images.txt: 240 eval inputs derived from 10 real photos that installed packages ship.

Photos: scikit-image's data folder (chelsea, coffee, astronaut, rocket, motorcycle_left,
camera, coins), matplotlib's sample data (grace_hopper.jpg) and scikit-learn's sample images
(china.jpg, flower.jpg). Each photo gives 24 inputs: square crops at three scales of its short
side (1.0: start, centre and end of the long side; 0.8: four corners and the centre; 0.6:
four corners), each as is and flipped left-right; the gate resizes every crop to 224 x 224.

Labels: ImageNet-1k class indices that count as correct, given only for photos whose subject
is plainly one ImageNet class (cat: 281 tabby, 282 tiger cat, 285 Egyptian cat; coffee: 967
espresso, 968 cup; motorcycle: 665 moped, 670 motor scooter; camera: 872 tripod; Grace Hopper:
652 military uniform), and only for crops at scales 1.0 and 0.8 (the 0.6 corner crops may cut
the subject out). Everything else is ``-`` (no label): it still counts for top-1 agreement.
Class names: timm's imagenet_synset_to_lemma.txt. Run: python make_eval.py > images.txt
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image

PHOTOS = [  # package, path in package, labels
    ("skimage", "data/chelsea.png", "281,282,285"),
    ("skimage", "data/coffee.png", "967,968"),
    ("skimage", "data/astronaut.png", "-"),
    ("skimage", "data/rocket.jpg", "-"),
    ("skimage", "data/motorcycle_left.png", "665,670"),
    ("skimage", "data/camera.png", "872"),
    ("skimage", "data/coins.png", "-"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "652"),
    ("sklearn", "datasets/images/china.jpg", "-"),
    ("sklearn", "datasets/images/flower.jpg", "-"),
]


def crops(width: int, height: int) -> list[tuple[int, int, int, float]]:
    """(left, top, side, scale) of the 12 square crops of a width x height photo."""
    short = min(width, height)
    out = []
    for scale, spots in ((1.0, ("start", "centre", "end")),
                         (0.8, ("tl", "tr", "bl", "br", "centre")), (0.6, ("tl", "tr", "bl", "br"))):
        side = int(short * scale)
        free_x, free_y = width - side, height - side
        for spot in spots:
            if spot in ("start", "centre", "end"):
                frac = {"start": 0.0, "centre": 0.5, "end": 1.0}[spot]
                x, y = (int(free_x * frac), int(free_y * frac))
            else:
                x = 0 if spot[1] == "l" else free_x
                y = 0 if spot[0] == "t" else free_y
            out.append((x, y, side, scale))
    return out


def main() -> None:
    print("# package  path  left  top  side  flip  labels   (written by make_eval.py)")
    for package, rel, labels in PHOTOS:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, package
        path = Path(next(iter(spec.submodule_search_locations))) / rel
        with Image.open(path) as img:
            width, height = img.size
        for x, y, side, scale in crops(width, height):
            for flip in (0, 1):
                print(f"{package} {rel} {x} {y} {side} {flip} {labels if scale >= 0.8 else '-'}")


if __name__ == "__main__":
    main()
