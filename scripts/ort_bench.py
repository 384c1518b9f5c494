"""ONNX Runtime in process on the peer's model (the seed's LSTM, window 50, 14 inputs): median time of 1
window, and time per window in batches of 32 and 256, with the same session settings as the peer's services
(default providers, CPU). Pair it with `rul bench model` on the plan's LSTM for the network-alone comparison.

Usage: ~/.peer-venv/bin/python scripts/ort_bench.py ../shared/peers/seed_fd001_w50.onnx [SECONDS]
"""
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    path = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    one = rng.random((1, 50, 14), dtype=np.float32)
    for _ in range(50):
        session.run(None, {name: one})
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        session.run(None, {name: one})
        times.append((time.perf_counter() - t) * 1e6)
    print(f"ort 1 window: median {statistics.median(times):.1f} us, mean {statistics.fmean(times):.1f} us, "
          f"{len(times)} runs")
    for batch in (32, 256):
        x = rng.random((batch, 50, 14), dtype=np.float32)
        session.run(None, {name: x})
        calls, spent = 0, 0.0
        while spent < seconds or calls < 3:
            t = time.perf_counter()
            session.run(None, {name: x})
            spent += time.perf_counter() - t
            calls += 1
        per = spent / (calls * batch)
        print(f"ort batch {batch}: {per * 1e6:.2f} us/window, {1 / per:.0f} windows/s")


if __name__ == "__main__":
    main()
