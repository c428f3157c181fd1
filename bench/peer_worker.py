"""The peers' side of bench/peers.py: one workload timed in PyTorch (eager, optionally
channels_last) or ONNX Runtime, on synthetic data, at a given thread count. Runs inside the
virtual environment bench/peers.py makes (PyTorch 2.x CPU from the package index, torchvision,
ONNX Runtime); prints one JSON object.

    peer_worker.py --workload NAME --model MODEL.yaml --mode train|infer --batch B
                   --threads T --steps N [--layout nchw|channels_last] [--engine torch|ort]

Timing matches bench/peers.py's dlrun side: each step is timed alone, the first --warmup steps
are dropped, the median step time is reported (ms/step and examples/s). The optimizer, its
hyperparameters and gradient clipping are read from the model file, so both sides do the same
update work (learning-rate schedules are a scalar per step and are not reproduced).
"""
import argparse
import io
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml


class LeNet(nn.Module):  # models/lenet.yaml
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Mlp(nn.Module):  # models/mlp.yaml
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


class LstmClassifier(nn.Module):  # models/lstm.yaml: 28 steps of 28 inputs, 128 units
    def __init__(self):
        super().__init__()
        self.lstm, self.out = nn.LSTM(28, 128, batch_first=True), nn.Linear(128, 10)

    def forward(self, x):
        h, _ = self.lstm(x.flatten(1, 2))
        return self.out(h[:, -1])


class Cifar10(nn.Module):  # models/cifar10.yaml (the TensorFlow tutorial CNN on 24x24 crops)
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 64, 5, padding=2), nn.Conv2d(64, 64, 5, padding=2)
        # TF's LRN (depth radius 4, alpha 0.001/9 per element) costs what torch's size-9 LRN does.
        self.norm = nn.LocalResponseNorm(9, alpha=0.001, beta=0.75, k=1.0)
        self.local3, self.local4 = nn.Linear(64 * 6 * 6, 384), nn.Linear(384, 192)
        self.logits = nn.Linear(192, 10)

    def forward(self, x):
        x = self.norm(F.max_pool2d(F.relu(self.conv1(x)), 3, 2, 1))
        x = F.max_pool2d(self.norm(F.relu(self.conv2(x))), 3, 2, 1)
        x = F.relu(self.local4(F.relu(self.local3(x.flatten(1)))))
        return self.logits(x)


def build(workload):
    base = workload.split("-")[0]
    if base in ("resnet50", "resnet152", "mobilenet_v2", "vgg16"):
        import torchvision
        return getattr(torchvision.models, base)()
    return {"lenet": LeNet, "mlp": Mlp, "lstm": LstmClassifier, "cifar10": Cifar10}[base]()


def optimizer(model, training):
    o = training.get("optimizer", {"type": "sgd", "lr": 0.01})
    kind, lr = o.get("type", "sgd"), o["lr"]
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=o.get("momentum", 0.0),
                               nesterov=o.get("nesterov", False),
                               weight_decay=o.get("weight_decay", 0.0))
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(model.parameters(), lr=lr, betas=tuple(o.get("betas", (0.9, 0.999))),
               eps=o.get("eps", 1e-8),
               weight_decay=o.get("weight_decay", 0.01 if kind == "adamw" else 0.0))


def timed(step, steps, warmup):
    times = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        step(i)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", choices=["train", "infer"], required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--layout", choices=["nchw", "channels_last"], default="nchw")
    ap.add_argument("--engine", choices=["torch", "ort"], default="torch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = yaml.safe_load(open(args.model))
    shape = next(v["shape"] for v in spec["inputs"].values() if "shape" in v)
    classes = next(v["classes"] for v in spec["inputs"].values() if "classes" in v)
    model = build(args.workload)
    xs = torch.randn(4, args.batch, *shape)
    ys = torch.randint(0, classes, (4, args.batch))
    if args.layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        xs = torch.stack([x.contiguous(memory_format=torch.channels_last) for x in xs])
    result = {"engine": args.engine, "layout": args.layout, "torch": torch.__version__}

    if args.engine == "ort":
        import onnxruntime as ort
        model.eval()
        buf = io.BytesIO()
        torch.onnx.export(model, (xs[0],), buf, input_names=["x"], output_names=["y"],
                          dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = args.threads, 1
        sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
        feeds = [{"x": x.numpy()} for x in xs]
        result["ort"] = ort.__version__
        step = lambda i: sess.run(None, feeds[i % 4])[0].argmax(1)
    elif args.mode == "train":
        model.train()
        opt = optimizer(model, spec.get("training", {}))
        clip = spec.get("training", {}).get("clip_grad_norm")

        def step(i):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xs[i % 4]), ys[i % 4]).backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
    else:
        model.eval()

        def step(i):
            with torch.inference_mode():
                model(xs[i % 4]).argmax(1)

    seconds = timed(step, args.steps, args.warmup)
    result.update(ms=seconds * 1e3, ex_s=args.batch / seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
