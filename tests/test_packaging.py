"""Every package under netspec/ ships: pyproject.toml lists its packages by hand, and a
package left out of the list works in an editable install but is missing from the wheel."""

from __future__ import annotations

import tomllib
from conftest import ROOT


def test_every_package_under_netspec_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "netspec").rglob("__init__.py")
        if "__pycache__" not in init.parts and not init.parent.is_symlink()
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"
