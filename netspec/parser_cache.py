"""The LALR parser, built from the grammar once and then loaded from a JSON file.

Building Lark's tables from the grammar takes about 60 ms, the most of any step of checking a
small spec after the imports; loading them takes about 8 ms. Lark's own cache (`cache=`) is a
pickle, and Lark unpickles it before checking anything, so a file planted there would run its
code on a plain `netspec check`. This cache holds the same tables as JSON, which loads as
plain data and runs nothing. A file that is not ours, is stale or does not load is ignored and
the parser is built from the grammar (and the file written anew).

The file lives in the user's own cache folder and is used only when that folder and the file
belong to the user and nobody else may write them (a planted file could still make the parser
read another language, so it must come from the user's own runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from typing import Any

import lark
from lark import Lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

FORMAT = 1
"""The layout of the cache file; a file of another layout is rebuilt."""

MAX_CACHE_BYTES = 4 << 20
"""Read no more of a cache file (netspec's is about 120 kB)."""


def load_or_build(grammar: str, options: dict[str, Any]) -> Lark:
    """The parser of `grammar` with Lark `options`, from the cache file when it holds them."""
    path = cache_path()
    key = _key(grammar, options)
    if path is not None:
        with contextlib.suppress(Exception):  # a file that does not load is only rebuilt
            tables = _read(path)
            if tables is not None and tables.get("key") == key:
                return Lark._load_from_dict(tables["data"], tables["memo"])
    parser = Lark(grammar, **options)
    if path is not None:
        _write(path, key, parser)
    return parser


def cache_path() -> str | None:
    """The cache file in `$XDG_CACHE_HOME/netspec` (or ~/.cache/netspec), made private; None
    when that folder cannot be made or others may write it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "netspec")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or not _private(info):
        return None
    return os.path.join(folder, f"parser-lark-{lark.__version__}.json")


def _private(info: os.stat_result) -> bool:
    """Owned by this user, and writable by nobody else."""
    mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return mine and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _key(grammar: str, options: dict[str, Any]) -> str:
    """What the tables depend on: the grammar, the options, Lark's version and this layout."""
    given = json.dumps([FORMAT, lark.__version__, grammar, repr(sorted(options.items()))])
    return hashlib.sha256(given.encode("utf-8")).hexdigest()


def _read(path: str) -> dict[str, Any] | None:
    """The cache file's content; None when there is none or it is not the user's own."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not _private(info):
            return None
        text = handle.read(MAX_CACHE_BYTES + 1)
    if len(text) > MAX_CACHE_BYTES:
        return None
    tables = json.loads(text, object_hook=_integer_keys)
    return tables if isinstance(tables, dict) else None


def _integer_keys(mapping: dict[str, Any]) -> dict[Any, Any]:
    """JSON writes Lark's integer keys (states, memo ids, token numbers) as strings; no other
    key of Lark's tables is made of digits (names of rules and terminals never are)."""
    return {int(k) if k.isdigit() else k: v for k, v in mapping.items()}


def _write(path: str, key: str, parser: Lark) -> None:
    """Write the tables whole or not at all (a temporary file, then renamed); a folder that
    cannot be written only means no cache."""
    data, memo = parser.memo_serialize([TerminalDef, Rule])
    text = json.dumps({"key": key, "data": data, "memo": memo})
    folder = os.path.dirname(path)
    temporary = None
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".parser-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
        temporary = None
    except (OSError, TypeError, ValueError):
        pass
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.remove(temporary)
