"""The checker reuses what it worked out for one layer for its copies (the validated
parameters of equal arguments, the shape of a repeated call): a copy must never get another
layer's result. Equal in Python is not the same argument: 4, 4.0 and true, 0.0 and -0.0."""

from __future__ import annotations

import math

from netspec.frontend import check_source

SPEC = """
model reuse {{
  input [8]
  layers {{
    {layers}
    Dense(2, activation=softmax)
  }}
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=1e-3)
}}
"""


def check(layers: str):
    return check_source(SPEC.format(layers=layers), "reuse.net")


def test_a_float_where_an_integer_is_taken_is_refused_after_the_integer_was_accepted() -> None:
    model, diagnostics = check("Dense(4, repeat=3)\n    Dense(4.0)")
    assert model is None
    assert [d.code for d in diagnostics if d.severity.value == "error"] == ["E0113"]
    assert diagnostics.errors_reported == 1


def test_minus_zero_keeps_its_sign_after_zero() -> None:
    model, _ = check("Dropout(0.0)\n    Dropout(-0.0)\n    Dropout(0.0)")
    assert model is not None
    rates = [layer.params.rate for layer in model.layers if layer.kind == "Dropout"]
    assert [math.copysign(1.0, r) for r in rates] == [1.0, -1.0, 1.0]


def test_each_copy_of_a_repeat_reads_its_own_input_shape() -> None:
    model, _ = check("Dense(16)\n    Dense(4, repeat=3)")
    assert model is not None
    assert [layer.input_shape for layer in model.layers] == [(8,), (16,), (4,), (4,), (4,)]
    assert [layer.trainable_params for layer in model.layers] == [144, 68, 20, 20, 10]
    assert len({layer.name for layer in model.layers}) == 5


def test_two_uses_of_one_block_keep_their_own_block_paths() -> None:
    """Both uses share the block's call (no parameter to fill in) and read [8], so the
    checker reuses its check of the first for the second: the block path is still each
    layer's own instance's, not the first's."""
    model, _ = check_source("block b { Dense(8) }\n" + SPEC.format(layers="b\n    b"), "reuse.net")
    assert model is not None
    first, second = model.layers[:2]
    assert first.input_shape == second.input_shape == (8,)
    assert [(use.name, use.block) for use in first.blocks] == [("b", "b")]
    assert [(use.name, use.block) for use in second.blocks] == [("b_1", "b")]
    assert first.blocks[0].span != second.blocks[0].span  # the two use sites
    assert first.span == second.span  # the block's one statement
