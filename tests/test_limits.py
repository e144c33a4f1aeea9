"""The front end's limits (netspec/limits.py): hostile files and runaway specs are refused
with a diagnostic in bounded time. Cases that need a file written at test time (a FIFO, a
file over the size limit, a chain of imports) are here; the rest are in tests/errors/."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from netspec.frontend import check_file, check_source
from netspec.limits import MAX_EXPANSION_DEPTH, MAX_SOURCE_BYTES

MODEL = "model m { input [8] layers { Dense(1) } loss mse optimizer SGD }\n"


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_use_of_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "blocks.net")
    spec = tmp_path / "spec.net"
    spec.write_text('use "blocks.net"\n' + MODEL)
    start = time.perf_counter()
    model, diagnostics, _ = check_file(spec)  # before the fix: blocked forever in open()
    assert time.perf_counter() - start < 5
    assert model is None and codes(diagnostics) == ["E0185"]
    assert "FIFO" in next(iter(diagnostics)).message


def test_use_of_a_huge_file_reads_no_more_than_the_limit(tmp_path: Path) -> None:
    (tmp_path / "blocks.net").write_bytes(b" " * (MAX_SOURCE_BYTES + 10))
    spec = tmp_path / "spec.net"
    spec.write_text('use "blocks.net"\n' + MODEL)
    model, diagnostics, _ = check_file(spec)
    assert model is None and codes(diagnostics) == ["E0186"]
    (d,) = diagnostics
    assert (d.span.line, d.span.column) == (1, 5) and d.hint


def test_a_spec_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    """A 10**6-element class_weight list (2 MB) took minutes to parse and check."""
    weights = ",".join(["1"] * 1_000_000)
    spec = tmp_path / "spec.net"
    spec.write_text(
        "model m { input [8] layers { Dense(3, activation=softmax) } "
        "loss categorical_crossentropy optimizer SGD train { class_weight = ["
        + weights + "] } }\n"
    )
    start = time.perf_counter()
    model, diagnostics, _ = check_file(spec)
    assert time.perf_counter() - start < 2
    assert model is None and codes(diagnostics) == ["E0186"]
    _, diagnostics = check_source(spec.read_text())  # text given directly: the same limit
    assert codes(diagnostics) == ["E0186"]


def test_an_import_chain_deeper_than_the_limit(tmp_path: Path) -> None:
    depth = MAX_EXPANSION_DEPTH + 5
    for i in range(depth):
        (tmp_path / f"f{i}.net").write_text(f'use "f{i + 1}.net"\n')
    (tmp_path / f"f{depth}.net").write_text("block z { Dense(1) }\n")
    spec = tmp_path / "spec.net"
    spec.write_text('use "f0.net"\n' + MODEL)
    model, diagnostics, _ = check_file(spec)
    assert model is None and "E0184" in codes(diagnostics)


@pytest.mark.parametrize(
    "layers",
    [
        "repeat 1000000000 { Dense(1) }",
        "Dense(4, repeat=1000000000)",
        "repeat 1000000000 { repeat 1000000000 { repeat 1000000000 { Dense(1) } } }",
    ],
)
def test_an_explosion_is_refused_before_expanding(layers: str) -> None:
    start = time.perf_counter()
    model, diagnostics = check_source(
        f"model m {{ input [8] layers {{ {layers} }} loss mse optimizer SGD }}"
    )
    assert time.perf_counter() - start < 1  # measured, not made: milliseconds even when loaded
    assert model is None and codes(diagnostics) == ["E0183"]


def test_doubling_blocks_are_measured_once_per_level() -> None:
    blocks = "block c0 { Dense(1) } " + " ".join(
        f"block c{i} {{ c{i - 1} c{i - 1} }}" for i in range(1, 60)
    )
    start = time.perf_counter()
    _, diagnostics = check_source(blocks + " model m { input [8] layers { c59 } loss mse optimizer SGD }")
    assert time.perf_counter() - start < 1
    assert codes(diagnostics) == ["E0183"]


def test_a_large_model_within_the_limits_still_checks() -> None:
    model, diagnostics = check_source(
        "block pair { Dense(2) Dense(2) } "
        "model m { input [8] layers { repeat 500 { pair } } loss mse optimizer SGD }"
    )
    assert model is not None, [d.message for d in diagnostics]
    assert len(model.layers) == 1000


# Within the limits, but quadratic before (found by bench/fuzz.py as inputs over 5 s; on the
# loaded 2-core machine the first took 20 s, the second 29 s, the third 8 s before the fix).


def test_many_uses_of_one_block_name_in_linear_time() -> None:
    start = time.perf_counter()
    model, _ = check_source(
        "block pair { Dense(1) Dense(1) } "
        "model m { input [8] layers { repeat 8000 { pair } } loss mse optimizer SGD }"
    )
    assert time.perf_counter() - start < 8
    assert model is not None and len(model.layers) == 16000
    assert model.layers[-1].name == "pair_7999_dense_1"


def test_an_error_in_a_block_used_a_thousand_times_is_one_diagnostic() -> None:
    from netspec.diagnostics import MAX_MERGED_NOTES

    blocks = "block c0 { Dense(1) } block c1 { c0 c0x } " + " ".join(
        f"block c{i} {{ c{i - 1} c{i - 1} }}" for i in range(2, 12)
    )
    start = time.perf_counter()
    _, diagnostics = check_source(blocks + " model m { input [8] layers { c11 } loss mse optimizer SGD }")
    assert time.perf_counter() - start < 5
    (d,) = diagnostics
    assert d.code == "E0101" and len(d.related) <= MAX_MERGED_NOTES + 11  # use sites, capped


def test_one_unknown_name_thousands_of_times_is_hinted_once() -> None:
    start = time.perf_counter()
    _, diagnostics = check_source(
        "model m { input [8] layers { " + "nott " * 3000 + "} loss mse optimizer SGD }"
    )
    assert time.perf_counter() - start < 4
    assert len(diagnostics) == 3000 and all(d.hint for d in diagnostics)


def test_a_repeat_of_a_failing_block_reports_once_and_stops() -> None:
    """65,536 copies of a block whose arguments fail took 20 s (fuzz find, seed 9)."""
    start = time.perf_counter()
    _, diagnostics = check_source(
        "block b(p) { Dense(units=p + 1) } "
        "model m { input [4] layers { b(\"x\", repeat=65536) } loss mse optimizer SGD }"
    )
    assert time.perf_counter() - start < 2
    assert codes(diagnostics) == ["E0170"]


def test_a_data_path_with_nul_is_refused_at_check() -> None:
    """No file name holds NUL: open() would raise ValueError when the run starts."""
    _, diagnostics = check_source(
        'model m { input [4] layers { Dense(1) } loss mse optimizer SGD '
        'train { data = npz("a\\u0000.npz") } }'
    )
    assert codes(diagnostics) == ["E0182"]
