"""The parameter shape lists of two real models, written out (nothing is downloaded).

* :func:`resnet50` — torchvision's ResNet-50 (ImageNet head): 161 tensors, 25 557 032
  elements; 53 convolutions, 53 batch-norm weight/bias pairs of 64 to 2 048 elements, the
  1 000-way classifier. Most tensors are small: the many-tensor case.
* :func:`gpt2_small` — GPT-2 small (Hugging Face ``GPT2Model`` with the tied LM head counted
  once): 148 tensors, 124 439 808 elements; the token and position embeddings, 12 blocks of
  two layer norms, the attention's fused QKV and output projections and the MLP, the final
  layer norm. Most elements are in a few large matrices.

The order is the models' ``parameters()`` order.
"""

from __future__ import annotations

import math

__all__ = ["MODELS", "gpt2_small", "numel", "resnet50"]

Shape = tuple[int, ...]


def _bottleneck(inplanes: int, planes: int, downsample: bool) -> list[Shape]:
    out = planes * 4
    shapes: list[Shape] = [
        (planes, inplanes, 1, 1), (planes,), (planes,),  # conv1, bn1
        (planes, planes, 3, 3), (planes,), (planes,),  # conv2, bn2
        (out, planes, 1, 1), (out,), (out,),  # conv3, bn3
    ]  # fmt: skip
    if downsample:
        shapes += [(out, inplanes, 1, 1), (out,), (out,)]  # downsample conv, bn
    return shapes


def resnet50() -> list[Shape]:
    """ResNet-50's parameter shapes (bottleneck blocks 3, 4, 6, 3; 1 000 classes)."""
    shapes: list[Shape] = [(64, 3, 7, 7), (64,), (64,)]  # stem conv, bn
    inplanes = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for b in range(blocks):
            shapes += _bottleneck(inplanes, planes, downsample=b == 0)
            inplanes = planes * 4
    return [*shapes, (1000, 2048), (1000,)]  # fc


def gpt2_small(vocab: int = 50257, positions: int = 1024, width: int = 768) -> list[Shape]:
    """GPT-2 small's parameter shapes (12 blocks, width 768, Conv1D weights as stored)."""
    shapes: list[Shape] = [(vocab, width), (positions, width)]  # wte, wpe
    for _ in range(12):
        shapes += [
            (width,), (width,),  # ln_1
            (width, 3 * width), (3 * width,),  # attn.c_attn
            (width, width), (width,),  # attn.c_proj
            (width,), (width,),  # ln_2
            (width, 4 * width), (4 * width,),  # mlp.c_fc
            (4 * width, width), (width,),  # mlp.c_proj
        ]  # fmt: skip
    return [*shapes, (width,), (width,)]  # ln_f


def numel(shapes: list[Shape]) -> int:
    """The number of elements of a shape list."""
    return sum(math.prod(s) for s in shapes)


#: size label -> shape list
MODELS: dict[str, list[Shape]] = {"resnet50": resnet50(), "gpt2": gpt2_small()}
