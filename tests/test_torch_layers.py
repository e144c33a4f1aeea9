"""The PyTorch layers of snippets/torch_layers.py, imported as they are, against torch's own ops.

Generated modules carry these classes' source (codegen/torch.py copies it); here each is
checked numerically against the PyTorch module it stands for, with weights mapped across.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from netspec.codegen.snippets import torch_layers  # noqa: E402


@pytest.mark.parametrize(
    ("single_bias", "reference"),
    [(torch_layers.SingleBiasLSTM, nn.LSTM), (torch_layers.SingleBiasRNN, nn.RNN)],
)
def test_single_bias_recurrent_equals_torch_with_the_biases_summed(single_bias, reference) -> None:
    torch.manual_seed(0)
    ours = single_bias(3, 4, batch_first=True)
    theirs = reference(3, 4, batch_first=True)
    names = [name for name, _ in ours.named_parameters()]
    assert names == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0"]  # one bias: the spec's
    with torch.no_grad():
        ours.weight_ih_l0.copy_(theirs.weight_ih_l0)
        ours.weight_hh_l0.copy_(theirs.weight_hh_l0)
        ours.bias_ih_l0.copy_(theirs.bias_ih_l0 + theirs.bias_hh_l0)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])


def test_multi_head_self_attention_equals_torch_multihead_attention() -> None:
    torch.manual_seed(0)
    features, heads = 8, 2  # key_dim = value_dim = features / heads, as torch requires
    ours = torch_layers.MultiHeadSelfAttention(features, heads, 4, 4, features, True, 0.0)
    theirs = nn.MultiheadAttention(features, heads, batch_first=True)
    with torch.no_grad():
        projections = (ours.query, ours.key, ours.value)
        theirs.in_proj_weight.copy_(torch.cat([p.weight for p in projections]))
        theirs.in_proj_bias.copy_(torch.cat([p.bias for p in projections]))
        theirs.out_proj.weight.copy_(ours.attention_output.weight)
        theirs.out_proj.bias.copy_(ours.attention_output.bias)
    x = torch.randn(3, 5, features)
    expected, _ = theirs(x, x, x, need_weights=False)
    torch.testing.assert_close(ours(x), expected)


def test_positional_embedding_adds_a_vector_per_position() -> None:
    layer = torch_layers.PositionalEmbedding(6, 2)
    nn.init.normal_(layer.embeddings)
    x = torch.randn(3, 4, 2)  # 4 steps of at most 6
    torch.testing.assert_close(layer(x), x + layer.embeddings[:4].unsqueeze(0))


def test_same_padding_average_pool_leaves_padded_cells_out() -> None:
    x = torch.randn(2, 3, 5, 5)
    # an even split (one cell each side): torch's pool without the padding in the count
    ours = torch_layers.SamePaddingAvgPool2d((3, 3), (1, 1), (1, 1, 1, 1), (5, 5))
    expected = nn.functional.avg_pool2d(x, 3, 1, padding=1, count_include_pad=False)
    torch.testing.assert_close(ours(x), expected)
    # TensorFlow's odd split (the cell after): window 2, stride 2 over 5 pads one cell at the end
    odd = torch_layers.SamePaddingAvgPool2d((2, 2), (2, 2), (0, 1, 0, 1), (5, 5))
    corner = x[:, :, 4:, 4:]  # the last window holds one real cell
    torch.testing.assert_close(odd(x)[:, :, 2:, 2:], corner)
    torch.testing.assert_close(odd(x)[:, :, :2, :2], nn.functional.avg_pool2d(x[:, :, :4, :4], 2))
