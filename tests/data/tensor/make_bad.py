"""Write the bad eval files of this folder from the two-input example's data (see README.md).

    python tests/data/tensor/make_bad.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[2] / "examples" / "two-input"


def main() -> None:
    with np.load(EXAMPLE / "inputs.npz") as data:
        good = {k: np.asarray(data[k]) for k in data.files}
    window, state, labels = good["sensor.window"], good["device-state"], good["labels"]
    bad = {
        # the input is "sensor.window": a name written the usual Python way does not match
        "wrong-input-name": {"sensor_window": window, "device-state": state, "labels": labels},
        "missing-input": {"sensor.window": window, "labels": labels},
        "float64-window": {"sensor.window": window.astype(np.float64), "device-state": state, "labels": labels},
        "wrong-width": {"sensor.window": window[:, :32], "device-state": state, "labels": labels},
        "no-item-axis": {"sensor.window": window[0], "device-state": state, "labels": labels},
        "count-mismatch": {"sensor.window": window, "device-state": state[:-5], "labels": labels},
        "float-labels": {"sensor.window": window, "device-state": state, "labels": labels.astype(np.float32)},
        "nan-window": {"sensor.window": np.where(np.arange(window.shape[0])[:, None] == 7, np.nan, window)
                       .astype(window.dtype), "device-state": state, "labels": labels},
        "label-out-of-range": {"sensor.window": window, "device-state": state, "labels": labels + 1000},
        "repeated-items": {"sensor.window": np.repeat(window[:30], 2, axis=0),
                           "device-state": np.repeat(state[:30], 2, axis=0), "labels": np.repeat(labels[:30], 2)},
    }
    for name, arrays in bad.items():
        np.savez(HERE / f"{name}.npz", **arrays)


if __name__ == "__main__":
    main()
