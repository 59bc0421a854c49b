"""OCR of a screenshot on one core, and the cost of a pass's other messages beside it.

Run: python -m benchmarks.ocr [SCREENSHOTS]. Renders NDR screenshots with the headless Chromium
(100-150 %, PNG and JPEG), then, in one run: the time to extract a forward carrying one (goal:
under 2 s on one core), and the text messages' cost in a pass alone against the same messages in
a pass mixed with the screenshots (goal: unaffected, a ratio near 1.00x).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.parse import realistic_messages
from delist_bot.ndr import extract
from tests.ndr.test_shapes import forward, render
from tests.support.builder import microsoft_511

SHAPES = [(1.0, 1000, "png"), (1.25, 800, "jpeg"), (1.5, 1200, "png"), (1.0, 1280, "jpeg")]
IPS = ["81.2.69.142", "45.67.189.10", "172.217.16.195", "8.8.4.4"]


def screenshots(count: int) -> list[bytes]:
    folder = Path(tempfile.mkdtemp(prefix="delist-ocr-bench-"))
    found = []
    for i in range(count):
        scale, width, kind = SHAPES[i % len(SHAPES)]
        image = render(
            folder, microsoft_511(IPS[i % len(IPS)]), scale=scale, width=width, kind=kind
        )
        found.append(forward(image, f"image/{kind}", f"ndr.{kind}"))
    return found


def _timed(raw: bytes) -> float:
    started = time.perf_counter()
    extract(raw)
    return time.perf_counter() - started


def main(count: int = 8) -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"  # Tesseract's own threads: one core
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # and Tesseract inherits it
    shots = screenshots(count)
    texts = realistic_messages(400)
    alone = sum(_timed(raw) for raw in texts)
    mixed_texts, ocr_times = 0.0, []
    step = len(texts) // len(shots)
    for i, raw in enumerate(texts):  # the same messages, a screenshot among every STEP of them
        if i % step == 0 and i // step < len(shots):
            ocr_times.append(_timed(shots[i // step]))
        mixed_texts += _timed(raw)
    again = sum(_timed(raw) for raw in texts)  # the load may drift: alone before and after
    baseline = (alone + again) / 2
    print(f"screenshots: {len(shots)} (100-150 %, PNG and JPEG), one core")
    print(
        f"OCR of one screenshot: median {statistics.median(ocr_times):.2f} s, "
        f"max {max(ocr_times):.2f} s; goal under 2 s"
    )
    print(
        f"{len(texts)} text messages: alone {baseline:.2f} s, beside the screenshots "
        f"{mixed_texts:.2f} s: {mixed_texts / baseline:.2f}x; goal unaffected (about 1.00x)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
