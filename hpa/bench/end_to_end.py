"""``hpa.bench.gpu_check``'s end-to-end table: what ``hpa.train`` delivers against the bare step.

For each network, a Kaggle-sized training set (31,072 samples, ``--samples``) is
written straight into the cache format (:mod:`hpa.bench.generated_cache`), then

    python -m hpa.train --model NAME --data GENERATED --device DEVICE --epochs 1
                        --image-size S --batch-size B --val-fraction 0.01 ...

trains one epoch in a process of its own, as a user runs it (loader threads,
uint8 batches augmented on the device, prefetching, the loss watch). Its
training samples/s (``train_samples_per_s`` of the run's metrics.csv: the
whole epoch, its first batch included) stands next to the step rate of the
network table (random batches already on the device), with their ratio; the
target is 90%. The generated cache takes samples x 4 x S^2 bytes of disk beside
the reports (32.6 GB for GapNet's 512 px, 2 GB for ParallelLeNet's 128 px), and
is deleted after its run.
"""
import csv
import os
import subprocess
import sys
import tempfile
import time

from hpa.bench.generated_cache import generated_training_set

KAGGLE_SAMPLES = 31072
TARGET = 0.90
# The training command; tests run it on the fake device (tests/run_on_fake_device.py).
TRAIN_COMMAND = [sys.executable, "-m", "hpa.train"]


def train_rate(name, size, batch, device, folder, out, limit, env):
    """(training samples/s of one epoch, seconds the command took) of ``hpa.train``, or an error text."""
    command = [*TRAIN_COMMAND, "--model", name, "--data", folder, "--cache-dir", os.path.dirname(folder),
               "--device", device, "--epochs", "1", "--image-size", str(size), "--batch-size", str(batch),
               "--val-fraction", "0.01", "--early-stopping", "0", "--out", out]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired:
        return f"stopped after the {limit} s limit"
    if done.returncode != 0:
        return f"hpa.train exited with {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}"
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    return float(rows[0]["train_samples_per_s"]), time.perf_counter() - start


def table(networks, step_rates, device, samples, limit, env=None, root=None):
    """The end-to-end table (text) and whether every run succeeded (a rate below the target is
    marked in the table, not a failure).

    networks: {name: (size, batch)}; step_rates: {name: float32 step samples/s}.
    """
    lines = [f"end to end: python -m hpa.train --device {device}, one epoch of {samples} generated samples "
             f"(99% for training), against the training step on device batches; target {TARGET:.0%}",
             f"{'network':<16} {'input':>9} {'batch':>6} {'step samples/s':>15} {'train samples/s':>16} "
             f"{'train/step':>11} {'run s':>6}"]
    succeeded = True
    with tempfile.TemporaryDirectory(prefix="hpa_e2e_", dir=root) as tmp:
        for name, (size, batch) in networks.items():
            folder = generated_training_set(tmp, samples, size)
            result = train_rate(name, size, batch, device, folder, os.path.join(tmp, f"run-{name}"), limit, env)
            step = step_rates[name]
            if isinstance(result, str):
                lines.append(f"{name:<16} {size:>6} px {batch:>6} {step:>15.1f}  ({result})")
                succeeded = False
                continue
            rate, seconds = result
            ok = rate >= TARGET * step
            lines.append(f"{name:<16} {size:>6} px {batch:>6} {step:>15.1f} {rate:>16.1f} {rate / step:>10.2f}x "
                         f"{seconds:>6.0f}" + ("" if ok else "  below target"))
    return "\n".join(lines), succeeded
