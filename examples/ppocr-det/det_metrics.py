"""A team's own metric, registered in gate.yaml as ``tensor.metrics.text_mask_iou``.

PP-OCR's text detector outputs a probability map [1, H, W] per image; what a user sees change
is the text mask that DB post-processing draws from it at threshold 0.3 (PaddleOCR's
``DBPostProcess(thresh=0.3)``). ``text_mask_iou`` is the intersection over union of the
candidate's mask with the baseline's, per image; an image where neither finds text scores 1.
"""

from __future__ import annotations

import numpy as np

THRESHOLD = 0.3


def text_mask_iou(reference: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Per-item IoU of ``map > 0.3`` masks; ``reference`` and ``outputs`` are [n, 1, H, W]."""
    ref = reference.reshape(len(reference), -1) > THRESHOLD
    out = outputs.reshape(len(outputs), -1) > THRESHOLD
    inter = (ref & out).sum(axis=1)
    union = (ref | out).sum(axis=1)
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))
