"""Make this example's labelled image set from examples/mobilenet-v2/images.txt.

That file lists square crops (and their mirror images) of 10 real photos shipped by
scikit-image, matplotlib and scikit-learn, 80 of them labelled with the ImageNet-1k classes
that plainly fit the photo's subject (several where more than one fits, e.g. tabby, tiger cat
and Egyptian cat for skimage's ``chelsea.png``); see examples/mobilenet-v2/make_eval.py. Here
every other distinct labelled crop (38) and every sixteenth unlabelled one (10: ambiguous crops, scored
for agreement only) is cut, resized to 224 x 224 (bilinear) and written as
``images/NN.jpg`` (JPEG quality 85), with ``labels.csv`` rows ``file,label`` (labels joined by
``;``; unlabelled files have no row).

    python examples/efficientnet-lite0/make_eval.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = 224


def package_file(package: str, rel: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / rel


def main() -> None:
    text = (HERE.parent / "mobilenet-v2" / "images.txt").read_text().splitlines()
    # camera.png is 512 px square, so its whole-photo crops repeat there: each kept once here
    lines = [ln.split() for ln in dict.fromkeys(t.strip() for t in text if t.strip() and not t.startswith("#"))]
    labelled = [p for p in lines if p[6] != "-"][::2]
    unlabelled = [p for p in lines if p[6] == "-"][::16]
    out = HERE / "images"
    out.mkdir(exist_ok=True)
    rows = ["file,label"]
    for i, (package, rel, left, top, side, flip, labels) in enumerate(labelled + unlabelled):
        x, y, s = int(left), int(top), int(side)
        with Image.open(package_file(package, rel)) as img:
            crop = img.convert("RGB").crop((x, y, x + s, y + s))
        if flip == "1":
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        name = f"{i:02d}.jpg"
        crop.resize((SIZE, SIZE), Image.Resampling.BILINEAR).save(out / name, quality=85)
        if labels != "-":
            rows.append(f"{name},{labels.replace(',', ';')}")
    (HERE / "labels.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
