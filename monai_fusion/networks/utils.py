# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Helpers shared by the networks: argument checks, so that every network rejects bad input with the same words, and
the index selection of ``forward_intermediates``."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["check_network_args", "check_stage_args", "take_indices"]


def check_network_args(name: str, spatial_dims: int, in_channels: int, out_channels: int) -> None:
    """Reject what no network here supports: anything but 2-D, and non-positive channel counts.

    Args:
        name: the network's name, used in the messages.
        spatial_dims: must be 2.
        in_channels: input channels, >= 1.
        out_channels: output channels (classes), >= 1.
    """
    if spatial_dims != 2:
        raise ValueError(f"{name} is 2-D only (2-D inputs): spatial_dims must be 2, got {spatial_dims}.")
    if in_channels < 1:
        raise ValueError(f"{name}: in_channels must be a positive integer, got {in_channels}.")
    if out_channels < 1:
        raise ValueError(f"{name}: out_channels must be a positive integer, got {out_channels}.")


def check_stage_args(
    name: str,
    channels: Sequence[int],
    depths: Sequence[int],
    *,
    num_stages: int | None = None,
    doubling: bool = False,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Check per-stage widths and depths and return them as tuples.

    Args:
        name: the network's name, used in the messages.
        channels: per-stage widths, positive.
        depths: per-stage block counts, positive.
        num_stages: the exact number of stages the network has, or None for "any, but equal lengths".
        doubling: each width must be twice the previous one (patch merging doubles C), and even.
    """
    channels, depths = tuple(channels), tuple(depths)
    if num_stages is not None and (len(channels) != num_stages or len(depths) != num_stages):
        raise ValueError(
            f"{name} has {num_stages} stages: channels and depths must both have {num_stages} entries, got "
            f"{len(channels)} and {len(depths)}."
        )
    if len(channels) < 1 or len(channels) != len(depths):
        raise ValueError(
            f"{name}: channels and depths must be non-empty and of equal length, got {len(channels)} and {len(depths)}."
        )
    if any(c < 1 for c in channels):
        raise ValueError(f"{name}: every entry of channels must be a positive integer, got {channels}.")
    if doubling:
        if any(c % 2 for c in channels):
            raise ValueError(f"{name}: every entry of channels must be a positive even integer, got {channels}.")
        if any(b != 2 * a for a, b in zip(channels[:-1], channels[1:])):
            raise ValueError(
                f"{name}: each entry of channels must be twice the previous one (patch merging doubles C), got "
                f"{channels}."
            )
    if any(d < 1 for d in depths):
        raise ValueError(f"{name}: every entry of depths must be a positive integer, got {depths}.")
    return channels, depths


def take_indices(name: str, num_features: int, indices: int | Sequence[int] | None = None) -> list[int]:
    """The intermediates a ``forward_intermediates(x, indices=...)`` call returns, as absolute indices.

    Same convention as timm's ``forward_intermediates``: ``None`` takes all ``num_features``, an int ``n`` the last
    ``n``, and a sequence the listed indices (negative ones count from the end), in the order given.

    Args:
        name: the network's name, used in the messages.
        num_features: how many intermediates the network has.
        indices: None, a count, or a sequence of indices.
    """
    if indices is None:
        return list(range(num_features))
    if isinstance(indices, int):
        if not 0 < indices <= num_features:
            raise ValueError(
                f"{name}: indices={indices} asks for the last {indices} of {num_features} intermediates; use 1 to "
                f"{num_features}, a list of indices, or None for all."
            )
        return list(range(num_features - indices, num_features))
    taken = []
    for i in indices:
        if not -num_features <= i < num_features:
            raise ValueError(
                f"{name}: intermediate index {i} in indices={list(indices)} is out of range for {num_features} "
                f"intermediates; use 0 to {num_features - 1} (or -{num_features} to -1)."
            )
        taken.append(i % num_features)
    return taken
