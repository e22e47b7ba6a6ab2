"""Models: the forward contract, padding invariance, parity between implementations, embeddings, FLOPs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from textcnn.config import ConfigError, ModelConfig, load_config
from textcnn.models import (
    ImageCNN,
    KimCNN,
    KimCNN2d,
    LSTMClassifier,
    build_model,
    copy_cnn_weights,
    count_parameters,
    flops_per_example,
)

V, C, E = 40, 3, 8
SMALL = dict(embedding_dim=E, feature_maps=4, widths=[2, 3, 5], channels=[4, 6, 8], hidden_size=5, patch=2)


def cfg(name: str = "cnn", **kw) -> ModelConfig:
    return ModelConfig(**{**SMALL, "name": name, **kw})


def make(name: str = "cnn", seed: int = 0, vectors=None, sparse=False, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(cfg(name, **kw), V, C, vectors=vectors, sparse=sparse).eval()


def batch(lengths: list[int], T: int | None = None, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids (never pad) for each length, padded with 0 to T (default: the longest)."""
    g = torch.Generator().manual_seed(seed)
    T = max([*lengths, 1]) if T is None else T
    ids = torch.randint(2, V, (len(lengths), T), generator=g)
    lens = torch.tensor(lengths)
    ids[torch.arange(T)[None, :] >= lens[:, None]] = 0
    return ids, lens


# Every model variant the padding and shape tests run over: (name, overrides).
VARIANTS = [
    ("cnn", {}),
    ("cnn", {"pooling": "avg"}),
    ("cnn", {"pooling": "kmax", "k": 3}),
    ("cnn", {"activation": "gelu"}),
    ("cnn", {"activation": "tanh", "pooling": "kmax"}),
    ("cnn", {"embedding_mode": "multichannel", "embeddings": "x"}),
    ("cnn2d", {}),
    ("cnn2d", {"pooling": "avg", "activation": "identity"}),
    ("cnn2d", {"pooling": "kmax"}),
    ("image2d", {}),
    ("image2d", {"pool2d": "avg", "activation": "tanh"}),
    ("image2d", {"batch_norm": True, "stride": 2, "embedding_dim": 32}),
    ("lstm", {"pooling": "last"}),
    ("lstm", {"pooling": "max"}),
    ("lstm", {"pooling": "mean", "num_layers": 2, "bidirectional": False}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items() if k != 'embeddings') or 'default'}" for n, o in VARIANTS]


@pytest.mark.parametrize(("name", "over"), VARIANTS, ids=IDS)
def test_shapes_for_length_one_and_empty(name, over):
    model = make(name, **over)
    for lengths, T in [([1, 1], 1), ([0, 0], 1), ([0, 4, 1], None), ([1], model.min_length)]:
        ids, lens = batch(lengths, T)
        logits = model(ids, lens)
        assert logits.shape == (len(lengths), C)
        assert logits.dtype == torch.float32
        assert torch.isfinite(logits).all()
    model.train()
    ids, lens = batch([0, 3, 7])
    model(ids, lens).sum().backward()  # gradients flow, no NaN
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize(("name", "over"), VARIANTS, ids=IDS)
def test_padding_never_changes_logits(name, over):
    model = make(name, **over)
    lengths = [0, 1, 2, 4, 5, 7, 9, 12]
    ids, lens = batch(lengths, T=15)  # extra trailing padding beyond the longest sentence
    together = model(ids, lens)
    for i, L in enumerate(lengths):
        alone = model(ids[i : i + 1, : max(L, model.min_length)], lens[i : i + 1])
        torch.testing.assert_close(alone, together[i : i + 1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["cnn", "cnn2d", "image2d", "lstm"])
def test_inference_mode_matches_eval(name):
    model = make(name)
    ids, lens = batch([0, 2, 6])
    expected = model(ids, lens)
    with torch.inference_mode():
        torch.testing.assert_close(model(ids, lens), expected)
    if name == "cnn":
        with torch.inference_mode():
            feats, _, _ = model.pooled_features(ids, lens)
            torch.testing.assert_close(model.fc(feats), expected)


def test_min_length_is_the_widest_filter():
    assert make("cnn").min_length == 5
    assert make("cnn2d").min_length == 5
    assert make("cnn", pooling="kmax", k=3).min_length == 7  # k windows of the widest filter
    assert make("lstm").min_length == 1
    assert make("image2d").min_length == 1  # "same" convs, and pooling pads odd rows: one row stays one row
    # unpadded 3x3 convs: n -> n-2 -> ceil(/2) -> -2 -> ceil(/2) -> -2 >= 1 needs n >= 15
    assert make("image2d", padding=0, embedding_dim=64).min_length == 15


def reference_cnn_logits(model: KimCNN, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Kim's CNN with plain F.conv1d (nn.Conv1d's op), one sentence at a time: the L real tokens, the
    model's `edge` zero vectors on both sides (conv1d's own zero padding), then zeros up to w if shorter."""
    rows = []
    for b in range(ids.shape[0]):
        L = int(lengths[b])
        feats = []
        for w, (weight, bias) in zip(model.widths, model.conv1d_weights(), strict=True):
            x = model.embedding(ids[b : b + 1, :L])  # (1, L, E)
            if model.embedding_static is not None:
                x = torch.cat([x, model.embedding_static(ids[b : b + 1, :L])], 2)
            e = model.edge
            x = F.pad(x.transpose(1, 2), (e, e + max(w - L - 2 * e, 0)))  # (1, E, L) -> (1, E, n)
            c = F.conv1d(x, weight, bias)  # (1, E, n) -> (1, F, n - w + 1)
            feats.append(F.relu(c).amax(2))  # -> (1, F)
        rows.append(model.fc(torch.cat(feats, 1)))
    return torch.cat(rows)


@pytest.mark.parametrize("edge", [True, False])
@pytest.mark.parametrize("mode", ["rand", "multichannel"])
def test_fused_gemm_matches_conv1d_forward_and_backward(mode, edge):
    model = make("cnn", embedding_mode=mode, embeddings="x" if mode != "rand" else None, edge_padding=edge)
    assert model.edge == (max(model.widths) - 1 if edge else 0)
    ids, lens = batch([0, 1, 3, 5, 8, 11])
    fused = model(ids, lens)
    ref = reference_cnn_logits(model, ids, lens)
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-6)
    g_fused = torch.autograd.grad(fused.square().sum(), [model.conv_weight, model.embedding.weight])
    g_ref = torch.autograd.grad(ref.square().sum(), [model.conv_weight, model.embedding.weight])
    for a, b in zip(g_fused, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def _dense_conv_max_reference(model, ids, lens):
    """The same logits through a dense path: every window's GEMM output, mask, torch max (its autograd)."""
    from textcnn.models.layers import pad_edges, pad_to, window_mask

    ids, lens = pad_edges(ids, lens, model.edge, model.pad_id)
    ids = pad_to(ids, model.min_length, model.pad_id)
    c = model.feature_maps_pre_bias(ids)  # (B, T, nW*F) through the dense GEMM and its dense backward
    valid = window_mask(lens, ids.shape[1], model._widths_t).repeat_interleave(model.feature_maps, dim=2)
    pooled = c.masked_fill(~valid, float("-inf")).max(dim=1).values + model.conv_bias
    return model.fc(F.relu(pooled)).float()


@pytest.mark.parametrize("autocast", [False, True])
def test_sparse_max_pool_backward_equals_the_dense_gradient(autocast):
    """cnn's backward reads only the winning windows (embedding_bag sums); it must give the gradients the
    dense GEMM backward gives, for ragged, empty and long rows, with repeated ids in one sentence."""
    model = make("cnn", edge_padding=True, feature_maps=7, embedding_dim=16)
    lengths = [0, 1, 2, 5, 13, 40, 40, 3]
    ids, lens = batch(lengths, seed=4)
    ids[5, :20] = ids[5, 20:]  # the same n-grams twice: ties between windows go to the first
    params = [model.conv_weight, model.embedding.weight]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        fused = model(ids, lens)
    g_fused = torch.autograd.grad(fused.float().square().sum(), params)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):  # the same bf16 forward, the same argmax
        ref = _dense_conv_max_reference(model, ids, lens)
    g_ref = torch.autograd.grad(ref.float().square().sum(), params)
    torch.testing.assert_close(fused, ref)
    tol = dict(rtol=2e-2, atol=1e-3) if autocast else dict(rtol=1e-4, atol=1e-6)  # bf16: the dense backward rounds
    for a, b in zip(g_fused, g_ref, strict=True):
        assert a.dtype == torch.float32 and a.shape == b.shape
        torch.testing.assert_close(a, b, **tol)
    assert g_fused[0].abs().sum() > 0 and g_fused[1][0].abs().sum() == 0  # pad row gets nothing


@pytest.mark.parametrize("autocast", [False, True])
def test_dense_fallback_backward_equals_the_sparse_one(monkeypatch, autocast):
    """Devices without embedding_bag (MPS) take the dense backward; both must give the same gradients,
    in the parameters' dtype, also when the forward ran under bf16 autocast."""
    from textcnn.models import kim

    model = make("cnn", edge_padding=True, feature_maps=7, embedding_dim=16)
    ids, lens = batch([0, 2, 5, 13, 40], seed=7)
    params = [model.conv_weight, model.embedding.weight]

    def grads():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = model(ids, lens)
        return torch.autograd.grad(out.float().square().sum(), params)

    sparse = grads()
    monkeypatch.setattr(kim, "SPARSE_BACKWARD_DEVICES", ())
    dense = grads()
    for a, b in zip(sparse, dense, strict=True):  # both backwards sum in fp32 whatever the forward's precision
        assert a.dtype == b.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_conv_weight_is_stored_transposed_and_saved_plain(tmp_path):
    from textcnn.storage import load_tensors, save_tensors

    model = make("cnn")
    w = model.conv_weight
    assert w.shape == (E, 10 * 4) and w.t().is_contiguous()  # (C_in*E, sum(w)*F), rows of W.T in memory
    save_tensors(tmp_path / "m.safetensors", model.state_dict())
    loaded = load_tensors(tmp_path / "m.safetensors")
    assert loaded["conv_weight"].is_contiguous() and torch.equal(loaded["conv_weight"], w)
    twin = make("cnn", seed=5)
    twin.load_state_dict(loaded)
    assert torch.equal(twin.conv_weight, w) and twin.conv_weight.t().is_contiguous()


def test_dropout_zeroes_p_and_scales_the_rest():
    from textcnn.models.layers import KEY_LEVELS, Dropout

    torch.manual_seed(0)
    x = torch.rand(200_000) + 1.0
    drop = Dropout(0.3)
    y = drop(x)
    kept = y != 0
    keep = round(0.7 * KEY_LEVELS) / KEY_LEVELS  # the probability the 16-bit keys draw with
    assert abs(keep - 0.7) <= 0.5 / KEY_LEVELS
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    torch.testing.assert_close(y[kept], x[kept] / keep)  # E[y] = x exactly
    xg = x.clone().requires_grad_()
    torch.manual_seed(1)
    drop(xg).sum().backward()
    torch.manual_seed(1)
    torch.testing.assert_close(xg.grad, (drop(x) != 0).float() / keep)
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    assert torch.equal(Dropout(0.0).train()(x), x)
    y16 = Dropout(0.5).train()(x.bfloat16())
    assert y16.dtype == torch.bfloat16 and abs((y16 != 0).float().mean().item() - 0.5) < 0.005
    odd = Dropout(0.5).train()(torch.ones(3, 5, 7))  # a size that is not a multiple of four keys
    assert odd.shape == (3, 5, 7) and set(odd.unique().tolist()) <= {0.0, 2.0}


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.7, 0.95])
def test_keep_masks_are_unbiased_and_independent_across_key_lanes(keep):
    """Four 16-bit keys come from each 64-bit draw: every lane (the int64's low to high quarter, sign
    included) must keep with the same probability, and neighbours must not agree more than chance."""
    from textcnn.models.layers import keep_mask

    torch.manual_seed(0)
    mask, p = keep_mask((400_000,), keep, torch.device("cpu"))
    lanes = mask.view(-1, 4).float()  # (draws, 4 lanes)
    sd = (p * (1 - p) / lanes.shape[0]) ** 0.5
    assert (lanes.mean(0) - p).abs().max() < 5 * sd
    both = (lanes[:, :-1] * lanes[:, 1:]).mean(0)  # P(lane i and lane i+1 both keep) = p^2 if independent
    assert (both - p * p).abs().max() < 5 * sd


def test_feature_maps_match_conv1d_on_valid_windows():
    model = make("cnn")
    ids, lens = batch([9, 9])
    maps = model.feature_maps_pre_bias(ids)  # (B, T, nW*F)
    x = model.embedding(ids).transpose(1, 2)  # (B, E, T)
    for i, (w, (weight, _)) in enumerate(zip(model.widths, model.conv1d_weights(), strict=True)):
        ref = F.conv1d(x, weight).transpose(1, 2)  # (B, T-w+1, F)
        torch.testing.assert_close(maps[:, : 9 - w + 1, i * 4 : (i + 1) * 4], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["rand", "multichannel"])
@pytest.mark.parametrize(
    ("pooling", "activation"), [("max", "relu"), ("avg", "tanh"), ("kmax", "relu"), ("max", "gelu")]
)
def test_cnn2d_with_copied_weights_equals_cnn(mode, pooling, activation):
    over = dict(embedding_mode=mode, embeddings="x" if mode != "rand" else None, pooling=pooling, activation=activation)
    src, dst = make("cnn", seed=0, **over), make("cnn2d", seed=1, **over)
    assert isinstance(src, KimCNN) and isinstance(dst, KimCNN2d)
    copy_cnn_weights(src, dst)
    for seed in range(3):
        ids, lens = batch([0, 1, 2, 4, 5, 6, 10], seed=seed)
        torch.testing.assert_close(dst(ids, lens), src(ids, lens), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_pooled_features_reproduce_logits(activation):
    model = make("cnn", activation=activation, edge_padding=True)
    lengths = [0, 1, 3, 6, 9]
    ids, lens = batch(lengths)
    feats, pos, widths = model.pooled_features(ids, lens)
    assert feats.shape == pos.shape == (5, 12) and widths.tolist() == [2] * 4 + [3] * 4 + [5] * 4
    torch.testing.assert_close(model.fc(feats), model(ids, lens))
    twin = make("cnn2d", seed=1, activation=activation, edge_padding=True)
    copy_cnn_weights(model, twin)
    feats2d, pos2d, widths2d = twin.pooled_features(ids, lens)  # same windows from Kim's formulation
    torch.testing.assert_close(feats2d, feats, rtol=1e-5, atol=1e-6)
    assert pos2d.tolist() == pos.tolist() and widths2d.tolist() == widths.tolist()
    e = model.edge  # windows may hang over either end of the sentence by up to e pad tokens
    last_start = (lens[:, None] + e - widths[None, :]).clamp(min=-e)  # (B, nW*F)
    assert e == 4 and (pos >= -e).all() and (pos <= last_start).all()
    # The winning window really holds the max: recompute one feature from its n-gram.
    b, f = 3, 5  # sentence of 6 tokens, a width-3 filter
    weight, bias = model.conv1d_weights()[1]
    start = int(pos[b, f]) + e  # in the edge-padded sentence
    window = model.embedding(F.pad(ids, (e, e))[b, start : start + 3])  # (3, E)
    value = (weight[f - 4] * window.T).sum() + bias[f - 4]
    torch.testing.assert_close(feats[b, f], F.gelu(value) if activation == "gelu" else F.relu(value))


def test_kmax_keeps_the_k_largest_in_sentence_order():
    model = KimCNN(vocab_size=V, num_classes=C, embedding_dim=1, widths=[1], feature_maps=1, pooling="kmax", k=2,
                   activation="identity").eval()  # fmt: skip
    with torch.no_grad():
        model.embedding.weight[:, 0] = torch.arange(V, dtype=torch.float32)
        model.conv_weight.fill_(1.0)
        model.conv_bias.zero_()
    ids = torch.tensor([[9, 3, 20, 7, 0, 0], [5, 0, 0, 0, 0, 0]])
    feats = model.features(ids, torch.tensor([4, 1]))
    assert feats.tolist() == [[9.0, 20.0], [5.0, 0.0]]  # order kept; a missing slot is 0


def test_embedding_modes_and_vectors():
    vectors = torch.randn(V, E)
    rand = make("cnn")
    w = rand.embedding.weight
    assert w.requires_grad and w[0].abs().sum() == 0 and w.abs().max() <= 0.25
    static = make("cnn", embedding_mode="static", embeddings="x", vectors=vectors)
    assert not static.embedding.weight.requires_grad and static.embedding_static is None
    torch.testing.assert_close(static.embedding.weight[1:], vectors[1:])
    assert static.embedding.weight[0].abs().sum() == 0  # the pad row is zero whatever the vectors say
    ids, lens = batch([3, 5])
    static.train()
    static(ids, lens).sum().backward()
    assert static.embedding.weight.grad is None and static.conv_weight.grad is not None
    multi = make("lstm", embedding_mode="multichannel", embeddings="x", vectors=vectors)
    assert multi.embedding.weight.requires_grad and not multi.embedding_static.weight.requires_grad
    torch.testing.assert_close(multi.embedding.weight, multi.embedding_static.weight)
    assert multi.embedding.weight.data_ptr() != multi.embedding_static.weight.data_ptr()
    with pytest.raises(ConfigError, match="embedding_dim"):
        make("cnn", vectors=torch.randn(V, E + 1))


@pytest.mark.parametrize("name", ["cnn", "cnn2d", "image2d", "lstm"])
def test_sparse_embedding_gradients_and_fc(name):
    model = make(name, sparse=True).train()
    ids, lens = batch([2, 6])
    model(ids, lens).sum().backward()
    grad = model.embedding.weight.grad
    assert grad.is_sparse
    assert grad.coalesce().indices().unique().tolist() == sorted(set(ids[ids > 0].tolist()))  # rows used, no pad
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == C
    assert model.embedding.padding_idx == 0


def test_multichannel_trains_one_channel_only():
    model = make("cnn2d", embedding_mode="multichannel", embeddings="x").train()
    ids, lens = batch([4, 6])
    model(ids, lens).sum().backward()
    assert model.embedding.weight.grad is not None and model.embedding_static.weight.grad is None
    assert model.convs[0].weight.shape == (4, 2, 2, E)  # (F, C_in=2, w, E): one weight slice per channel


def test_flops_hand_count():
    edged = cfg("cnn", widths=[2, 3], feature_maps=4, embedding_dim=5, edge_padding=True)
    c = dataclasses.replace(edged, edge_padding=None)  # unset (not resolved for a data size): off
    # with 2 pad tokens at each end, 7 tokens are 11: width 2 has 10 windows, width 3 has 9
    assert flops_per_example(edged, 7, C) == 10 * 80 + 9 * 120 + 2 * 8 * 3
    # width 2: 6 windows x 2*5*4*2 = 480; width 3: 5 windows x 2*5*4*3 = 600; fc: 2 * 8 features * 3
    assert flops_per_example(c, 7, C) == 6 * 80 + 5 * 120 + 2 * 8 * 3
    assert flops_per_example(c, 1, C) == 80 + 120 + 48  # one (padded) window per width
    multi = dataclasses.replace(c, embedding_mode="multichannel", embeddings="x")
    assert flops_per_example(multi, 7, C) == 2 * (6 * 80 + 5 * 120) + 48
    lstm = cfg("lstm", embedding_dim=5, hidden_size=3, bidirectional=True)
    # 2 directions x 4 steps x 4 gates x 2*(5 + 3)*3, fc 2 * 6 * 3
    assert flops_per_example(lstm, 4, C) == 2 * 4 * 4 * 2 * 8 * 3 + 2 * 6 * 3
    img = cfg("image2d", embedding_dim=8, channels=[2, 3], kernel_size=3, stride=1, padding=1, patch=2)
    # block 1: (3x2) kernel, stride (1, 2): 4 rows x 4 cols x 2*1*6*2; pool -> 2 rows x 2 cols;
    # block 2: 3x3: 2 x 2 positions x 2*2*9*3; fc: 3 channels x 2 cols -> 3 classes
    assert flops_per_example(img, 4, C) == 16 * 24 + 4 * 108 + 2 * 6 * 3


def test_count_parameters():
    model = make("cnn", embedding_mode="static", embeddings="x")
    conv = 4 * E * (2 + 3 + 5) + 12
    assert count_parameters(model) == V * E + conv + 12 * C + C
    assert count_parameters(model, trainable_only=True) == conv + 12 * C + C


def test_bf16_autocast_gives_float32_logits():
    for name in ["cnn", "lstm"]:
        model = make(name)
        ids, lens = batch([3, 7])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(ids, lens)
        assert logits.dtype == torch.float32
        torch.testing.assert_close(logits, model(ids, lens), rtol=0.1, atol=0.05)


def test_classes_and_unknown_name():
    assert isinstance(make("image2d"), ImageCNN) and isinstance(make("lstm"), LSTMClassifier)
    with pytest.raises(ConfigError, match="model.name"):
        build_model(ModelConfig(name="transformer"), V, C)
    with pytest.raises(ConfigError, match="pooling"):
        KimCNN(vocab_size=V, num_classes=C, pooling="last")


@pytest.mark.parametrize("name", ["cnn", "cnn2d", "image2d", "lstm"])
def test_model_presets_load_and_build(name):
    c = load_config(model=name)
    assert c.model.name == name
    if name == "lstm":
        assert c.model.pooling == "max"
    model = build_model(dataclasses.replace(c.model, embedding_dim=32), V, C)
    ids, lens = batch([2, 6])
    assert model(ids, lens).shape == (2, C)


def test_compiled_cnn_keeps_its_fused_op_eager_and_computes_what_eager_does():
    """train.compile: the fused conv-max op is opaque to dynamo, so new lengths do not recompile (they
    did whenever a length crossed a guard, 11x slower steps) and loss and gradients are the uncompiled model's."""
    import torch._dynamo

    torch.manual_seed(0)
    eager = KimCNN(vocab_size=40, num_classes=3, embedding_dim=8, feature_maps=4, sparse=True)  # widths 3, 4, 5
    model = KimCNN(vocab_size=40, num_classes=3, embedding_dim=8, feature_maps=4, sparse=True)
    model.load_state_dict(eager.state_dict())
    eager.eval(), model.eval()  # no dropout: the two must compute the same numbers
    model.prepare_compile()
    compiled = torch.compile(model, dynamic=True)
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True):
        for T in (6, 9, 5, 17):  # traced, the op recompiled below 6 (and took ~90 s to compile here)
            ids = torch.randint(1, 40, (5, T))
            lengths = torch.tensor([T, T - 1, 4, 3, T])
            got, want = compiled(ids, lengths), eager(ids, lengths)
            torch.testing.assert_close(got, want)
            got.sum().backward(), want.sum().backward()
            torch.testing.assert_close(model.conv_weight.grad, eager.conv_weight.grad)
            torch.testing.assert_close(model.embedding.weight.grad.to_dense(), eager.embedding.weight.grad.to_dense())
            model.zero_grad(), eager.zero_grad()
