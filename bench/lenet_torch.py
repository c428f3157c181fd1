#!/usr/bin/python3
"""PyTorch reference for bench/lenet_vs_pytorch.py: the same LeNet as models/lenet.yaml
(conv3x3x6 pad 1, relu, maxpool2, conv5x5x16, relu, maxpool2, linear 120/84/10 with relu,
softmax cross-entropy, SGD lr 0.01 momentum 0.9) on synthetic data, timed like dlrun:
steady-state examples per second after warm-up steps, best of several repetitions.

Prints one JSON object so the driver can parse it; run with Debian's /usr/bin/python3."""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=200, help="timed steps per repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--infer-batch", type=int, default=100)
    ap.add_argument("--latency-steps", type=int, default=2000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LeNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    # A pool of distinct batches so the timing is not of one cached batch.
    xs = torch.randn(10, args.batch, 1, 28, 28)
    ys = torch.randint(0, 10, (10, args.batch))
    setup = time.perf_counter() - t0

    def train(steps):
        for i in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xs[i % 10]), ys[i % 10])
            loss.backward()
            opt.step()

    def best_rate(fn, steps, examples_per_step):
        fn(max(10, steps // 10))  # warm-up
        best = 0.0
        for _ in range(args.reps):
            t = time.perf_counter()
            fn(steps)
            best = max(best, steps * examples_per_step / (time.perf_counter() - t))
        return best

    result = {"threads": args.threads, "setup_s": setup}
    result["train_ex_s"] = best_rate(train, args.steps, args.batch)

    xi = torch.randn(10, args.infer_batch, 1, 28, 28)
    x1 = torch.randn(10, 1, 1, 28, 28)
    model.eval()
    with torch.inference_mode():
        def infer(steps):
            for i in range(steps):
                model(xi[i % 10]).argmax(1)

        def infer1(steps):
            for i in range(steps):
                model(x1[i % 10]).argmax(1)

        result["infer_ex_s"] = best_rate(infer, args.steps, args.infer_batch)
        result["latency_ms"] = 1e3 / best_rate(infer1, args.latency_steps, 1)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
