"""Packaging metadata: the SPDX license string (PEP 639), so installing prints no
`project.license` deprecation warning, and the license file it names ships."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_string_with_its_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    meta = project["project"]
    assert meta["license"] == "MIT"  # a table ({text = ...}) is what setuptools warns about
    for name in meta["license-files"]:
        assert (ROOT / name).is_file()
        assert "MIT License" in (ROOT / name).read_text()
    # PEP 639 strings need setuptools >= 77 in the isolated build environment
    assert "setuptools>=77" in project["build-system"]["requires"]
