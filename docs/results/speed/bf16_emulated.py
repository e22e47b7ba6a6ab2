"""`textcnn` with bf16 autocast numerics emulated in fp32, for the issue 12 accuracy comparison on a CPU
without native bf16 (this project's AMD EPYC: real CPU autocast ran its matmuls ~40x slower than fp32).

Both matmuls of `cnn` (the fused convolution GEMM and the classifier) round their inputs, outputs and
gradients to bf16 as CPU autocast does, and accumulate in fp32; the rest of the step stays fp32 (under
real autocast the shifted window sums run in bf16 too, so this is slightly kinder than real bf16).

It patches `KimCNN._gemm` and so reproduces its figures on a checkout of commit 0236e73 only: since
the sparse max-pooling backward (`_ConvMaxPool`) the model's max-pooling path no longer calls `_gemm`.

    EMULATE_BF16=1 python docs/results/speed/bf16_emulated.py train trec --seed 0 --epochs 10 --threads 1
    python docs/results/speed/bf16_emulated.py check     # emulated vs real autocast on one batch
"""

import os
import sys

import torch

from textcnn.models import kim
from textcnn.models.layers import embed_concat


def r(t):
    return t.bfloat16().float()


class MM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        xb, wb = r(x), r(w)
        ctx.save_for_backward(xb, wb)
        return r(xb @ wb)

    @staticmethod
    def backward(ctx, g):
        xb, wb = ctx.saved_tensors
        gb = r(g)
        gx = r(gb @ wb.T)
        gw = r(xb.reshape(-1, xb.shape[-1]).T @ gb.reshape(-1, gb.shape[-1]))
        return gx, gw


def _gemm(self, ids):
    x = self.embedding_dropout(embed_concat(self.embedding, self.embedding_static, ids))
    return MM.apply(x, self.conv_weight)


def forward(self, ids, lengths):
    f = self.dropout(self.features(ids, lengths))
    return r(MM.apply(f, self.fc.weight.T) + r(self.fc.bias))


if os.environ.get("EMULATE_BF16") == "1":
    kim.KimCNN._gemm = _gemm
    kim.KimCNN.forward = forward

if __name__ == "__main__" and sys.argv[1] == "check":
    torch.manual_seed(0)
    m = kim.KimCNN(vocab_size=1000, num_classes=2, embedding_dim=300).eval()
    ids, lengths = torch.randint(2, 1000, (50, 30)), torch.full((50,), 30)
    ref = m(ids, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        real = m(ids, lengths)
    kim.KimCNN._gemm, kim.KimCNN.forward = _gemm, forward
    emu = m(ids, lengths)
    print(f"max |logit difference|: fp32 vs autocast {(ref - real).abs().max():.2e}, emulated vs autocast "
          f"{(emu - real).abs().max():.2e}")  # fmt: skip
elif __name__ == "__main__":
    from textcnn.cli import main

    sys.argv = ["textcnn", *sys.argv[1:]]
    main()
