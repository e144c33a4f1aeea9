"""The loss and optimizer code generated modules contain, tested as the real Python it is.

netspec/codegen/snippets/torch_losses.py and keras_optimizers.py are copied into generated
modules by name; here they are imported directly, and every name the catalogue gives them
must resolve to a definition there.
"""

from __future__ import annotations

import numpy as np
import pytest

from netspec import catalogue
from netspec.codegen.snippets import definition


def _params(entry: catalogue.Entry, **values: object):
    return type(entry).Params(**values)


def test_every_loss_helper_and_keras_optimizer_class_is_a_snippet() -> None:
    helpers = set()
    for cls in catalogue.entries("loss"):
        for logits in (False, True):
            values = {"from_logits": logits} if "from_logits" in cls.Params.model_fields else {}
            helper = cls().torch(cls.Params(**values)).helper
            if helper is not None:
                helpers.add(helper)
                assert definition("torch_losses", helper).startswith(f"def {helper}(")
    assert helpers == {
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
    }
    for cls in catalogue.entries("optimizer"):
        name = cls().keras_defines(cls.Params(), clip_norm=1.0)
        assert name == cls.keras_class
        source = definition("keras_optimizers", name)
        assert source.startswith('@keras.saving.register_keras_serializable(package="netspec")\n')
        assert f"\nclass {name}(keras.optimizers.Optimizer):\n" in source
    method = definition("keras_optimizers", "TorchClipping._clip_gradients")
    assert method.startswith("    def _clip_gradients(self, grads: list) -> list:\n")


def test_typed_getters_return_entries_of_their_family() -> None:
    assert isinstance(catalogue.layer("Dense"), catalogue.LayerEntry)
    assert catalogue.loss("mse").kind == "mean_squared_error"  # aliases resolve
    assert catalogue.optimizer("Adam").keras_class == "NetspecAdam"
    assert catalogue.metric("acc").higher_is_better
    assert catalogue.schedule("cosine").formula.startswith("lr ×")
    with pytest.raises(LookupError, match="the catalogue has no loss 'Dense'"):
        catalogue.loss("Dense")
    with pytest.raises(TypeError, match="not a LossEntry"):
        catalogue.get("layer", "Dense", catalogue.LossEntry)


def test_torch_loss_helpers_agree_with_torch_away_from_the_clip() -> None:
    torch = pytest.importorskip("torch")
    from netspec.codegen.snippets import torch_losses

    generator = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(6, 4, generator=generator), dim=-1)
    labels = torch.tensor([0, 3, 1, 2, 2, 0])
    expected = torch.nn.functional.nll_loss(torch.log(probs), labels)
    sparse = torch_losses.sparse_categorical_crossentropy(probs, labels)
    one_hot = torch.nn.functional.one_hot(labels, 4).float()
    categorical = torch_losses.categorical_crossentropy(probs, one_hot)
    assert float(sparse) == pytest.approx(float(expected), rel=1e-6)
    assert float(categorical) == pytest.approx(float(expected), rel=1e-6)
    p = torch.sigmoid(torch.randn(6, 1, generator=generator))
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0], [1.0], [0.0]])
    binary = torch_losses.binary_crossentropy(p, y, reduction="none")
    assert binary.shape == (6, 1)
    expected = torch.nn.functional.binary_cross_entropy(p, y, reduction="none")
    assert torch.allclose(binary, expected, rtol=1e-6)
    # at 0 and 1 the clip keeps the loss finite (log(EPSILON)), as Keras' does
    wrong = torch.tensor([0.0, 1.0], dtype=torch.float64)
    edge = torch_losses.binary_crossentropy(wrong, 1.0 - wrong)
    assert float(edge) == pytest.approx(-np.log(torch_losses.EPSILON), rel=1e-9)


def test_keras_sgd_snippet_steps_as_torch_sgd_and_clips_as_torch() -> None:
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    from netspec.codegen.snippets import keras_optimizers as snippet

    class ClippedSGD(snippet.TorchClipping, snippet.NetspecSGD):
        pass

    start = np.array([1.0, -2.0, 0.5], dtype="float32")
    grads = [np.array([3.0, 4.0, 0.0], dtype="float32"), np.array([-1.0, 0.5, 2.0], dtype="float32")]
    weight = keras.Variable(start.copy())
    optimizer = ClippedSGD(learning_rate=0.1, momentum=0.9, nesterov=True, global_clipnorm=1.0)
    parameter = torch.nn.Parameter(torch.tensor(start.copy()))
    reference = torch.optim.SGD([parameter], lr=0.1, momentum=0.9, nesterov=True)
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), weight)])
        parameter.grad = torch.tensor(g)
        torch.nn.utils.clip_grad_norm_([parameter], max_norm=1.0)
        reference.step()
    np.testing.assert_allclose(np.asarray(weight), parameter.detach().numpy(), rtol=1e-6)
