"""Image augmentation and rescaling: Keras 3's preprocessing layers, on both targets.

The random layers change images only while training and pass them through in inference
(RandomCrop: a central window resized to the crop, as Keras documents). Their factors follow Keras' rules
to the letter: a number f is the range [-f, f] (RandomContrast: [0, f]), a pair [lower, upper]
a range, sorted as Keras sorts it. The Keras lowering is Keras' own layer with the factor as
the spec wrote it; the PyTorch lowering is a generated module (codegen/snippets/
torch_augment.py) given the range Keras derives from it, which computes what Keras'
TensorFlow kernels compute. Both draw from their framework's generator, so one seed gives
different augmentations on the two targets, drawn from the same distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from netspec import ir
from netspec.catalogue.base import Layout, PyCall, ShapeError, TorchLowering
from netspec.catalogue.layer import Example, LayerEntry
from netspec.catalogue.shapes import fmt

# The module-level functions the PyTorch affine layers (translation, rotation, zoom) use.
AFFINE_HELPERS = ("affine_transform_images", "map_coordinates", "round_half_away", "uniform_draws")

FillMode = Literal["reflect", "wrap", "constant", "nearest"]
Interpolation = Literal["bilinear", "nearest"]

_FILL_MODE = (
    "how points outside the image are filled: reflect (dcba|abcd|dcba), wrap, "
    "constant (fill_value) or nearest (the edge pixel)"
)
_INTERPOLATION = "bilinear or nearest"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _factor(low: float, high: float, low_open: bool = False) -> Callable[[Any], Any]:
    """A validator of Keras' factor forms: a number, or a pair [lower, upper], each within
    [low, high] (or (low, high] with `low_open`); the value is kept as the spec wrote it."""
    bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]"

    def inside(v: Any) -> bool:
        return _number(v) and (v > low if low_open else v >= low) and v <= high

    def check(value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(map(inside, value)):
            return (float(value[0]), float(value[1]))
        if inside(value):
            return float(value)
        raise PydanticCustomError(
            "factor_form",
            "expected a number in {bounds} or a pair [lower, upper] of such numbers",
            {"bounds": bounds},
        )

    return check


SignedFactor = Annotated[float | tuple[float, float], BeforeValidator(_factor(-1.0, 1.0))]
ZoomFactor = Annotated[float | tuple[float, float], BeforeValidator(_factor(-1.0, 1.0, True))]


def _contrast_factor(value: Any) -> Any:
    """Keras' RandomContrast factor: a number in [0, 1], or a pair whose second is ≥ 0 (each
    in [-1, 1] here, so the contrast factor stays within [0, 2])."""
    if _number(value) and 0 <= value <= 1:
        return float(value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(_number(v) and -1 <= v <= 1 for v in value)
        and value[1] >= 0
    ):
        return (float(value[0]), float(value[1]))
    raise PydanticCustomError(
        "factor_form",
        "expected a number in [0, 1] or a pair [lower, upper] in [-1, 1] with upper ≥ 0",
    )


ContrastFactor = Annotated[float | tuple[float, float], BeforeValidator(_contrast_factor)]


def _value_range(value: Any) -> Any:
    pair = isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_number, value))
    if pair and value[0] < value[1]:
        return (float(value[0]), float(value[1]))
    raise PydanticCustomError("value_range", "expected a pair [low, high] with low < high")


ValueRange = Annotated[tuple[float, float], BeforeValidator(_value_range)]


def signed_range(factor: float | tuple[float, float]) -> tuple[float, float]:
    """Keras' range of a factor: f → (-|f|, |f|); a pair, sorted."""
    if isinstance(factor, tuple):
        lower, upper = sorted(factor)
        return (lower, upper)
    return (-abs(factor), abs(factor))


def contrast_range(factor: float | tuple[float, float]) -> tuple[float, float]:
    """RandomContrast's (lower, upper): f → (0, f), Keras' rule (its contrast factor is then
    drawn from [1 - lower, 1 + upper], so a number never lowers the contrast); a pair, sorted."""
    if isinstance(factor, tuple):
        lower, upper = sorted(factor)
        return (lower, upper)
    return (max(-factor, 0.0), factor)


def _image(kind: str, shape: ir.Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        hint = (
            "augmentation layers read images; put them first in layers { } of an image "
            "input such as input [28, 28, 1]"
        )
        if len(shape) == 1:
            hint = f"a flat input of {shape[0]} values needs Reshape([height, width, channels]) first"
        raise ShapeError(
            "E0205",
            f"{kind} needs a [height, width, channels] input per sample, got {fmt(shape)}",
            hint=hint,
        )
    return shape[0], shape[1], shape[2]


class _Augmentation(LayerEntry):
    """Shared by the image layers: an image in, an image of the same shape out, no weights."""

    def output_shape(self, p: Any, shape: ir.Shape) -> ir.Shape:
        _image(self.kind, shape)
        return shape

    def lowering(self, layer: ir.Layer, module: PyCall, helpers: tuple[str, ...] = ()) -> TorchLowering:
        return TorchLowering(
            modules=((layer.name, module),),
            layout=Layout.CHANNELS_FIRST,
            helpers=(module.func, *helpers),
        )


class RandomFlipParams(ir.Params):
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = Field(
        "horizontal_and_vertical",
        description="horizontal (left-right), vertical (top-bottom) or horizontal_and_vertical "
        "(both at once, one draw: a half turn)",
    )


class RandomFlip(_Augmentation):
    """In training, each image is flipped with probability 1/2 (one draw per image).

    `horizontal_and_vertical` flips both ways together on one draw, as Keras does: half the
    images turn by 180°, the others stay; no image is flipped one way only.
    """

    kind = "RandomFlip"
    Params = RandomFlipParams
    positional = ("mode",)
    summary = "flips images at random while training"
    shape_rule = "unchanged, `[h, w, c]`"

    # Augmentation layers are the identity in inference (RandomCrop too: Keras 3 passes the
    # whole image through, so an example crops only where what follows does not mind the size);
    # tests/test_augmentation.py checks them in training.
    examples = (
        Example("random_flip", (5, 6, 2), ("RandomFlip",)),
        Example(
            "random_flip_horizontal_conv",
            (6, 6, 2),
            ("RandomFlip(horizontal)", "Conv2D(2, 3)"),
        ),
    )

    def keras(self, p: RandomFlipParams, layer: ir.Layer) -> PyCall:
        return PyCall("layers.RandomFlip", (), {"mode": p.mode})

    def torch(self, p: RandomFlipParams, layer: ir.Layer) -> TorchLowering:
        return self.lowering(layer, PyCall("RandomFlip", (), {"mode": p.mode}))


class RandomCropParams(ir.Params):
    height: int = Field(gt=0, description="height of the crop, at most the input's")
    width: int = Field(gt=0, description="width of the crop, at most the input's")


class RandomCrop(_Augmentation):
    """In training, a height × width window of each batch (one offset per batch, as Keras).

    Where the input is larger along both axes the offset is uniform over every position; where
    one axis already has the crop's size, Keras takes the centred window. In inference, the
    rule Keras documents: the largest central window of the crop's aspect ratio, resized
    (bilinear) to height × width, so the shape is the same in training and inference. (Keras
    3.15's own layer passes the image through in inference, keras-team/keras#21868; the Keras
    module uses a subclass, CenteredRandomCrop, that keeps the documented rule.)
    """

    kind = "RandomCrop"
    Params = RandomCropParams
    positional = ("height", "width")
    summary = "crops a random window while training"
    shape_rule = "`[h, w, c]` → `[height, width, c]`, in training and inference"
    notes = "A crop larger than the input is E0202."

    examples = (
        Example("random_crop_full_size", (6, 5, 2), ("RandomCrop(6, 5)",)),
        Example("random_crop_then_gap", (8, 8, 2), ("RandomCrop(6, 4)", "GlobalAveragePooling2D")),
    )

    def output_shape(self, p: RandomCropParams, shape: ir.Shape) -> ir.Shape:
        height, width, channels = _image("RandomCrop", shape)
        for axis, size, wanted in (("height", height, p.height), ("width", width, p.width)):
            if wanted > size:
                raise ShapeError(
                    "E0202",
                    f"RandomCrop window [{p.height}, {p.width}] is larger than its input "
                    f"{fmt(shape)} ({axis} {size} < {wanted})",
                    hint=f"crop at most the input's size: {axis} ≤ {size}",
                    arg=axis,
                )
        return (p.height, p.width, channels)

    def keras(self, p: RandomCropParams, layer: ir.Layer) -> PyCall:
        return PyCall("CenteredRandomCrop", (), {"height": p.height, "width": p.width})

    def keras_helpers(self, p: RandomCropParams) -> tuple[str, ...]:
        return ("CenteredRandomCrop",)

    def torch(self, p: RandomCropParams, layer: ir.Layer) -> TorchLowering:
        return self.lowering(layer, PyCall("RandomCrop", (), {"height": p.height, "width": p.width}))


class RandomTranslationParams(ir.Params):
    height_factor: SignedFactor = Field(
        description="vertical shift as a fraction of the height: f means [-f, f], [lower, "
        "upper] a range, each in [-1, 1]; positive moves the image down"
    )
    width_factor: SignedFactor = Field(
        description="horizontal shift as a fraction of the width, as height_factor; positive "
        "moves the image right"
    )
    fill_mode: FillMode = Field("reflect", description=_FILL_MODE)
    interpolation: Interpolation = Field("bilinear", description=_INTERPOLATION)
    fill_value: float = Field(0.0, description="the value outside the image with fill_mode=constant")


class RandomTranslation(_Augmentation):
    """In training, each image is shifted by its own random amount: dy = u·height rows down,
    dx = v·width columns right, u and v uniform in the factors' ranges (one pair per image)."""

    kind = "RandomTranslation"
    Params = RandomTranslationParams
    positional = ("height_factor", "width_factor")
    summary = "shifts images at random while training"
    shape_rule = "unchanged, `[h, w, c]`"

    examples = (
        Example("random_translation", (6, 6, 2), ("RandomTranslation(0.2, 0.1)",)),
        Example(
            "random_translation_after_conv",
            (6, 6, 1),
            ("Conv2D(2, 3)", "RandomTranslation([-0.1, 0.2], 0.3, fill_mode=constant)", "Flatten"),
        ),
    )

    def keras(self, p: RandomTranslationParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.RandomTranslation",
            (),
            {
                "height_factor": p.height_factor,
                "width_factor": p.width_factor,
                "fill_mode": p.fill_mode,
                "interpolation": p.interpolation,
                "fill_value": p.fill_value,
            },
        )

    def torch(self, p: RandomTranslationParams, layer: ir.Layer) -> TorchLowering:
        module = PyCall(
            "RandomTranslation",
            (),
            {
                "height_factor": signed_range(p.height_factor),
                "width_factor": signed_range(p.width_factor),
                "fill_mode": p.fill_mode,
                "interpolation": p.interpolation,
                "fill_value": p.fill_value,
            },
        )
        return self.lowering(layer, module, AFFINE_HELPERS)


class RandomRotationParams(ir.Params):
    factor: SignedFactor = Field(
        description="angle as a fraction of a full turn: f means [-f, f], [lower, upper] a "
        "range, each in [-1, 1]; positive turns counter-clockwise"
    )
    fill_mode: FillMode = Field("reflect", description=_FILL_MODE)
    interpolation: Interpolation = Field("bilinear", description=_INTERPOLATION)
    fill_value: float = Field(0.0, description="the value outside the image with fill_mode=constant")


class RandomRotation(_Augmentation):
    """In training, each image is turned about its centre by its own random angle, uniform in
    [lower·360°, upper·360°]; positive angles turn it counter-clockwise as displayed."""

    kind = "RandomRotation"
    Params = RandomRotationParams
    positional = ("factor",)
    summary = "rotates images at random while training"
    shape_rule = "unchanged, `[h, w, c]`"

    examples = (
        Example("random_rotation", (6, 6, 2), ("RandomRotation(0.1)",)),
        Example(
            "random_rotation_nearest_conv",
            (7, 6, 1),
            ("RandomRotation(0.5, interpolation=nearest)", "Conv2D(2, 3)"),
        ),
    )

    def keras(self, p: RandomRotationParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.RandomRotation",
            (),
            {
                "factor": p.factor,
                "fill_mode": p.fill_mode,
                "interpolation": p.interpolation,
                "fill_value": p.fill_value,
            },
        )

    def torch(self, p: RandomRotationParams, layer: ir.Layer) -> TorchLowering:
        module = PyCall(
            "RandomRotation",
            (),
            {
                "factor": signed_range(p.factor),
                "fill_mode": p.fill_mode,
                "interpolation": p.interpolation,
                "fill_value": p.fill_value,
            },
        )
        return self.lowering(layer, module, AFFINE_HELPERS)


class RandomZoomParams(ir.Params):
    height_factor: ZoomFactor = Field(
        description="vertical zoom: the scale is 1 + u, u uniform in [-f, f] for a number f "
        "or in [lower, upper], each in (-1, 1]; positive zooms out"
    )
    width_factor: ZoomFactor | None = Field(
        None, description="horizontal zoom, as height_factor; none: the height's scale (aspect kept)"
    )
    fill_mode: FillMode = Field("reflect", description=_FILL_MODE)
    interpolation: Interpolation = Field("bilinear", description=_INTERPOLATION)
    fill_value: float = Field(0.0, description="the value outside the image with fill_mode=constant")


class RandomZoom(_Augmentation):
    """In training, each image is scaled about its centre by its own random factors: output
    (x, y) reads input (cx + z_w·(x − cx), cy + z_h·(y − cy)), z = 1 + u, so z > 1 zooms out."""

    kind = "RandomZoom"
    Params = RandomZoomParams
    positional = ("height_factor", "width_factor")
    summary = "zooms images at random while training"
    shape_rule = "unchanged, `[h, w, c]`"

    examples = (
        Example("random_zoom", (6, 6, 2), ("RandomZoom(0.2)",)),
        Example(
            "random_zoom_two_factors_conv",
            (6, 7, 1),
            ("RandomZoom([-0.3, 0.1], 0.2, fill_mode=wrap)", "Conv2D(2, 3)"),
        ),
    )

    def keras(self, p: RandomZoomParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.RandomZoom",
            (),
            {
                "height_factor": p.height_factor,
                "width_factor": p.width_factor,
                "fill_mode": p.fill_mode,
                "interpolation": p.interpolation,
                "fill_value": p.fill_value,
            },
        )

    def torch(self, p: RandomZoomParams, layer: ir.Layer) -> TorchLowering:
        width = None if p.width_factor is None else signed_range(p.width_factor)
        module = PyCall(
            "RandomZoom",
            (),
            {
                "height_factor": signed_range(p.height_factor),
                "width_factor": width,
                "fill_mode": p.fill_mode,
                "interpolation": p.interpolation,
                "fill_value": p.fill_value,
            },
        )
        return self.lowering(layer, module, AFFINE_HELPERS)


class RandomContrastParams(ir.Params):
    factor: ContrastFactor = Field(
        description="contrast change: the factor is drawn from [1 - lower, 1 + upper]; a "
        "number f means [1, 1 + f] (Keras' rule), a pair [lower, upper] the range above"
    )
    value_range: ValueRange = Field(
        (0.0, 255.0), description="[low, high] of the images' values; outputs are clipped to it"
    )


class RandomContrast(_Augmentation):
    """In training, y = clip((x − m)·f + m, low, high) per image: m the mean of each channel
    over the image, f one factor per image, uniform in [1 − lower, 1 + upper]."""

    kind = "RandomContrast"
    Params = RandomContrastParams
    positional = ("factor",)
    summary = "changes the contrast at random while training"
    shape_rule = "unchanged, `[h, w, c]`"

    examples = (
        Example("random_contrast", (5, 5, 3), ("RandomContrast(0.3)",)),
        Example(
            "random_contrast_range_conv",
            (6, 6, 2),
            ("RandomContrast([0.2, 0.5], value_range=[-3, 3])", "Conv2D(2, 3)"),
        ),
    )

    def keras(self, p: RandomContrastParams, layer: ir.Layer) -> PyCall:
        return PyCall(
            "layers.RandomContrast", (), {"factor": p.factor, "value_range": p.value_range}
        )

    def torch(self, p: RandomContrastParams, layer: ir.Layer) -> TorchLowering:
        module = PyCall(
            "RandomContrast",
            (),
            {"factor": contrast_range(p.factor), "value_range": p.value_range},
        )
        return self.lowering(layer, module, ("uniform_draws",))


class RescalingParams(ir.Params):
    scale: float = Field(description="multiplies every value, e.g. 1/255")
    offset: float = Field(0.0, description="added after scaling")


class Rescaling(LayerEntry):
    """y = x·scale + offset, element-wise, in training and inference alike; any shape."""

    kind = "Rescaling"
    Params = RescalingParams
    positional = ("scale", "offset")
    summary = "multiplies by scale and adds offset"
    shape_rule = "unchanged, any rank"

    examples = (
        Example("rescaling_flat", (5,), ("Rescaling(0.5, offset=-1)",)),
        Example("rescaling_image_conv", (6, 6, 2), ("Rescaling(1/255)", "Conv2D(2, 3)")),
        Example(
            "rescaling_after_conv",
            (6, 6, 1),
            ("Conv2D(2, 3)", "Rescaling(2, 0.5)", "Flatten"),
        ),
    )

    def output_shape(self, p: RescalingParams, shape: ir.Shape) -> ir.Shape:
        return shape

    def keras(self, p: RescalingParams, layer: ir.Layer) -> PyCall:
        return PyCall("layers.Rescaling", (), {"scale": p.scale, "offset": p.offset})

    def torch(self, p: RescalingParams, layer: ir.Layer) -> TorchLowering:
        module = PyCall("Rescaling", (), {"scale": p.scale, "offset": p.offset})
        return TorchLowering(modules=((layer.name, module),), layout=Layout.ANY, helpers=("Rescaling",))
