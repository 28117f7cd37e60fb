#!/usr/bin/env python
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
"""Thin wrapper of ``python -m monai_fusion.data``: fetch or locate a dataset, build, validate and write its datalist.

Usage::

    python scripts/prepare_data.py list
    python scripts/prepare_data.py prepare ham10000 --dataset-dir ../shared/data/ham10000
    python scripts/prepare_data.py prepare kvasir_v2 --download --folds 5 --output /tmp/kvasir_v2_5fold.json
    python scripts/prepare_data.py validate ~/.cache/monai_fusion/datalists/ham10000.json

Without ``--output`` the datalist goes to ``datalists/<name>.json`` under ``$MONAI_FUSION_HOME`` (default
``~/.cache/monai_fusion``), never into the repository; the command prints the path it wrote.
"""

from __future__ import annotations

from monai_fusion.data.cli import prepare_data_main

if __name__ == "__main__":
    raise SystemExit(prepare_data_main())
