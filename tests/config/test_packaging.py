"""requirements*.txt pin exactly what pyproject.toml declares."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(lines):
    return sorted(line.strip() for line in lines if line.strip() and not line.lstrip().startswith(("#", "-r")))


def test_requirements_agree_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _pins((ROOT / "requirements.txt").read_text().splitlines()) == sorted(project["dependencies"])
    assert _pins((ROOT / "requirements-dev.txt").read_text().splitlines()) == sorted(
        project["optional-dependencies"]["dev"])


def test_every_requirement_is_pinned_exactly():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for pin in _pins((ROOT / name).read_text().splitlines()):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", pin), f"{name}: {pin} is not pinned"
