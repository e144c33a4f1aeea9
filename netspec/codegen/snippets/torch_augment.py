"""PyTorch modules of netspec's image-augmentation layers, each computing what Keras 3 does.

The generators copy these definitions into generated modules (`snippets.definition`), so they
import only what a generated module imports. Every module takes channels-first images
(N, C, H, W). The random ones are the identity in eval mode and, in train mode, draw their
random values from torch's global generator on the input's device (`torch.manual_seed` makes
a run reproducible), one value per sample where Keras draws one per sample (RandomCrop: one
per batch, as Keras). No per-sample Python loop and no host sync, so they run as they are
on CUDA and under `torch.autocast`.
"""

import torch
from torch import nn


def uniform_draws(n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    """n float32 draws in [low, high), computed as TensorFlow's stateless_uniform does."""
    return low + (high - low) * torch.rand(n, device=like.device, dtype=torch.float32)


def round_half_away(v: torch.Tensor) -> torch.Tensor:
    """C's round(): halves away from zero (torch.round takes halves to even)."""
    whole = torch.trunc(v)
    return torch.where((v - whole).abs() == 0.5, whole + torch.sign(v), torch.round(v))


def map_coordinates(c: torch.Tensor, length: int, fill_mode: str) -> torch.Tensor:
    """TensorFlow's MapCoordinate: a coordinate outside [0, length - 1] moved back inside as
    `fill_mode` says (`constant` keeps it; reading there gives the fill value)."""
    if fill_mode == "constant":
        return c
    if length <= 1:
        return torch.zeros_like(c)
    if fill_mode == "reflect":  # dcba|abcd|dcba: mirrored about the image's edges
        period = 2 * length
        below = period * torch.trunc(-c / period) + c
        below = torch.where(below < -length, below + period, -below - 1)
        above = c - period * torch.trunc(c / period)
        above = torch.where(above >= length, period - above - 1, above)
        c = torch.where(c < 0, below, torch.where(c > length - 1, above, c))
    elif fill_mode == "wrap":  # TensorFlow's rule, steps of (length - 1) counted as given
        step = length - 1
        below = c + length * (torch.trunc(-c / step) + 1)
        above = c - length * torch.trunc(c / step)
        c = torch.where(c < 0, below, torch.where(c > length - 1, above, c))
    return c.clamp(0, length - 1)  # `nearest` is this clamp alone


def affine_transform_images(
    images: torch.Tensor,
    transform: torch.Tensor,
    interpolation: str,
    fill_mode: str,
    fill_value: float,
) -> torch.Tensor:
    """Keras' `ops.image.affine_transform` as TensorFlow computes it (ImageProjectiveTransformV3).

    Output pixel (x, y), in whole pixel indices, reads the input at
    (a0·x + a1·y + a2, b0·x + b1·y + b2), a row of `transform` (N, 6) per image. The point is
    first moved inside as `fill_mode` says, then read with `interpolation`; cells outside the
    image read `fill_value`. The steps are TensorFlow's, in its order and in float32 whatever
    the images' dtype, so each fill mode and interpolation gives Keras' values.
    """
    n, channels, height, width = images.shape
    a0, a1, a2, b0, b1, b2 = (t.reshape(n, 1, 1) for t in transform.float().unbind(1))
    xs = torch.arange(width, device=images.device, dtype=torch.float32).reshape(1, 1, width)
    ys = torch.arange(height, device=images.device, dtype=torch.float32).reshape(1, height, 1)
    x = map_coordinates(a0 * xs + a1 * ys + a2, width, fill_mode)
    y = map_coordinates(b0 * xs + b1 * ys + b2, height, fill_mode)
    flat = images.float().reshape(n, channels, height * width)

    def read(row: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
        inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
        index = (row.clamp(0, height - 1) * width + column.clamp(0, width - 1)).long()
        values = flat.gather(2, index.reshape(n, 1, -1).expand(n, channels, -1))
        return torch.where(
            inside.unsqueeze(1), values.reshape(n, channels, height, width), fill_value
        )

    if interpolation == "nearest":
        out = read(round_half_away(y), round_half_away(x))
    else:  # bilinear
        y0, x0 = torch.floor(y), torch.floor(x)
        y1, x1 = y0 + 1, x0 + 1
        wx0, wx1 = (x1 - x).unsqueeze(1), (x - x0).unsqueeze(1)
        top = wx0 * read(y0, x0) + wx1 * read(y0, x1)
        bottom = wx0 * read(y1, x0) + wx1 * read(y1, x1)
        out = (y1 - y).unsqueeze(1) * top + (y - y0).unsqueeze(1) * bottom
    return out.to(images.dtype)


class RandomFlip(nn.Module):
    """Keras' RandomFlip: in training, each image is flipped with probability 1/2.

    `horizontal_and_vertical` flips both ways at once with one draw (a half turn), as Keras
    does; it never flips one way only.
    """

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.dims = {"horizontal": (3,), "vertical": (2,), "horizontal_and_vertical": (2, 3)}[mode]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) <= 0.5
        return torch.where(flip, x.flip(self.dims), x)


class RandomCrop(nn.Module):
    """Keras' RandomCrop.

    In training, one window of height × width per batch: where the image is larger along both
    axes, at a random offset (each offset equally likely), else the centred window. In eval
    mode, as Keras documents it: the largest central window of the crop's aspect ratio,
    resized (bilinear, half-pixel centres, as TensorFlow resizes) to height × width.
    """

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2], x.shape[3]
        if not self.training:
            crop_height = max(min(height, int(float(width * self.height) / self.width)), 1)
            crop_width = max(min(width, int(float(height * self.width) / self.height)), 1)
            top, left = int((height - crop_height) / 2), int((width - crop_width) / 2)
            window = x[:, :, top : top + crop_height, left : left + crop_width]
            if (crop_height, crop_width) == (self.height, self.width):
                return window
            return nn.functional.interpolate(
                window, size=(self.height, self.width), mode="bilinear", align_corners=False
            )
        if height > self.height and width > self.width:
            top = torch.randint(0, height - self.height + 1, (), device=x.device)
            left = torch.randint(0, width - self.width + 1, (), device=x.device)
            rows = top + torch.arange(self.height, device=x.device)
            columns = left + torch.arange(self.width, device=x.device)
            return x.index_select(2, rows).index_select(3, columns)
        # Keras' centred window of the target's aspect ratio; it fits, as the spec is checked
        crop_height = max(min(height, int(float(width * self.height) / self.width)), 1)
        crop_width = max(min(width, int(float(height * self.width) / self.height)), 1)
        top, left = int((height - crop_height) / 2), int((width - crop_width) / 2)
        return x[:, :, top : top + self.height, left : left + self.width]


class RandomTranslation(nn.Module):
    """Keras' RandomTranslation: in training, each image shifted by its own random amount.

    The shift is dy = u·H rows down and dx = v·W columns right, u and v uniform in the
    factors' ranges (lower, upper), fractions of the image's size; output (x, y) reads input
    (x − dx, y − dy).
    """

    def __init__(
        self,
        height_factor: tuple[float, float],
        width_factor: tuple[float, float],
        fill_mode: str,
        interpolation: str,
        fill_value: float,
    ) -> None:
        super().__init__()
        self.height_factor, self.width_factor = height_factor, width_factor
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        n, _, height, width = x.shape
        dy = uniform_draws(n, *self.height_factor, x) * height
        dx = uniform_draws(n, *self.width_factor, x) * width
        one, zero = torch.ones_like(dx), torch.zeros_like(dx)
        transform = torch.stack([one, zero, -dx, zero, one, -dy], dim=1)
        return affine_transform_images(
            x, transform, self.interpolation, self.fill_mode, self.fill_value
        )


class RandomRotation(nn.Module):
    """Keras' RandomRotation: in training, each image turned by its own random angle.

    The angle is uniform in [lower·360°, upper·360°], `factor` being (lower, upper), and the centre is ((W − 1)/2, (H − 1)/2);
    output (x, y) reads input (cos·(x − cx) − sin·(y − cy) + cx, sin·(x − cx) + cos·(y − cy) + cy),
    with Keras' matrix, so a positive angle turns the picture counter-clockwise as displayed.
    """

    def __init__(
        self,
        factor: tuple[float, float],
        fill_mode: str,
        interpolation: str,
        fill_value: float,
    ) -> None:
        super().__init__()
        self.factor = factor
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        n, _, height, width = x.shape
        lower, upper = self.factor
        angle = uniform_draws(n, lower * 360.0, upper * 360.0, x) * (torch.pi / 180.0)
        cx = 0.5 * torch.tensor(width - 1, dtype=torch.float32, device=x.device)
        cy = 0.5 * torch.tensor(height - 1, dtype=torch.float32, device=x.device)
        cos, sin = torch.cos(angle), torch.sin(angle)
        a0, a1, b0, b1 = cos, -sin, sin, cos
        transform = torch.stack(
            [a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1], dim=1
        )
        return affine_transform_images(
            x, transform, self.interpolation, self.fill_mode, self.fill_value
        )


class RandomZoom(nn.Module):
    """Keras' RandomZoom: in training, each image scaled about its centre by its own factors.

    Zoom z is uniform in [1 + lower, 1 + upper] per axis, (lower, upper) being the axis' factor,
    the width's equal to the height's when it has no factor; output (x, y) reads input
    (cx + z_w·(x − cx), cy + z_h·(y − cy)), so z > 1 zooms out and z < 1 zooms in.
    """

    def __init__(
        self,
        height_factor: tuple[float, float],
        width_factor: tuple[float, float] | None,
        fill_mode: str,
        interpolation: str,
        fill_value: float,
    ) -> None:
        super().__init__()
        self.height_factor, self.width_factor = height_factor, width_factor
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        n, _, height, width = x.shape
        zoom_y = uniform_draws(n, 1.0 + self.height_factor[0], 1.0 + self.height_factor[1], x)
        zoom_x = zoom_y
        if self.width_factor is not None:
            zoom_x = uniform_draws(n, 1.0 + self.width_factor[0], 1.0 + self.width_factor[1], x)
        zero = torch.zeros_like(zoom_x)
        offset_x = (width - 1.0) / 2.0 * (1.0 - zoom_x)
        offset_y = (height - 1.0) / 2.0 * (1.0 - zoom_y)
        transform = torch.stack([zoom_x, zero, offset_x, zero, zoom_y, offset_y], dim=1)
        return affine_transform_images(
            x, transform, self.interpolation, self.fill_mode, self.fill_value
        )


class RandomContrast(nn.Module):
    """Keras' RandomContrast: in training, y = clip((x − m)·f + m, low, high) per image.

    m is the mean of each channel over the image, f one factor per image, uniform in
    [1 − lower, 1 + upper] for `factor` (lower, upper), and [low, high] the value range.
    """

    def __init__(self, factor: tuple[float, float], value_range: tuple[float, float]) -> None:
        super().__init__()
        self.factor, self.value_range = factor, value_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        low, high = 1.0 - self.factor[0], 1.0 + self.factor[1]
        factor = uniform_draws(x.shape[0], low, high, x).to(x.dtype).reshape(-1, 1, 1, 1)
        mean = x.mean(dim=2, keepdim=True).mean(dim=3, keepdim=True)  # rows, then columns
        return ((x - mean) * factor + mean).clamp(*self.value_range)


class Rescaling(nn.Module):
    """Keras' Rescaling: y = x·scale + offset, in training and in inference alike."""

    def __init__(self, scale: float, offset: float) -> None:
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.offset
