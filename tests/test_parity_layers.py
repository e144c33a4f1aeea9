"""One spec, one function: the Keras and PyTorch models of a spec agree, layer by layer.

For every layer kind in the catalogue, `CASES` holds one or more small specs (a layer alone,
or after the layer its input needs). Each is checked, compiled to both targets and imported;
random weights (non-zero biases, non-trivial moving statistics) go into the Keras model and
move to the PyTorch model through `netspec.weights`; both run in inference mode on the same
random input and must agree to 1e-5 (plus 1e-4 relative). A layer kind added to the catalogue
without a case here fails `test_every_layer_kind_has_a_parity_case`.

The seed specs get the same treatment in `test_seed_spec_parity`.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pytest
from conftest import SPEC_IDS, checked_model, generated_source, random_inputs, ruff_complaints

from netspec import catalogue, ir, weights
from netspec.codegen import generate
from netspec.frontend import check_source

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

# Keras' TensorFlow backend converts tensors with np.array(x), which NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

BATCH = 4
ATOL = 1e-5
RTOL = 1e-4
VOCABULARY = 11  # token ids of the Embedding cases are 0 … VOCABULARY - 1


@dataclass(frozen=True)
class Case:
    id: str
    input: tuple[int, ...]
    layers: tuple[str, ...]
    tokens: bool = False  # the input is token ids (Embedding), not real values

    def spec(self) -> str:
        body = "\n".join(f"    {layer}" for layer in self.layers)
        shape = ", ".join(str(d) for d in self.input)
        return (
            f"model parity_{self.id} {{\n  input [{shape}]\n  layers {{\n{body}\n  }}\n"
            "  loss mean_squared_error\n  optimizer SGD\n}\n"
        )


ACTIVATION_NAMES = catalogue.names("activation", include_aliases=False)


def _cases() -> dict[str, list[Case]]:
    c: dict[str, list[Case]] = {}
    c["Dense"] = [
        Case("dense", (5,), ("Dense(4)",)),
        Case("dense_no_bias", (5,), ("Dense(3, use_bias=false)",)),
        Case("dense_on_steps", (3, 5), ("Dense(4, activation=softmax)",)),
        *(Case(f"dense_{a}", (5,), (f"Dense(4, activation={a})",)) for a in ACTIVATION_NAMES),
    ]
    c["Activation"] = [
        *(Case(f"activation_{a}", (6,), (f"Activation({a})",)) for a in ACTIVATION_NAMES),
        # after a convolution the PyTorch tensor is channels-first: softmax over axis 1
        Case("activation_softmax_after_conv", (5, 5, 2), ("Conv2D(3, 2)", "Activation(softmax)")),
        Case("activation_log_softmax_on_steps", (3, 4), ("Activation(log_softmax)",)),
    ]
    c["Conv2D"] = [
        Case("conv_valid", (6, 6, 2), ("Conv2D(3, 3)",)),
        Case("conv_same_s1", (6, 5, 2), ("Conv2D(3, 3, padding=same)",)),
        Case("conv_same_s2_odd", (7, 7, 2), ("Conv2D(3, 3, strides=2, padding=same)",)),
        Case("conv_same_s2_even", (8, 8, 2), ("Conv2D(3, 3, strides=2, padding=same)",)),
        Case("conv_same_s2_mixed", (8, 7, 2), ("Conv2D(3, 2, strides=2, padding=same)",)),
        Case("conv_same_k4_asymmetric", (6, 6, 1), ("Conv2D(2, 4, padding=same)",)),
        Case("conv_same_dilated", (7, 6, 2), ("Conv2D(2, 3, dilation_rate=2, padding=same)",)),
        Case(
            "conv_rect_strides", (7, 8, 2), ("Conv2D(3, [3, 2], strides=[2, 1], activation=tanh)",)
        ),
        Case("conv_softmax", (5, 5, 2), ("Conv2D(4, 3, activation=softmax)",)),
        Case("conv_no_bias", (5, 5, 2), ("Conv2D(2, 2, use_bias=false, activation=relu)",)),
    ]
    c["Conv1D"] = [
        Case("conv1d_valid", (7, 3), ("Conv1D(4, 3)",)),
        Case("conv1d_same_s1", (6, 2), ("Conv1D(3, 3, padding=same)",)),
        Case("conv1d_same_k4_asymmetric", (6, 2), ("Conv1D(2, 4, padding=same)",)),
        Case("conv1d_same_s2_odd", (7, 2), ("Conv1D(3, 3, strides=2, padding=same)",)),
        Case("conv1d_same_s2_even", (8, 2), ("Conv1D(3, 3, strides=2, padding=same)",)),
        Case("conv1d_same_s3_k2", (8, 2), ("Conv1D(2, 2, strides=3, padding=same)",)),
        Case("conv1d_valid_s2", (9, 2), ("Conv1D(3, 3, strides=2, activation=tanh)",)),
        Case("conv1d_dilated_same", (9, 2), ("Conv1D(2, 3, dilation_rate=2, padding=same)",)),
        Case("conv1d_softmax", (6, 2), ("Conv1D(4, 2, activation=softmax)",)),
        Case("conv1d_no_bias_flatten", (6, 2), ("Conv1D(3, 2, use_bias=false)", "Flatten")),
        Case("conv1d_after_embedding", (6,), (f"Embedding({VOCABULARY}, 3)", "Conv1D(2, 3)"), tokens=True),
        Case("conv1d_then_lstm", (6, 2), ("Conv1D(3, 2, padding=same)", "LSTM(2)")),
    ]
    c["Conv2DTranspose"] = [
        Case("convt_valid", (3, 4, 2), ("Conv2DTranspose(3, 3)",)),
        Case("convt_valid_s2", (3, 4, 2), ("Conv2DTranspose(3, 3, strides=2)",)),
        Case("convt_valid_k2_s3", (3, 3, 2), ("Conv2DTranspose(2, 2, strides=3)",)),
        Case("convt_same_s1", (4, 3, 2), ("Conv2DTranspose(3, 3, padding=same)",)),
        Case("convt_same_s1_k4", (4, 3, 2), ("Conv2DTranspose(2, 4, padding=same)",)),
        Case("convt_same_s2_k3", (3, 4, 2), ("Conv2DTranspose(3, 3, strides=2, padding=same)",)),
        Case("convt_same_s2_k2", (3, 4, 2), ("Conv2DTranspose(3, 2, strides=2, padding=same)",)),
        Case("convt_same_s2_k4", (3, 3, 1), ("Conv2DTranspose(2, 4, strides=2, padding=same)",)),
        Case("convt_same_s3_k2", (3, 3, 2), ("Conv2DTranspose(2, 2, strides=3, padding=same)",)),
        Case(
            "convt_same_rect",
            (3, 4, 2),
            ("Conv2DTranspose(2, [5, 2], strides=[2, 3], padding=same, activation=relu)",),
        ),
        Case("convt_no_bias_after_conv", (6, 6, 1), ("Conv2D(2, 3)", "Conv2DTranspose(1, 3, use_bias=false)")),
    ]
    c["ZeroPadding2D"] = [
        Case("zeropad_int", (3, 4, 2), ("ZeroPadding2D",)),
        Case("zeropad_hw", (3, 4, 2), ("ZeroPadding2D([2, 1])",)),
        Case("zeropad_pairs", (3, 4, 2), ("ZeroPadding2D([[0, 2], [3, 1]])",)),
        Case("zeropad_conv", (4, 4, 2), ("ZeroPadding2D([[1, 0], [0, 1]])", "Conv2D(2, 3)")),
    ]
    c["UpSampling2D"] = [
        Case("upsample_nearest", (3, 4, 2), ("UpSampling2D",)),
        Case("upsample_nearest_rect", (3, 2, 2), ("UpSampling2D([3, 2])",)),
        Case("upsample_bilinear", (3, 4, 2), ("UpSampling2D(2, interpolation=bilinear)",)),
        Case("upsample_bilinear_rect", (3, 3, 1), ("UpSampling2D([3, 2], interpolation=bilinear)",)),
        Case("upsample_after_conv", (4, 4, 1), ("Conv2D(2, 3)", "UpSampling2D", "Flatten")),
    ]
    c["MaxPooling2D"] = [
        Case("maxpool_valid", (6, 6, 2), ("MaxPooling2D(2)",)),
        Case("maxpool_valid_s2_k3", (7, 7, 2), ("MaxPooling2D(3, strides=2)",)),
        Case("maxpool_same_odd", (7, 7, 2), ("MaxPooling2D(2, padding=same)",)),
        Case("maxpool_same_even_k3_s2", (8, 8, 2), ("MaxPooling2D(3, strides=2, padding=same)",)),
        Case("maxpool_same_s1", (5, 6, 2), ("MaxPooling2D(3, strides=1, padding=same)",)),
        # a window of negative values beside padding: padded cells must never win
        Case(
            "maxpool_same_after_conv", (7, 6, 2), ("Conv2D(2, 2)", "MaxPooling2D(2, padding=same)")
        ),
    ]
    c["AveragePooling2D"] = [
        Case("avgpool_valid", (6, 6, 2), ("AveragePooling2D(2)",)),
        Case("avgpool_same_odd", (7, 7, 2), ("AveragePooling2D(2, padding=same)",)),
        Case("avgpool_same_even", (6, 6, 2), ("AveragePooling2D(2, padding=same)",)),
        Case("avgpool_same_k3_s1", (5, 6, 2), ("AveragePooling2D(3, strides=1, padding=same)",)),
        Case(
            "avgpool_same_k3_s2_odd", (7, 7, 2), ("AveragePooling2D(3, strides=2, padding=same)",)
        ),
        Case(
            "avgpool_same_k3_s2_even", (8, 8, 2), ("AveragePooling2D(3, strides=2, padding=same)",)
        ),
        Case("avgpool_same_k2_s1", (5, 4, 2), ("AveragePooling2D(2, strides=1, padding=same)",)),
        Case(
            "avgpool_same_rect",
            (5, 6, 3),
            ("AveragePooling2D([2, 3], strides=[1, 2], padding=same)",),
        ),
    ]
    c["GlobalAveragePooling2D"] = [
        Case("gap", (5, 4, 3), ("GlobalAveragePooling2D",)),
        Case("gap_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "GlobalAveragePooling2D")),
    ]
    c["GlobalMaxPooling2D"] = [
        Case("gmp", (5, 4, 3), ("GlobalMaxPooling2D",)),
        Case("gmp_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "GlobalMaxPooling2D")),
    ]
    c["GlobalAveragePooling1D"] = [
        Case("gap1d", (5, 3), ("GlobalAveragePooling1D",)),
        Case("gap1d_after_conv1d", (6, 2), ("Conv1D(3, 3)", "GlobalAveragePooling1D")),
    ]
    c["GlobalMaxPooling1D"] = [
        Case("gmp1d", (5, 3), ("GlobalMaxPooling1D",)),
        Case("gmp1d_after_conv1d", (6, 2), ("Conv1D(3, 3)", "GlobalMaxPooling1D")),
    ]
    c["Permute"] = [
        Case("permute_2d", (3, 4), ("Permute([2, 1])",)),
        Case("permute_3d", (2, 3, 4), ("Permute([3, 1, 2])", "Flatten")),
        Case("permute_after_conv", (5, 4, 2), ("Conv2D(3, 2)", "Permute([2, 3, 1])", "Flatten")),
        Case("permute_then_dense", (3, 4), ("Permute([2, 1])", "Dense(2)")),
    ]
    c["BatchNormalization"] = [
        Case("bn_flat", (6,), ("BatchNormalization",)),
        Case("bn_steps", (4, 5), ("BatchNormalization",)),
        Case("bn_image", (5, 5, 3), ("BatchNormalization",)),
        Case("bn_volume", (2, 3, 3, 2), ("BatchNormalization",)),
        Case("bn_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "BatchNormalization(epsilon=0.01)")),
        Case("bn_then_dense", (6,), ("BatchNormalization(momentum=0.9)", "Dense(3)")),
    ]
    c["LayerNormalization"] = [
        Case("ln_flat", (6,), ("LayerNormalization",)),
        Case("ln_steps", (4, 5), ("LayerNormalization",)),
        Case("ln_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "LayerNormalization(epsilon=1e-5)")),
        # a narrow axis and a small epsilon: Keras' own x·inv + (beta - mean·inv) cancels badly
        Case("ln_one_feature", (3, 1), ("LayerNormalization(epsilon=1e-6)",)),
        Case("ln_two_features", (5, 2), ("LayerNormalization(epsilon=1e-5)",)),
    ]
    c["Dropout"] = [
        Case("dropout", (6,), ("Dropout(0.5)",)),
        Case("dropout_after_conv", (5, 5, 2), ("Conv2D(3, 2)", "Dropout(0.3)")),
    ]
    c["Identity"] = [
        Case("identity", (6,), ("Identity",)),
        Case("identity_after_conv", (5, 5, 2), ("Conv2D(3, 2)", "Identity", "Flatten")),
    ]
    c["Flatten"] = [
        Case("flatten", (3, 4, 2), ("Flatten",)),
        Case("flatten_after_conv", (6, 6, 2), ("Conv2D(3, 3)", "Flatten", "Dense(4)")),
        Case("flatten_after_pool", (6, 6, 2), ("MaxPooling2D(2)", "Flatten")),
    ]
    c["Reshape"] = [
        Case("reshape_to_image", (18,), ("Reshape([3, 3, 2])", "Conv2D(2, 2)")),
        Case("reshape_after_conv", (5, 5, 2), ("Conv2D(3, 2)", "Reshape([-1, 3])")),
    ]
    c["LSTM"] = [
        Case("lstm_last", (5, 3), ("LSTM(4)",)),
        Case("lstm_sequences", (5, 3), ("LSTM(4, return_sequences=true)",)),
        Case("lstm_no_bias", (4, 3), ("LSTM(2, use_bias=false)",)),
    ]
    c["GRU"] = [
        Case("gru_last", (5, 3), ("GRU(4)",)),
        Case("gru_sequences", (5, 3), ("GRU(4, return_sequences=true)",)),
        Case("gru_no_bias", (4, 3), ("GRU(2, use_bias=false)",)),
    ]
    c["SimpleRNN"] = [
        Case("rnn_last", (5, 3), ("SimpleRNN(4)",)),
        Case("rnn_sequences", (5, 3), ("SimpleRNN(4, return_sequences=true)",)),
        Case("rnn_relu_no_bias", (4, 3), ("SimpleRNN(2, activation=relu, use_bias=false)",)),
        Case("rnn_after_conv1d", (6, 2), ("Conv1D(3, 2)", "SimpleRNN(3)")),
    ]
    c["Bidirectional"] = [
        Case("bidi_lstm", (5, 3), ("Bidirectional(LSTM(4))",)),
        Case("bidi_lstm_sequences", (5, 3), ("Bidirectional(LSTM(3, return_sequences=true))",)),
        Case("bidi_gru", (5, 3), ("Bidirectional(layer=GRU(4))",)),
        Case("bidi_gru_sequences", (4, 2), ("Bidirectional(GRU(3, return_sequences=true))",)),
        Case("bidi_rnn", (5, 3), ("Bidirectional(SimpleRNN(4))",)),
        Case(
            "bidi_rnn_sequences_relu",
            (4, 3),
            ("Bidirectional(SimpleRNN(2, activation=relu, return_sequences=true))",),
        ),
        Case("bidi_lstm_no_bias", (4, 3), ("Bidirectional(LSTM(2, use_bias=false))",)),
        Case(
            "bidi_stacked",
            (5, 2),
            ("Bidirectional(LSTM(3, return_sequences=true))", "Bidirectional(GRU(2))", "Dense(2)"),
        ),
        Case(
            "bidi_twice_same_kind",
            (5, 2),
            ("Bidirectional(LSTM(2, return_sequences=true))", "Bidirectional(LSTM(3))"),
        ),
        Case("bidi_after_embedding", (6,), (f"Embedding({VOCABULARY}, 3)", "Bidirectional(LSTM(2))"), tokens=True),
    ]
    c["MultiHeadAttention"] = [
        Case("mha", (5, 6), ("MultiHeadAttention(2, 3)",)),
        Case("mha_value_output", (4, 6), ("MultiHeadAttention(3, 2, value_dim=4, output_shape=5)",)),
        Case("mha_one_head_no_bias", (5, 4), ("MultiHeadAttention(1, 4, use_bias=false)",)),
        Case("mha_dropout_inference", (5, 4), ("MultiHeadAttention(2, 2, dropout=0.3)",)),
        Case(
            "mha_transformer_block",
            (6,),
            (
                f"Embedding({VOCABULARY}, 8)",
                "PositionalEmbedding(10, 8)",
                "MultiHeadAttention(2, 4)",
                "LayerNormalization",
                "GlobalAveragePooling1D",
                "Dense(3)",
            ),
            tokens=True,
        ),
    ]
    c["PositionalEmbedding"] = [
        Case("posemb", (5, 4), ("PositionalEmbedding(5, 4)",)),
        Case("posemb_shorter_input", (3, 4), ("PositionalEmbedding(8, 4)",)),
        Case(
            "posemb_tokens",
            (6,),
            (f"Embedding({VOCABULARY}, 4)", "PositionalEmbedding(6, 4)"),
            tokens=True,
        ),
    ]
    c["Embedding"] = [
        Case("embedding", (6,), (f"Embedding({VOCABULARY}, 4)",), tokens=True),
        Case("embedding_gru", (5,), (f"Embedding({VOCABULARY}, 3)", "GRU(4)"), tokens=True),
    ]
    # Augmentation layers are the identity in inference (RandomCrop too: Keras 3 passes the
    # whole image through, so a case crops only where what follows does not mind the size);
    # tests/test_augmentation.py checks them in training.
    c["RandomFlip"] = [
        Case("random_flip", (5, 6, 2), ("RandomFlip",)),
        Case("random_flip_horizontal_conv", (6, 6, 2), ("RandomFlip(horizontal)", "Conv2D(2, 3)")),
    ]
    c["RandomCrop"] = [
        Case("random_crop_full_size", (6, 5, 2), ("RandomCrop(6, 5)",)),
        Case("random_crop_then_gap", (8, 8, 2), ("RandomCrop(6, 4)", "GlobalAveragePooling2D")),
    ]
    c["RandomTranslation"] = [
        Case("random_translation", (6, 6, 2), ("RandomTranslation(0.2, 0.1)",)),
        Case(
            "random_translation_after_conv",
            (6, 6, 1),
            ("Conv2D(2, 3)", "RandomTranslation([-0.1, 0.2], 0.3, fill_mode=constant)", "Flatten"),
        ),
    ]
    c["RandomRotation"] = [
        Case("random_rotation", (6, 6, 2), ("RandomRotation(0.1)",)),
        Case("random_rotation_nearest_conv", (7, 6, 1), ("RandomRotation(0.5, interpolation=nearest)", "Conv2D(2, 3)")),
    ]
    c["RandomZoom"] = [
        Case("random_zoom", (6, 6, 2), ("RandomZoom(0.2)",)),
        Case("random_zoom_two_factors_conv", (6, 7, 1), ("RandomZoom([-0.3, 0.1], 0.2, fill_mode=wrap)", "Conv2D(2, 3)")),
    ]
    c["RandomContrast"] = [
        Case("random_contrast", (5, 5, 3), ("RandomContrast(0.3)",)),
        Case("random_contrast_range_conv", (6, 6, 2), ("RandomContrast([0.2, 0.5], value_range=[-3, 3])", "Conv2D(2, 3)")),
    ]
    c["Rescaling"] = [
        Case("rescaling_flat", (5,), ("Rescaling(0.5, offset=-1)",)),
        Case("rescaling_image_conv", (6, 6, 2), ("Rescaling(1/255)", "Conv2D(2, 3)")),
        Case("rescaling_after_conv", (6, 6, 1), ("Conv2D(2, 3)", "Rescaling(2, 0.5)", "Flatten")),
    ]
    # Merges read named tensors (`input` is the model input). After a convolution the PyTorch
    # operands are channels-first: a merge of two feature maps stays so (Concatenate's axis
    # mapped to it); a feature map merged with a channels-last tensor is permuted back first.
    two_dense = ("a = Dense(4)", "b = Dense(4, activation=tanh)(input)")
    two_maps = ("a = Conv2D(3, 3, padding=same)", "b = Conv2D(3, 1, activation=relu)(input)")
    c["Add"] = [
        Case("add_dense", (5,), (*two_dense, "Add()(a, b)")),
        Case("add_maps", (5, 6, 2), (*two_maps, "Add()(a, b)")),
        Case("add_map_and_input", (5, 6, 3), (*two_maps, "Add()(a, input, b)")),
    ]
    c["Multiply"] = [
        Case("multiply_dense", (5,), (*two_dense, "Multiply()(a, b)")),
        Case("multiply_maps", (5, 6, 2), (*two_maps, "Multiply()(a, b)")),
    ]
    c["Average"] = [
        Case("average_dense", (5,), (*two_dense, "Average()(a, b, a)")),
        Case("average_map_and_input", (5, 6, 3), (*two_maps, "Average()(b, input, a)")),
    ]
    c["Concatenate"] = [
        Case("concat_dense", (5,), (*two_dense, "Concatenate()(a, b, input)")),
        Case("concat_steps", (3, 5), ("a = Dense(2)", "Concatenate(axis=1)(a, a)")),
        *(
            Case(f"concat_maps_axis_{name}", (5, 6, 2), (*two_maps, f"Concatenate({axis})(a, b)"))
            for name, axis in (("m1", -1), ("3", 3), ("1", 1), ("2", 2), ("m2", -2), ("m3", -3))
        ),
        Case("concat_map_and_input", (5, 6, 2), (*two_maps, "Concatenate()(a, input)")),
        Case("concat_map_and_input_rows", (5, 6, 3), (*two_maps, "Concatenate(1)(input, b)")),
    ]
    return c


CASES = _cases()
ALL_CASES = [case for kind in sorted(CASES) for case in CASES[kind]]


# --------------------------------------------------------------------------- helpers


def check_spec(text: str, name: str) -> ir.Model:
    model, diagnostics = check_source(text, name)
    errors = [d.message for d in diagnostics if d.severity.name == "ERROR"]
    assert model is not None and not errors, errors
    return model


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str, str], ModuleType]:
    """Imports a generated module from a temporary file."""
    folder = tmp_path_factory.mktemp("parity")

    def load_module(source: str, stem: str, target: str) -> ModuleType:
        path = folder / f"{stem}_{target}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"parity_{stem}_{target}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load_module


def random_weights(model: ir.Model, seed: int) -> dict[str, np.ndarray]:
    """Neutral weights: kernels scaled by their fan-in, every other tensor clearly non-trivial."""
    rng = np.random.default_rng(seed)
    result = {}
    for name, shape in weights.expected_shapes(model).items():
        kind = name.rsplit(".", 1)[1]
        if kind in ("gamma", "moving_variance"):
            array = rng.uniform(0.5, 2.0, shape)
        elif kind in ("kernel", "recurrent_kernel"):
            array = rng.standard_normal(shape) / math.sqrt(math.prod(shape[:-1]))
        else:  # biases, beta, moving means, embeddings
            array = rng.normal(0.0, 0.5, shape)
        result[name] = array.astype(np.float32)
    return result


def random_input(model: ir.Model, seed: int, tokens: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    shape = (BATCH, *model.inputs[0].shape)
    if tokens:
        return rng.integers(0, VOCABULARY, size=shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def run_both(
    model: ir.Model, keras_module: ModuleType, torch_module: ModuleType, x: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random weights into Keras, moved to PyTorch; both outputs in inference mode."""
    keras_model = keras_module.build_model()
    torch_model = torch_module.build_model()
    given = random_weights(model, seed)
    weights.import_weights(model, keras_model, given)
    exported = weights.export_weights(model, keras_model)
    assert exported.keys() == given.keys()
    for name, array in given.items():
        assert np.array_equal(exported[name], array), name
    weights.import_weights(model, torch_model, exported)
    back = weights.export_weights(model, torch_model)  # neutral → torch → neutral is exact
    for name, array in given.items():
        assert np.array_equal(back[name], array), name
    expected = np.asarray(keras_model(x, training=False))
    torch_model.eval()
    with torch.no_grad():
        actual = torch_model(torch.from_numpy(x)).numpy()
    return expected, actual


def assert_same_function(expected: np.ndarray, actual: np.ndarray) -> float:
    assert expected.shape == actual.shape
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
    return float(np.max(np.abs(actual - expected))) if expected.size else 0.0


# --------------------------------------------------------------------------- tests


def test_every_layer_kind_has_a_parity_case() -> None:
    kinds = {entry.kind for entry in catalogue.entries("layer")}
    missing = sorted(kinds - set(CASES))
    assert not missing, (
        f"layer kinds without a parity case in tests/test_parity_layers.py: {missing}"
    )
    assert not set(CASES) - kinds, "cases for layer kinds the catalogue does not have"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_case_uses_its_layer_kind(kind: str) -> None:
    for case in CASES[kind]:
        model = check_spec(case.spec(), f"{case.id}.net")
        assert kind in {layer.kind for layer in model.layers}, case.id


def test_every_activation_is_covered() -> None:
    ids = {case.id for case in ALL_CASES}
    for name in ACTIVATION_NAMES:
        assert f"dense_{name}" in ids and f"activation_{name}" in ids


def test_parameter_counts_match_both_frameworks(load) -> None:
    """The checker's counts are Keras' (trainable, non-trainable) and PyTorch's parameters."""
    for case in ALL_CASES:
        model = check_spec(case.spec(), f"{case.id}.net")
        keras_model = load(generate(model, "keras"), f"count_{case.id}", "keras").build_model()
        torch_model = load(generate(model, "torch"), f"count_{case.id}", "torch").build_model()
        trainable = sum(math.prod(w.shape) for w in keras_model.trainable_weights)
        frozen = sum(math.prod(w.shape) for w in keras_model.non_trainable_weights)
        assert (trainable, frozen) == (model.trainable_params, model.non_trainable_params), case.id
        assert sum(p.numel() for p in torch_model.parameters()) == model.trainable_params, case.id
        neutral = sum(math.prod(s) for s in weights.expected_shapes(model).values())
        assert neutral == trainable + frozen, case.id
        maps = [w for _, w in weights.weight_maps(model).values()]
        assert sum(math.prod(w.shape) for w in maps if w.trainable) == trainable, case.id


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_layer_parity(case: Case, load) -> None:
    model = check_spec(case.spec(), f"{case.id}.net")
    keras_module = load(generate(model, "keras"), case.id, "keras")
    torch_module = load(generate(model, "torch"), case.id, "torch")
    seed = sum(map(ord, case.id))
    x = random_input(model, seed, case.tokens)
    expected, actual = run_both(model, keras_module, torch_module, x, seed)
    assert expected.shape == (BATCH, *model.output_shape)
    assert assert_same_function(expected, actual) <= ATOL  # absolute, whatever the magnitude


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_seed_spec_parity(stem: str, load) -> None:
    """Same weights in, same predictions out, for every spec in specs/."""
    model = checked_model(stem)
    keras_module = load(generated_source(stem, "keras"), f"seed_{stem}", "keras")
    torch_module = load(generated_source(stem, "torch"), f"seed_{stem}", "torch")
    large = sum(math.prod(source.shape) for source in model.inputs) > 100_000
    xs = random_inputs(model, 1 if large else BATCH, 7)  # one VGG16-sized sample is enough
    if len(xs) == 1 and len(model.outputs) == 1:
        expected, actual = run_both(model, keras_module, torch_module, xs[0], 7)
        assert_same_function(expected, actual)
        return
    # several inputs or outputs: the weights moved by layer name, each output compared
    keras_model = keras_module.build_model()
    torch_model = torch_module.build_model().eval()
    weights.import_weights(model, keras_model, random_weights(model, 7))
    weights.import_weights(model, torch_model, weights.export_weights(model, keras_model))
    expected = keras_model(xs if len(xs) > 1 else xs[0], training=False)
    with torch.no_grad():
        actual = torch_model(*(torch.from_numpy(x) for x in xs))
    if len(model.outputs) == 1:
        expected, actual = [expected], [actual]
    assert len(expected) == len(actual) == len(model.outputs)
    for e, a in zip(expected, actual, strict=True):
        assert_same_function(np.asarray(e), a.numpy())


@pytest.mark.parametrize("features,epsilon", [(1, 1e-6), (1, 1e-3), (2, 1e-5), (2, 1e-7)])
def test_narrow_layer_norm_is_float64_exact_on_both(features: int, epsilon: float, load) -> None:
    """LayerNormalization over 1-2 features with a small epsilon, against float64: both
    modules within a few float32 ulps of the output's scale (Keras' own layer was off by up to
    8.6e-5, PyTorch by 2e-7)."""
    case = Case(f"ln_narrow_{features}", (8, features), (f"LayerNormalization(epsilon={epsilon})",))
    model = check_spec(case.spec(), f"{case.id}.net")
    keras_module = load(generate(model, "keras"), f"{case.id}_{epsilon}", "keras")
    torch_module = load(generate(model, "torch"), f"{case.id}_{epsilon}", "torch")
    rng = np.random.default_rng(features)
    x = (rng.standard_normal((BATCH, 8, features)) * 3 + 5).astype(np.float32)
    expected, actual = run_both(model, keras_module, torch_module, x, seed=features)
    given = random_weights(model, features)
    gamma, beta = (given[f"layer_normalization.{k}"].astype(np.float64) for k in ("gamma", "beta"))
    x64 = x.astype(np.float64)
    centered = x64 - x64.mean(-1, keepdims=True)
    exact = centered / np.sqrt((centered**2).mean(-1, keepdims=True) + epsilon) * gamma + beta
    scale = max(1.0, float(np.abs(exact).max()))
    for name, out in (("keras", expected), ("torch", actual)):
        error = float(np.abs(out - exact).max()) / scale
        assert error < 1e-6, (name, error)


def test_batch_norm_momentum_is_stated_both_ways() -> None:
    model = check_spec(Case("bn", (4,), ("BatchNormalization",)).spec(), "bn.net")
    assert "momentum=0.99" in generate(model, "keras")
    assert "epsilon=0.001" in generate(model, "keras")
    assert "nn.BatchNorm1d(4, eps=0.001, momentum=0.01)" in generate(model, "torch")


def test_a_wrong_gate_order_breaks_parity(load) -> None:
    """The negative control: GRU weights moved without the gate reorder give another function."""
    case = Case("gru_naive", (5, 3), ("GRU(4)",))
    model = check_spec(case.spec(), "gru_naive.net")
    keras_model = load(generate(model, "keras"), case.id, "keras").build_model()
    torch_model = load(generate(model, "torch"), case.id, "torch").build_model()
    given = random_weights(model, 0)
    weights.import_weights(model, keras_model, given)
    with torch.no_grad():  # transposed, but gates left in Keras' order [z, r, h]
        torch_model.gru.weight_ih_l0.copy_(torch.from_numpy(given["gru.kernel"].T.copy()))
        torch_model.gru.weight_hh_l0.copy_(torch.from_numpy(given["gru.recurrent_kernel"].T.copy()))
        torch_model.gru.bias_ih_l0.copy_(torch.from_numpy(given["gru.bias"][0]))
        torch_model.gru.bias_hh_l0.copy_(torch.from_numpy(given["gru.bias"][1]))
    x = random_input(model, 0)
    expected = np.asarray(keras_model(x, training=False))
    with torch.no_grad():
        actual = torch_model.eval()(torch.from_numpy(x)).numpy()
    assert not np.allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_a_flipped_transposed_kernel_breaks_parity(load) -> None:
    """The negative control for Conv2DTranspose's map (a plain transpose, no spatial flip):
    the kernel flipped in height and width, as a convolution-as-correlation view would
    suggest, gives another function."""
    case = Case("convt_flipped", (3, 4, 2), ("Conv2DTranspose(3, 3, strides=2, padding=same)",))
    model = check_spec(case.spec(), "convt_flipped.net")
    keras_model = load(generate(model, "keras"), case.id, "keras").build_model()
    torch_model = load(generate(model, "torch"), case.id, "torch").build_model()
    given = random_weights(model, 1)
    weights.import_weights(model, keras_model, given)
    flipped = {**given, "conv2d_transpose.kernel": given["conv2d_transpose.kernel"][::-1, ::-1].copy()}
    weights.import_weights(model, torch_model, flipped)
    x = random_input(model, 1)
    expected = np.asarray(keras_model(x, training=False))
    with torch.no_grad():
        actual = torch_model.eval()(torch.from_numpy(x)).numpy()
    assert not np.allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_attention_initialisation_uses_keras_fans(load) -> None:
    """Both targets draw each MultiHeadAttention kernel within the same Glorot bound: Keras
    counts the fans of a 3-axis kernel over its input and output axes, as nn.Linear's."""
    case = Case("mha_init", (4, 64), ("MultiHeadAttention(8, 16, output_shape=32)",))
    model = check_spec(case.spec(), "mha_init.net")
    torch.manual_seed(0)
    attention = load(generate(model, "torch"), case.id, "torch").build_model().multi_head_attention
    keras_model = load(generate(model, "keras"), case.id, "keras").build_model()
    kernels = {v.path.split("/")[-2]: v.numpy() for v in keras_model.weights if v.name == "kernel"}
    bounds = {  # sqrt(6 / (fan_in + fan_out)), fans over the input and output axes
        "query": math.sqrt(6 / (64 + 8 * 16)),
        "value": math.sqrt(6 / (64 + 8 * 16)),
        "attention_output": math.sqrt(6 / (8 * 16 + 32)),
    }
    for name, bound in bounds.items():
        drawn = getattr(attention, name).weight.detach().abs().max().item()
        assert 0.95 * bound < drawn <= bound, name
        assert 0.95 * bound < np.abs(kernels[name]).max() <= bound, name
    assert all(attention.query.bias == 0)


def test_batch_norm_training_update_differs_as_documented(load) -> None:
    """Training mode: same normalisation, same moving mean; the moving variance takes the
    biased batch variance in Keras and the unbiased one in PyTorch (BatchNormalization's
    docstring)."""
    case = Case("bn_train", (3,), ("BatchNormalization",))
    model = check_spec(case.spec(), "bn_train.net")
    keras_model = load(generate(model, "keras"), case.id, "keras").build_model()
    torch_model = load(generate(model, "torch"), case.id, "torch").build_model()
    given = random_weights(model, 3)
    weights.import_weights(model, keras_model, given)
    weights.import_weights(model, torch_model, given)
    x = random_input(model, 3)
    expected = np.asarray(keras_model(x, training=True))
    actual = torch_model.train()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
    after_keras = weights.export_weights(model, keras_model)
    after_torch = weights.export_weights(model, torch_model)
    mean, variance = (
        given["batch_normalization.moving_mean"],
        given["batch_normalization.moving_variance"],
    )
    n = len(x)
    np.testing.assert_allclose(
        after_keras["batch_normalization.moving_mean"], 0.99 * mean + 0.01 * x.mean(0), rtol=1e-5
    )
    np.testing.assert_allclose(
        after_torch["batch_normalization.moving_mean"], 0.99 * mean + 0.01 * x.mean(0), rtol=1e-5
    )
    biased = x.var(0)
    np.testing.assert_allclose(
        after_keras["batch_normalization.moving_variance"],
        0.99 * variance + 0.01 * biased,
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        after_torch["batch_normalization.moving_variance"],
        0.99 * variance + 0.01 * biased * n / (n - 1),
        rtol=1e-5,
    )


def test_generated_modules_of_every_case_pass_ruff(tmp_path) -> None:
    """`ruff check` and `ruff format --check` (the project's config) on both modules of every
    case, as test_codegen does for specs."""
    for case in ALL_CASES:
        model = check_spec(case.spec(), f"{case.id}.net")
        for target in ("keras", "torch"):
            (tmp_path / f"{case.id}_{target}.py").write_text(generate(model, target))
    complaints = ruff_complaints(tmp_path)
    assert not complaints, complaints
