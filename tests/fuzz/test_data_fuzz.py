"""The data fuzzer's fixed-seed sample: mutated .npz, .csv and IDX files through `netspec
train`'s data checks and `netspec predict`'s (data_fuzzing.py): each is a diagnostic or data
whose values are all finite; none ends in a traceback, trains on NaN or calls pickle.
`bench/data_fuzz.py --cases N` runs a longer campaign."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data_fuzzing

SAMPLE = 400  # cases of the sample (each through train and predict): about 3 s here


@pytest.fixture(scope="module")
def models() -> data_fuzzing.Models:
    return data_fuzzing.Models.make()


def test_a_fixed_seed_sample_of_mutated_files_ends_in_diagnostics(
    models: data_fuzzing.Models, tmp_path: Path
) -> None:
    results = []
    for number, case in enumerate(data_fuzzing.cases(seed=12, count=SAMPLE)):
        folder = tmp_path / str(number)
        folder.mkdir()
        results += data_fuzzing.run_case(case, folder, models)
    found = data_fuzzing.findings(results)
    assert not found, "\n".join(
        f"{r.case.kind} {r.case.mutation!r} ({r.stage}): {r.outcome}\n{r.detail}" for r in found[:5]
    )
    outcomes = {r.outcome for r in results}
    assert outcomes == {"diagnostic", "ok"}  # the sample reaches both ends
    codes = {r.detail.split()[0] for r in results if r.outcome == "diagnostic"}
    assert {"E0402", "E0403", "E0405"} <= codes


def _npz_case(arrays: dict[str, object]) -> data_fuzzing.Case:
    content = data_fuzzing._npz_bytes(arrays)
    return data_fuzzing.Case("npz", "given", data_fuzzing._writer("case.npz", content))


def test_the_judge_sees_nan_that_gets_through_and_pickle_calls(
    models: data_fuzzing.Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fuzzer is not blind: with the value checks switched off, NaN inputs are garbage;
    with an np.load that unpickles, an object array is a pickle call."""
    import numpy as np

    from netspec import data
    from netspec.catalogue import data as sources

    x = np.zeros((10, 4), np.float32)
    y = np.zeros(10, np.int64)
    assert [
        r.outcome for r in data_fuzzing.run_case(_npz_case({"x": x, "y": y}), tmp_path, models)
    ] == ["ok", "ok"]
    x[3, 1] = np.nan
    monkeypatch.setattr(data, "check_values", lambda *args, **kwargs: None)
    monkeypatch.setattr(sources, "check_values", lambda *args, **kwargs: None)
    (tmp_path / "a").mkdir()
    nan = data_fuzzing.run_case(_npz_case({"x": x, "y": y}), tmp_path / "a", models)
    assert [r.outcome for r in nan] == ["garbage", "garbage"]

    load = np.load
    monkeypatch.setattr(
        np, "load", lambda *args, **kwargs: load(*args, **{**kwargs, "allow_pickle": True})
    )
    (tmp_path / "b").mkdir()
    objects = np.empty(10, dtype=object)
    objects[:] = [[0.0] * 4] * 10
    pickled = data_fuzzing.run_case(_npz_case({"x": objects, "y": y}), tmp_path / "b", models)
    assert "pickle" in [r.outcome for r in pickled]
