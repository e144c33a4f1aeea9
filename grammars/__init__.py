"""The netspec grammar, shipped as package data (see pyproject.toml: package-dir)."""
