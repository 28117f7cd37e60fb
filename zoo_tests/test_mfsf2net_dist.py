# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Zoo-style unit test of the mfsf2net bundle: train.json + multi_gpu_train.json under torchrun, 2 processes (GPUs, or
CPU processes with gloo; fusion_zoo_cases.py)."""

from __future__ import annotations

import unittest

from fusion_zoo_cases import BundleMultiProcessTests


class TestMFSF2NetMultiProcess(BundleMultiProcessTests, unittest.TestCase):
    name = "mfsf2net"


if __name__ == "__main__":
    unittest.main()
