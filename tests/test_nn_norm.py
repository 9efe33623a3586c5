"""NodeBatchNorm and MaskedBatchNorm: nn.BatchNorm1d exactly, and defined for a batch of one node."""
import pytest
import torch

from dgl_diffpool.nn import MaskedBatchNorm, NodeBatchNorm


def _pair(c=3):
    torch.manual_seed(0)
    ours, ref = NodeBatchNorm(c), torch.nn.BatchNorm1d(c)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2.0)
        ours.bias.uniform_(-1.0, 1.0)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def test_equals_batch_norm_1d_with_more_than_one_node():
    ours, ref = _pair()
    gen = torch.Generator().manual_seed(0)
    for n in (2, 5, 7):
        x = torch.randn(n, 3, generator=gen, requires_grad=True)
        got, want = ours(x), ref(x)
        assert torch.equal(got, want)
        up = torch.randn(n, 3, generator=gen)
        grads = torch.autograd.grad(got, [x, ours.weight, ours.bias], up)
        ref_grads = torch.autograd.grad(want, [x, ref.weight, ref.bias], up)
        for a, b in zip(grads, ref_grads):
            assert torch.equal(a, b)
    for key, value in ref.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    assert int(ours.num_batches_tracked) == 3
    x = torch.randn(4, 3, generator=gen)
    assert torch.equal(ours.eval()(x), ref.eval()(x))


@pytest.mark.parametrize("n", [0, 1])
def test_one_node_in_training_uses_and_keeps_the_running_statistics(n):
    norm, _ = _pair()
    norm(torch.randn(6, 3) * 3 + 1)  # running statistics away from their start
    before = {k: v.clone() for k, v in norm.state_dict().items()}
    x = torch.tensor([[1.0, -2.0, 0.5]])[:n].requires_grad_()
    out = norm.train()(x)
    scale = (before["running_var"] + norm.eps).rsqrt()
    xhat = (x - before["running_mean"]) * scale
    torch.testing.assert_close(out, xhat * before["weight"] + before["bias"])
    for key, value in norm.state_dict().items():
        assert torch.equal(value, before[key]), key
    if n:  # the affine parameters still learn, and the input gets the gradient of an affine map
        gx, gw, gb = torch.autograd.grad(out.sum(), [x, norm.weight, norm.bias])
        torch.testing.assert_close(gw, xhat.detach()[0])
        torch.testing.assert_close(gb, torch.ones(3))
        torch.testing.assert_close(gx[0], norm.weight.detach() * scale)


def test_bad_input_shape_raises():
    with pytest.raises(ValueError, match=r"node features must have shape \(N, 3\), got \(2, 3, 4\)"):
        NodeBatchNorm(3)(torch.randn(2, 3, 4))


def test_masked_batch_norm_normalises_the_real_rows_only():
    torch.manual_seed(0)
    masked = MaskedBatchNorm(3)
    plain = NodeBatchNorm(3)
    plain.load_state_dict(masked.norm.state_dict())
    h = torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [True, False, True, False]])
    h[~mask] = 1e4  # garbage in the padding
    out = masked(h, mask)
    assert torch.equal(out[mask], plain(h[mask]))
    assert not out[~mask].any()
    for key, value in plain.state_dict().items():
        assert torch.equal(masked.norm.state_dict()[key], value), key
    # One real row in the whole batch (every graph has one cluster, batch of one graph).
    one = torch.tensor([[True, False, False, False], [False, False, False, False]])
    out = masked(h, one)
    torch.testing.assert_close(out[one], plain.eval()(h[one]))
    assert not out[~one].any()
