"""digitnet against PyTorch on the CPU: the same networks, data, batches, optimisers and initial weights.

For each configuration, one training epoch in each framework, alternating, ``--repeats`` times; the
table gives medians (samples per second, seconds per epoch) and the digitnet/PyTorch ratio, and the share
of this machine's float32 matmul peak that digitnet's training reaches (an MLP epoch costs
2 · parameters · samples · 3 FLOPs: forward, and backward for inputs and weights). Also: single-image
forward latency and whole-test-set inference. PyTorch is an optional extra for this script only
(``pip install torch==2.13.0``), never a dependency of digitnet.

    DIGITNET_DATA=../shared/data/mnist python benchmarks/compare_torch.py --repeats 3 --json results.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from digitnet.config import TrainConfig
from digitnet.data import load_mnist
from digitnet.nn import Dense
from digitnet.recipes import build_model, make_optimizer

CONFIGS = [
    ("784-16-16-10 sigmoid, quadratic, SGD", TrainConfig(hidden=(16, 16), activation="sigmoid", cost="quadratic",
                                                         optimizer="sgd", lr=3.0, batch_size=10, l2=0.0)),
    ("784-16-16-10 ReLU, cross-entropy, Adam", TrainConfig(hidden=(16, 16), batch_size=64, l2=0.0)),
    ("784-100-10 ReLU, cross-entropy, Adam", TrainConfig(hidden=(100,), batch_size=128, l2=0.0)),
    ("784-800-800-10 ReLU, dropout, Adam", TrainConfig(hidden=(800, 800), batch_size=128, dropout=0.5, l2=0.0)),
]  # fmt: skip


def digitnet_epoch(config, x, y) -> float:
    model = build_model(config)
    start = time.perf_counter()
    model.fit(x, y, optimizer=make_optimizer(config), epochs=1, batch_size=config.batch_size, rng=0)
    return time.perf_counter() - start


def torch_epoch(torch, config, x, y) -> float:
    ours = build_model(config)  # the same initial weights, copied
    modules = []
    for layer in ours.layers:
        if isinstance(layer, Dense):
            lin = torch.nn.Linear(*layer.params["W"].shape)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.params["W"].T.copy()))
                lin.bias.copy_(torch.from_numpy(layer.params["b"]))
            modules.append(lin)
        else:
            kind = type(layer).__name__
            modules.append({"ReLU": torch.nn.ReLU, "Sigmoid": torch.nn.Sigmoid, "Tanh": torch.nn.Tanh}.get(kind, None)()
                           if kind != "Dropout" else torch.nn.Dropout(layer.rate))  # fmt: skip
    net = torch.nn.Sequential(*modules)
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=config.lr)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    onehot = torch.nn.functional.one_hot(yt, 10).float()
    n, b = len(x), config.batch_size
    start = time.perf_counter()
    order = torch.randperm(n)
    for i in range(0, n, b):
        idx = order[i : i + b]
        out = net(xt[idx])
        if config.cost == "quadratic":
            loss = 0.5 * ((out - onehot[idx]) ** 2).sum() / len(idx)
        else:
            loss = torch.nn.functional.cross_entropy(out, yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = min(_time(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _time(f) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads (match the BLAS's)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        raise SystemExit("PyTorch is needed for the comparison: pip install torch==2.13.0") from None
    torch.set_num_threads(args.threads)
    data = load_mnist(validation_size=0, progress=False)
    x, y = data.train.x, data.train.y
    peak = matmul_peak()
    rows = []
    for name, config in CONFIGS:
        ours, theirs = [], []
        for _ in range(args.repeats):  # alternate, so drifting machine load hits both alike
            ours.append(digitnet_epoch(config, x, y))
            theirs.append(torch_epoch(torch, config, x, y))
        params = build_model(config).n_params
        mine, other = statistics.median(ours), statistics.median(theirs)
        rows.append({"network": name, "batch": config.batch_size, "digitnet_samples_per_s": len(x) / mine,
                     "torch_samples_per_s": len(x) / other, "digitnet_s_per_epoch": mine, "torch_s_per_epoch": other,
                     "ratio": other / mine, "share_of_matmul_peak": 6 * params * len(x) / mine / 1e9 / peak})  # fmt: skip
    model = build_model(TrainConfig(hidden=(100,)))
    one = data.test.x[:1]
    single = statistics.median(_time(lambda: model.forward(one)) for _ in range(2000)) * 1e6
    small = build_model(CONFIGS[0][1])
    whole = len(data.test.x) / min(
        _time(lambda: small.predict_proba(data.test.x, batch_size=10_000)) for _ in range(20)
    )
    print(
        f"float32 matmul peak here: {peak:.0f} GFLOP/s; PyTorch {torch.__version__} with {args.threads} threads\n"
    )
    print(
        f"{'network':40} {'batch':>5} {'digitnet/s':>11} {'PyTorch/s':>10} {'ratio':>6} {'s/epoch':>8} {'peak':>6}"
    )
    for r in rows:
        print(f"{r['network']:40} {r['batch']:>5} {r['digitnet_samples_per_s']:>11,.0f} {r['torch_samples_per_s']:>10,.0f} "
              f"{r['ratio']:>5.2f}x {r['digitnet_s_per_epoch']:>8.2f} {100 * r['share_of_matmul_peak']:>5.0f}%")  # fmt: skip
    print(
        f"\nsingle-image forward, 784-100-10: {single:.1f} us;  whole test set, 784-16-16-10: {whole:,.0f} images/s"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"matmul_peak_gflops": peak, "rows": rows, "single_image_forward_us": single,
                       "test_set_images_per_s": whole}, f, indent=1)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
