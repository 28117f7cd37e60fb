# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Issue 8, security: why docs/reliability.md and the README warn that bundle configs run code.

A ``$`` value in a bundle config (or in a ``--key value`` override of ``python -m monai.bundle run``, which goes
through the same ``ConfigParser``) is Python evaluated by MONAI when the config is parsed: a config file from an
untrusted source can do anything the user can. The test proves the hazard the documentation warns about, so that
the warning is dropped only if MONAI stops evaluating them.
"""

from __future__ import annotations

from pathlib import Path

from monai.bundle import ConfigParser

from tests.utils import REPO_ROOT


def test_a_config_expression_runs_arbitrary_code(tmp_path: Path) -> None:
    marker = tmp_path / "payload_ran"
    parser = ConfigParser({"innocent_looking": f"$__import__('pathlib').Path({str(marker)!r}).touch()"})
    assert not marker.exists()
    parser.get_parsed_content("innocent_looking")
    assert marker.exists()


def test_reliability_doc_warns() -> None:
    text = (REPO_ROOT / "docs" / "reliability.md").read_text()
    assert "execute Python expressions" in text and "trust" in text
