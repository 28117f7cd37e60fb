# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.hifuse.window_attention import ShiftedWindowAttention
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def _rel_bias(table: torch.Tensor, ry: torch.Tensor, rx: torch.Tensor, ws: int) -> torch.Tensor:
    """(heads, L, L) bias for window-local coordinates (ry, rx): table[(dy + ws - 1) * (2ws - 1) + dx + ws - 1]."""
    dy = ry[:, None] - ry[None, :]
    dx = rx[:, None] - rx[None, :]
    idx = ((dy + ws - 1) * (2 * ws - 1) + (dx + ws - 1)).clamp(0, table.shape[0] - 1)
    return table[idx].permute(2, 0, 1)


def _naive(m: ShiftedWindowAttention, x: torch.Tensor, ws: int, s: int) -> torch.Tensor:
    """Attention over the whole zero-padded map in its own coordinates, with the window structure expressed as masks:
    token p attends to q only if both lie in the same window of the map rolled by -s (else -inf), and gets -100 if
    exactly one of them wrapped around the border in the roll (per axis); the relative position is measured in the
    rolled map."""
    b, h, w, c = x.shape
    heads, hd = m.num_heads, c // m.num_heads
    hp, wp = math.ceil(h / ws) * ws, math.ceil(w / ws) * ws
    xp = F.pad(x, (0, 0, 0, wp - w, 0, hp - h)).reshape(b, hp * wp, c)
    ii, jj = torch.meshgrid(torch.arange(hp), torch.arange(wp), indexing="ij")
    ri, rj = ((ii - s) % hp).flatten(), ((jj - s) % wp).flatten()  # coordinates after the roll by -s
    window = (ri // ws) * (wp // ws) + rj // ws
    wrapped_i, wrapped_j = ri >= hp - s, rj >= wp - s
    bias = _rel_bias(m.relative_position_bias_table, ri % ws, rj % ws, ws)
    region = (wrapped_i[:, None] != wrapped_i[None, :]) | (wrapped_j[:, None] != wrapped_j[None, :])
    bias = bias + torch.where(region, -100.0, 0.0)
    bias = bias.masked_fill(window[:, None] != window[None, :], float("-inf"))
    q, k, v = m.qkv(xp).reshape(b, hp * wp, 3, heads, hd).permute(2, 0, 3, 1, 4)
    attn = torch.softmax(q @ k.transpose(-2, -1) * hd**-0.5 + bias, dim=-1)
    out = m.proj((attn @ v).transpose(1, 2).reshape(b, hp * wp, c))
    return out.reshape(b, hp, wp, c)[:, :h, :w]


@pytest.mark.parametrize(
    "h, w, ws, s",
    [(7, 7, 7, 0), (7, 7, 7, 3), (14, 21, 7, 3), (5, 9, 4, 2), (9, 6, 4, 1), (3, 2, 7, 3), (10, 10, 5, 0)],
)
def test_matches_whole_map_masked_attention(h, w, ws, s):
    torch.manual_seed(0)
    m = ShiftedWindowAttention(16, 4, window_size=ws, shift_size=s)
    with torch.no_grad():
        m.relative_position_bias_table.normal_(0.0, 1.0)
        m.qkv.bias.normal_(0.0, 0.5)
    x = torch.randn(2, h, w, 16)
    out = m(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, _naive(m, x, ws, s), atol=1e-5, rtol=1e-5)


def test_single_window_without_shift_is_plain_mhsa_with_bias():
    torch.manual_seed(1)
    ws, c, heads = 5, 12, 3
    m = ShiftedWindowAttention(c, heads, window_size=ws)
    with torch.no_grad():
        m.relative_position_bias_table.normal_(0.0, 1.0)
    x = torch.randn(2, ws, ws, c)
    ry, rx = (t.flatten() for t in torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij"))
    bias = _rel_bias(m.relative_position_bias_table, ry, rx, ws)
    q, k, v = m.qkv(x.reshape(2, ws * ws, c)).reshape(2, ws * ws, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    ref = m.proj(F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(2, ws * ws, c))
    torch.testing.assert_close(m(x), ref.reshape(2, ws, ws, c), atol=1e-5, rtol=1e-5)


def test_padding_equals_explicit_zero_padding():
    torch.manual_seed(2)
    m = ShiftedWindowAttention(8, 2, window_size=4, shift_size=0)
    x = torch.randn(1, 6, 7, 8)
    padded = F.pad(x, (0, 0, 0, 1, 0, 2))
    torch.testing.assert_close(m(x), m(padded)[:, :6, :7], atol=1e-6, rtol=1e-6)


def test_shift_is_kept_when_map_equals_window():
    torch.manual_seed(3)
    shifted = ShiftedWindowAttention(8, 2, window_size=7, shift_size=3)
    plain = ShiftedWindowAttention(8, 2, window_size=7, shift_size=0)
    plain.load_state_dict(shifted.state_dict())
    x = torch.randn(1, 7, 7, 8)
    assert not torch.allclose(shifted(x), plain(x), atol=1e-4)


def test_parameters_gradients_and_trace():
    torch.manual_seed(4)
    c, heads, ws = 16, 4, 7
    m = ShiftedWindowAttention(c, heads, window_size=ws, shift_size=3)
    assert m.relative_position_bias_table.shape == ((2 * ws - 1) ** 2, heads)
    assert m.qkv.bias is not None and m.scale == pytest.approx((c // heads) ** -0.5)
    assert unique_parameter_count(m) == (c * 3 * c + 3 * c) + (c * c + c) + 13 * 13 * heads
    x = torch.randn(2, 9, 11, c)
    m(x).square().sum().backward()
    assert_all_parameters_have_grad(m)
    with torch.no_grad():
        traced = torch.jit.trace(m, x, check_trace=False)
        torch.testing.assert_close(traced(x), m(x))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        ShiftedWindowAttention(10, 3)
    with pytest.raises(ValueError, match="shift_size"):
        ShiftedWindowAttention(8, 2, window_size=7, shift_size=7)
    with pytest.raises(ValueError, match="window_size"):
        ShiftedWindowAttention(8, 2, window_size=0)
    with pytest.raises(ValueError, match="B, H, W, C"):
        ShiftedWindowAttention(8, 2)(torch.randn(4, 7, 8))


@pytest.mark.parametrize("shape, ws, shift", [((2, 9, 7, 8), 4, 2), ((1, 7, 7, 8), 7, 3), ((1, 8, 12, 8), 4, 0)])
def test_same_result_as_monai_window_functions(shape, ws, shift):
    """The TorchScript-compatible forward gives what MONAI's compute_mask / window_partition / WindowAttention /
    window_reverse give around the same padding and roll (the route this block took before it was scriptable)."""
    from monai.networks.nets.swin_unetr import WindowAttention, compute_mask, window_partition, window_reverse

    torch.manual_seed(0)
    attn = ShiftedWindowAttention(shape[-1], 2, ws, shift).eval()
    with torch.no_grad():
        attn.relative_position_bias_table.normal_()
    x = torch.randn(shape)
    b, h, w, _ = shape
    pad_b, pad_r = (ws - h % ws) % ws, (ws - w % ws) % ws
    y = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
    hp, wp = h + pad_b, w + pad_r
    mask = None
    if shift:
        y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
        mask = compute_mask((hp, wp), (ws, ws), (shift, shift), x.device)
    y = window_reverse(WindowAttention.forward(attn, window_partition(y, (ws, ws)), mask), (ws, ws), (b, hp, wp))
    if shift:
        y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
    with torch.no_grad():
        torch.testing.assert_close(attn(x), y[:, :h, :w, :], rtol=0, atol=0)
