"""PyTorch modules netspec writes into generated PyTorch modules: copied into them.

Each computes a layer as netspec (and Keras) define it where PyTorch's own module differs:
one bias per recurrent gate, Keras' self-attention, a learned positional embedding, and
average pooling with TensorFlow's `same` padding.
"""

import torch
from torch import nn


class SingleBiasLSTM(nn.LSTM):
    """nn.LSTM with one bias per gate, as netspec (and Keras) define the LSTM.

    PyTorch adds two bias vectors (b_ih + b_hh); only their sum matters. Here b_hh is a
    fixed zero buffer, so the parameters are exactly those of the spec.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in [n for n in self._flat_weights_names if n.startswith("bias_hh")]:
            bias = getattr(self, name)
            delattr(self, name)
            self.register_buffer(name, torch.zeros_like(bias.detach()), persistent=False)
        self._init_flat_weights()


class SingleBiasRNN(nn.RNN):
    """nn.RNN with one bias, as netspec (and Keras' SimpleRNN) define the recurrent cell.

    PyTorch adds two bias vectors (b_ih + b_hh); only their sum matters. Here b_hh is a
    fixed zero buffer, so the parameters are exactly those of the spec.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in [n for n in self._flat_weights_names if n.startswith("bias_hh")]:
            bias = getattr(self, name)
            delattr(self, name)
            self.register_buffer(name, torch.zeros_like(bias.detach()), persistent=False)
        self._init_flat_weights()


class MultiHeadSelfAttention(nn.Module):
    """Keras' MultiHeadAttention called as mha(x, x), one nn.Linear per projection.

    Each head attends with softmax((q / sqrt(key_dim)) · kᵀ) over the steps, the query scaled
    before the product as Keras does; the heads' outputs are concatenated and projected.
    """

    def __init__(
        self,
        features: int,
        num_heads: int,
        key_dim: int,
        value_dim: int,
        output_dim: int,
        bias: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.num_heads, self.key_dim, self.value_dim = num_heads, key_dim, value_dim
        self.query = nn.Linear(features, num_heads * key_dim, bias=bias)
        self.key = nn.Linear(features, num_heads * key_dim, bias=bias)
        self.value = nn.Linear(features, num_heads * value_dim, bias=bias)
        self.attention_output = nn.Linear(num_heads * value_dim, output_dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, steps = x.shape[0], x.shape[1]

        def heads(t: torch.Tensor, size: int) -> torch.Tensor:  # (n, heads, steps, size)
            return t.reshape(n, steps, self.num_heads, size).transpose(1, 2)

        q = heads(self.query(x), self.key_dim) * self.key_dim**-0.5
        k = heads(self.key(x), self.key_dim)
        v = heads(self.value(x), self.value_dim)
        weights = self.dropout(torch.softmax(q @ k.transpose(-2, -1), dim=-1))
        out = (weights @ v).transpose(1, 2).reshape(n, steps, self.num_heads * self.value_dim)
        return self.attention_output(out)


class PositionalEmbedding(nn.Module):
    """Adds a learned vector per position 0 … steps - 1 to a (N, steps, output_dim) input."""

    def __init__(self, sequence_length: int, output_dim: int) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(torch.empty(sequence_length, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embeddings[: x.shape[1]]


class SamePaddingAvgPool2d(nn.Module):
    """Average pooling with TensorFlow's `same` padding, as Keras computes it.

    TensorFlow puts an odd padding cell after (bottom/right), which nn.AvgPool2d cannot, and
    leaves padded cells out of each window's mean. This pads explicitly, sums each window and
    divides by the number of real cells in it, counted once for the input size.
    """

    def __init__(
        self,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int, int, int],
        input_size: tuple[int, int],
    ) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d(padding)
        self.pool = nn.AvgPool2d(kernel_size, stride, divisor_override=1)  # window sums
        count = self.pool(self.pad(torch.ones(1, 1, *input_size)))
        self.register_buffer("count", count, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.pad(x)) / self.count
