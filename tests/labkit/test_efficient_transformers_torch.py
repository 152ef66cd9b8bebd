"""labkit.efficient_transformers: the torch losses against the NumPy reference, the model against a
hand-rolled attention (torch's scaled_dot_product_attention), MAC counts by hand, the straight-through gates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.efficient_transformers import (DigitTransformer, deit_loss_torch, head_flops_penalty_torch, head_macs,
                                           layer_map, model_macs, soft_cross_entropy_torch,
                                           tinybert_attention_loss_torch, tinybert_hidden_loss_torch)
from reference_impl import efficient_transformers as ref


def _x(n=5, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).random((n, 64)) * 16, dtype=torch.float32)


def test_block_attention_is_torch_sdpa():
    torch.manual_seed(0)
    m = DigitTransformer(16, 1, 4, 8).double()
    x = _x().double()
    out = m(x)
    blk = m.blocks[0]
    h0 = out["hidden"][0]
    B, L, d = h0.shape
    q, k, v = blk.qkv(blk.ln1(h0)).view(B, L, 3, 4, 4).permute(2, 0, 3, 1, 4)
    att = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, L, d)
    h1 = h0 + blk.proj(att)
    h1 = h1 + blk.ff(blk.ln2(h1))
    torch.testing.assert_close(out["hidden"][1], h1)
    # the scores are before the softmax: their row softmax is the attention sdpa used
    torch.testing.assert_close(out["scores"][0], q @ k.transpose(-1, -2) / 2.0)


@pytest.mark.parametrize("extra", [0, 1, 2])
def test_output_shapes(extra):
    m = DigitTransformer(8, 2, 2, 8, extra_tokens=extra)
    out = m(_x(3))
    assert out["logits"].shape == (3, 10)
    assert len(out["hidden"]) == 3 and out["hidden"][0].shape == (3, 8 + extra, 8)
    assert len(out["scores"]) == 2 and out["scores"][1].shape == (3, 2, 8 + extra, 8 + extra)
    assert ("dist_logits" in out) == (extra == 2)


def test_torch_losses_equal_the_numpy_reference():
    torch.manual_seed(1)
    t, s = DigitTransformer(16, 4, 2, 8).double(), DigitTransformer(8, 2, 2, 8).double()
    x = _x(1).double()
    with torch.no_grad():
        to, so = t(x), s(x)
        W_h, W_e = torch.randn(8, 16, dtype=torch.float64), torch.randn(8, 16, dtype=torch.float64)
        y = torch.tensor([3])
        A = lambda o: torch.stack(o["scores"])[:, 0].numpy()  # noqa: E731 - (layers, h, L, L) of the one image
        H = lambda o: torch.stack(o["hidden"]).numpy()  # noqa: E731 - (1 + layers, 1, L, d)
        assert tinybert_attention_loss_torch(so["scores"], to["scores"]).item() == pytest.approx(
            ref.tinybert_attention_loss(A(so), A(to)), rel=1e-10)
        assert tinybert_hidden_loss_torch(so["hidden"], to["hidden"], W_h, W_e).item() == pytest.approx(
            ref.tinybert_hidden_loss(H(so), H(to), W_h.numpy(), W_e.numpy()), rel=1e-10)
        zs, zt = so["logits"], to["logits"]
        assert soft_cross_entropy_torch(zs, zt, 3.0).item() == pytest.approx(
            ref.soft_cross_entropy(zs.numpy(), zt.numpy(), 3.0), rel=1e-10)
        assert deit_loss_torch(zs, zt, zt, y).item() == pytest.approx(
            ref.deit_loss(zs.numpy(), zt.numpy(), zt.numpy(), y.numpy()), rel=1e-10)
    assert layer_map(2, 4) == [int(v) for v in ref.tinybert_layer_map(2, 4)[:-1]]
    with pytest.raises(ValueError):
        layer_map(3, 4)


def test_flops_penalty_equals_reference_and_gates_pass_gradients():
    g = torch.tensor([[0.5, -1.0, 2.0], [-0.2, 0.3, 0.0]], dtype=torch.float64, requires_grad=True)
    pen = head_flops_penalty_torch(g, 4.0, 10.0, 0.4)
    _, _, expected = ref.head_flops_loss(g.detach().numpy(), np.full(3, 4.0), 10.0, 0.4)
    assert pen.item() == pytest.approx(expected, rel=1e-12)
    pen.backward()
    assert torch.all(g.grad > 0)  # above the target: every gate is pushed down
    m = DigitTransformer(8, 2, 2, 8, gated=True)
    out = m(_x(4))
    assert torch.equal(out["mask"].detach(), (out["gate_logits"] > 0).float())  # forward: the hard mask
    out["logits"].sum().backward()
    assert m.gate.weight.grad is not None and m.gate.weight.grad.abs().sum() > 0  # backward: the sigmoid's gradient


def test_a_zero_mask_removes_the_heads():
    torch.manual_seed(2)
    m = DigitTransformer(8, 1, 2, 8)
    x = _x(2)
    off = m(x, head_mask=torch.zeros(2, 1, 2))
    blk = m.blocks[0]
    h = off["hidden"][0]
    expected = h + blk.proj.bias  # no head output: only the projection's bias is added
    expected = expected + blk.ff(blk.ln2(expected))
    torch.testing.assert_close(off["hidden"][1], expected)


def test_macs_by_hand():
    m = DigitTransformer(16, 2, 4, 32)
    per_head, rest = head_macs(m)
    # L = 8 tokens, d = 16, dh = 4: projections 4 * 8 * 16 * 4 = 2048, scores + weighted sum 2 * 64 * 4 = 512
    assert per_head == 2560
    # embedding 8 * 8 * 16 = 1024, FFNs 2 * (2 * 8 * 16 * 32) = 16384, classifier 160
    assert rest == 1024 + 16384 + 160
    assert model_macs(m) == rest + 8 * per_head
    with pytest.raises(ValueError):
        DigitTransformer(10, 1, 3, 8)
