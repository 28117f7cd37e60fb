# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Zoo-style unit test of the mfsf2net bundle: train, evaluate and infer on synthetic data (fusion_zoo_cases.py)."""

from __future__ import annotations

import unittest

from fusion_zoo_cases import BundleWorkflowTests


class TestMFSF2Net(BundleWorkflowTests, unittest.TestCase):
    name = "mfsf2net"


if __name__ == "__main__":
    unittest.main()
