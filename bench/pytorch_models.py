#!/usr/bin/env python3
"""The PyTorch side of `npm run bench -- models --vs pytorch` (scripts/bench.ts runs it).

The same five training steps as bench/models.ts, with the same layer shapes, batch, kind of random
inputs, loss, Adam (lr 1e-3) and the loss read back every step (.item()), timed with the protocol of
`time()` in scripts/bench.ts: untimed steps (at least `warmup` of them and at least `warmup-seconds`),
then `repeats` runs of `steps` timed steps; the figure is the median run's ms/step.

    python3 bench/pytorch_models.py --models lenet,unet --steps 20 --repeats 3 --warmup-seconds 1

Prints one JSON line: {"torch": version, "threads": n, "blas": [loaded BLAS libraries],
"rows": [{"model", "stepsPerSec", "msPerStep"}]}. Debian's torch runs on whichever libblas.so.3 the
system provides, the reference BLAS unless OpenBLAS is installed (scripts/install-torch.sh adds it).
One intra-op thread (torch.set_num_threads(1)); the caller also sets OMP_NUM_THREADS=1 and
OPENBLAS_NUM_THREADS=1 (and MKL's), which must be in the environment before torch loads.

Layout: PyTorch is NCHW where tfjs is NHWC; the shapes below are the tfjs ones transposed.
Initialisation is PyTorch's default (it does not change the cost of a step).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LR = 1e-3


def crf_nll(unary, pairwise, labels):
    """Mean over the batch of -log P(Y|X) = log Z - F(Y) of a linear-chain CRF (docs/model.md §2, eq. 4),
    F(Y) = sum_t U_t(y_t) + sum_t W(y_{t-1}, y_t), no start/end potentials, as src/crf/chain.ts.
    unary [B, T, K], pairwise [K, K], labels [B, T] (long); every sequence has full length T (the bench
    inputs do). log Z by the forward algorithm in log space, vectorised over the batch (as pytorch-crf)."""
    B, T, K = unary.shape
    score = unary.gather(2, labels.unsqueeze(2)).squeeze(2).sum(1)  # [B]
    score = score + pairwise[labels[:, :-1], labels[:, 1:]].sum(1)
    alpha = unary[:, 0]  # [B, K]
    for t in range(1, T):
        # alpha'(j) = log sum_i exp(alpha(i) + W(i, j)) + U_t(j)
        alpha = torch.logsumexp(alpha.unsqueeze(2) + pairwise.unsqueeze(0), dim=1) + unary[:, t]
    log_z = torch.logsumexp(alpha, dim=1)
    return (log_z - score).mean()


class LeNet(nn.Module):
    """LeNet 20-50-500 as src/models/lenet.ts: conv 5x5 'same' + ReLU + maxPool 2, twice; FC 500 + ReLU; FC K."""

    def __init__(self, conv=(20, 50), fc=(500,), classes=26, in_hw=(16, 8)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, conv[0], 5, padding=2)
        self.conv2 = nn.Conv2d(conv[0], conv[1], 5, padding=2)
        flat = (in_hw[0] // 4) * (in_hw[1] // 4) * conv[1]
        sizes = [flat, *fc, classes]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        for i, fc in enumerate(self.fcs):
            x = fc(x)
            if i + 1 < len(self.fcs):
                x = F.relu(x)
        return x


class UNet(nn.Module):
    """U-net as src/models/unet.ts: per level [conv 3x3 'same' + ReLU] x 2, maxPool 2 after all but the
    last; up = convTranspose 2x2 stride 2 + bias, concat [up, skip], [conv 3x3 + ReLU] x 2; 1x1 output conv."""

    def __init__(self, in_ch=3, out_ch=2, channels=(16, 32, 64)):
        super().__init__()
        d = len(channels)

        def block(ci, co):
            return nn.ModuleList([nn.Conv2d(ci, co, 3, padding=1), nn.Conv2d(co, co, 3, padding=1)])

        self.enc = nn.ModuleList(block(in_ch if i == 0 else channels[i - 1], c) for i, c in enumerate(channels))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(channels[i + 1], channels[i], 2, stride=2) for i in range(d - 2, -1, -1))
        self.dec = nn.ModuleList(block(2 * channels[i], channels[i]) for i in range(d - 2, -1, -1))
        self.out = nn.Conv2d(channels[0], out_ch, 1)

    @staticmethod
    def run(x, convs):
        for c in convs:
            x = F.relu(c(x))
        return x

    def forward(self, x):
        skips = []
        for i, convs in enumerate(self.enc):
            x = self.run(x, convs)
            if i + 1 < len(self.enc):
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for up, convs in zip(self.ups, self.dec):
            x = self.run(torch.cat([up(x), skips.pop()], 1), convs)
        return self.out(x)


def letters(n):
    """Binary 16x8 'letters', ink density 0.3 (bench/models.ts `letters`), NCHW."""
    return (torch.rand(n, 1, 16, 8) < 0.3).float()


def lenet_bench():
    n = 64
    net = LeNet()
    x = letters(n)
    y = torch.randint(26, (n,))
    return list(net.parameters()), lambda: F.cross_entropy(net(x), y)


def lenet_crf_bench():
    b, t, k = 16, 8, 26
    net = LeNet()
    pairwise = nn.Parameter(torch.randn(k, k) * 0.1)
    x = letters(b * t)
    labels = torch.randint(k, (b, t))
    return [*net.parameters(), pairwise], lambda: crf_nll(net(x).view(b, t, k), pairwise, labels)


def matmul_bench():
    n = 256
    a = nn.Parameter(torch.randn(n, n) / 16)
    b = nn.Parameter(torch.randn(n, n) / 16)
    return [a, b], lambda: (a @ b).sum()


# bench/models.ts `BL`.
BL = dict(B=16, T=30, chars=8, char_vocab=60, char_emb=25, char_hidden=25, word_vocab=1000, word_emb=50, hidden=100, tags=23)


def bilstm_crf_bench():
    B, T, C, tags = BL["B"], BL["T"], BL["chars"], BL["tags"]
    n = B * T
    char_emb = nn.Embedding(BL["char_vocab"], BL["char_emb"])
    word_emb = nn.Embedding(BL["word_vocab"], BL["word_emb"])
    char_lstm = nn.LSTM(BL["char_emb"], BL["char_hidden"], batch_first=True, bidirectional=True)
    word_lstm = nn.LSTM(BL["word_emb"] + 2 * BL["char_hidden"], BL["hidden"], batch_first=True, bidirectional=True)
    out = nn.Linear(2 * BL["hidden"], tags)
    pairwise = nn.Parameter(torch.randn(tags, tags) * 0.1)
    char_ids = torch.randint(BL["char_vocab"], (n, C))
    word_ids = torch.randint(BL["word_vocab"], (n,))
    labels = torch.randint(tags, (B, T))
    modules = [char_emb, word_emb, char_lstm, word_lstm, out]

    def loss():
        _, (h_n, _) = char_lstm(char_emb(char_ids))  # h_n [2, n, Hc]: the final state of each direction
        c = h_n.transpose(0, 1).reshape(n, 2 * BL["char_hidden"])
        feats = torch.cat([word_emb(word_ids), c], 1).view(B, T, -1)
        h, _ = word_lstm(feats)  # [B, T, 2H]
        return crf_nll(out(h), pairwise, labels)

    return [p for m in modules for p in m.parameters()] + [pairwise], loss


def unet_bench():
    b, h, w = 8, 64, 64
    net = UNet()
    x = torch.randn(b, 3, h, w)
    y = torch.randint(2, (b, h, w))
    # Per-pixel softmax cross-entropy, mean over pixels (bench/models.ts: -mean(sum(y * logSoftmax))).
    return list(net.parameters()), lambda: F.cross_entropy(net(x), y)


BENCHES = {"lenet": lenet_bench, "lenet-crf": lenet_crf_bench, "matmul": matmul_bench, "bilstm-crf": bilstm_crf_bench, "unet": unet_bench}


def trainer(params, loss_fn):
    opt = torch.optim.Adam(params, lr=LR)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def time_ms(step, steps, repeats, warmup, warmup_seconds):
    """scripts/bench.ts `time()`: ms per step of the median of `repeats` runs of `steps` steps after at
    least `warmup` steps and at least `warmup_seconds` of them."""
    start, done = time.perf_counter(), 0
    while done < warmup or time.perf_counter() - start < warmup_seconds:
        step()
        done += 1
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        runs.append((time.perf_counter() - t0) * 1000 / steps)
    runs.sort()
    return runs[len(runs) // 2]


def loaded_blas():
    """The BLAS shared libraries this process has mapped (Linux; empty elsewhere)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    except OSError:
        return []
    return sorted(os.path.realpath(p) for p in paths)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--warmup-seconds", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    models = [m for m in a.models.split(",") if m]
    unknown = [m for m in models if m not in BENCHES]
    if unknown:
        sys.exit(f"pytorch_models.py: unknown model(s) {', '.join(unknown)} (known: {', '.join(BENCHES)})")
    if a.steps < 1 or a.repeats < 1 or a.warmup < 0 or not a.warmup_seconds >= 0:
        sys.exit("pytorch_models.py: --steps and --repeats must be >= 1, --warmup and --warmup-seconds >= 0")
    torch.set_num_threads(a.threads)
    rows = []
    for name in models:
        torch.manual_seed(0)
        ms = time_ms(trainer(*BENCHES[name]()), a.steps, a.repeats, a.warmup, a.warmup_seconds)
        rows.append({"model": name, "stepsPerSec": 1000 / ms, "msPerStep": ms})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": loaded_blas(), "rows": rows}))


if __name__ == "__main__":
    main()
