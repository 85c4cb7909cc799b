"""The Redis Lua scripts: each is a documented ``.lua`` file the package ships.

The scripts' behaviour is tested against the real Redis by the integration
tests of their adapters; these tests check the files themselves.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

from infra.lua import load_script

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "commands", "projections", "streams", "queries", "infra")


def _lua_files() -> list[Path]:
    return sorted(f for package in PACKAGES for f in (ROOT / package).rglob("*.lua"))


def _package_of(path: Path) -> str:
    return ".".join(path.parent.relative_to(ROOT).parts)


def test_the_scripts_are_found() -> None:
    assert len(_lua_files()) == 18  # the delete-if-still-ours script serves two modules


@pytest.mark.parametrize("path", _lua_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_script_is_shipped_with_its_package(path: Path) -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["package-data"]
    package = _package_of(path)
    globs = package_data.get(package, [])
    assert any(fnmatch.fnmatch(path.name, glob) for glob in globs), (
        f"add {path.name!r} to [tool.setuptools.package-data] {package!r} in pyproject.toml")


@pytest.mark.parametrize("path", _lua_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_script_starts_with_a_header_giving_keys_argv_and_answer(path: Path) -> None:
    lines = path.read_text().splitlines()
    header = "\n".join(line for line in lines[:20] if line.startswith("--"))
    assert lines[0].startswith("-- ")
    for word in ("KEYS", "ARGV", "Returns:"):
        assert word in header, f"{path.name}: header does not say {word}"


@pytest.mark.parametrize("path", _lua_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_load_script_reads_the_file_once(path: Path) -> None:
    text = load_script(_package_of(path), path.stem)
    assert text == path.read_text()
    assert load_script(_package_of(path), path.stem) is text


def test_a_missing_script_is_an_error() -> None:
    with pytest.raises(FileNotFoundError):
        load_script("infra", "no_such_script")
