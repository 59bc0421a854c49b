"""Read the text of a screenshot with Tesseract: the only module that imports Pillow or pytesseract.

Bounded: images over a size are refused with a reason or scaled down, and Tesseract has a timeout.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import warnings
from dataclasses import dataclass

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_IMAGE_PIXELS = 25_000_000  # as declared in the header, before decoding a single row
# A side longer than any screen's scroll capture: a 12,500,000x2 PNG of 24 KB took 2.2 s to
# decode and scale before Tesseract, against 0.2 s for a 5000x5000 one.
MAX_IMAGE_SIDE = 20_000
MAX_OCR_PIXELS = 4_000_000  # after scaling up: Tesseract's time grows with the area
# A progressive JPEG decodes every scan over the whole image: one scan repeated 2,000 times in a
# 156 KB file took 40 s to decode, before Tesseract's timeout starts. An encoder writes 6 to 12.
MAX_JPEG_SCANS = 64
_JPEG_START = b"\xff\xd8"
_JPEG_SCAN = b"\xff\xda"  # a marker: 0xFF inside entropy-coded data is followed by 0x00
UPSCALE = 3.0  # UI text at 100 % is 11-13 px high; Tesseract wants 30 or more
OCR_TIMEOUT_SECONDS = 10  # one screenshot takes 1-2 s on one core (benchmarks/ocr.py)
LANGUAGES = "eng"  # codes, IPs and Microsoft's English NDR wording; the UI's language is noise
PAGE_MODE = "--psm 6"  # one uniform block: psm 3 drops the grey text of boxed NDR panes
# Tesseract's OpenMP threads spin on every core while they wait: on a busy 2-core machine one
# screenshot took over 10 s (5.7 s of it in the kernel) instead of 1.3 s. Tesseract inherits
# this process's environment; one thread per OCR run, as benchmarks/ocr.py measures it.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


class Unreadable(Exception):
    """The image was not read: its one-line reason is for the reviewer and the log."""


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float  # Tesseract's 0-100


@dataclass(frozen=True)
class OcrText:
    lines: tuple[tuple[Word, ...], ...]

    @property
    def text(self) -> str:
        return "\n".join(" ".join(w.text for w in line) for line in self.lines)


def missing() -> str | None:
    """Why OCR cannot run here, in one line, or None."""
    try:
        import PIL  # noqa: F401
        import pytesseract  # noqa: F401
    except ImportError as exc:
        return f"OCR needs the Python package {exc.name or 'pytesseract'} (pip install delist-bot)"
    if shutil.which("tesseract") is None:
        return "OCR needs Tesseract (apt-get install tesseract-ocr tesseract-ocr-eng)"
    return None


def read_image(data: bytes, timeout: float = OCR_TIMEOUT_SECONDS, zoom: float = 1.0) -> OcrText:
    """The words of one image, line by line, with Tesseract's confidence in each. ZOOM below 1
    reads it again at another size, for a second opinion."""
    if len(data) > MAX_IMAGE_BYTES:
        raise Unreadable(f"image of {len(data)} bytes is over the {MAX_IMAGE_BYTES}-byte limit")
    refuse_slow_jpeg(data)
    problem = missing()
    if problem:
        raise Unreadable(problem)
    image = _prepared(data, zoom)
    import pytesseract

    try:
        found = pytesseract.image_to_data(
            image,
            lang=LANGUAGES,
            config=PAGE_MODE,
            timeout=timeout,
            output_type=pytesseract.Output.DICT,
        )
    except RuntimeError as exc:  # pytesseract's timeout
        raise Unreadable(f"OCR gave up after {timeout:g} s") from exc
    except pytesseract.TesseractError as exc:
        raise Unreadable(f"Tesseract failed: {str(exc)[:200]}") from exc
    return _lines(found)


def refuse_slow_jpeg(data: bytes) -> None:
    """Unreadable for a JPEG of too many scans, before anything decodes it (pypdf does too)."""
    if data.startswith(_JPEG_START) and data.count(_JPEG_SCAN) > MAX_JPEG_SCANS:
        raise Unreadable(f"JPEG of over {MAX_JPEG_SCANS} scans (each decodes the whole image)")


def _prepared(data: bytes, zoom: float):  # -> PIL.Image.Image
    from PIL import Image, ImageOps, UnidentifiedImageError

    # Set here, not left to the default: a decompression bomb is refused before it is decoded.
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            too_long = max(width, height) > MAX_IMAGE_SIDE
            if width * height > MAX_IMAGE_PIXELS or too_long or width < 1 or height < 1:
                raise Unreadable(f"image of {width}x{height} pixels is over the size limit")
            image.seek(0)  # the first frame of a GIF
            image = image.convert("L")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Unreadable("image is over the size limit (a decompression bomb)") from exc
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError) as exc:
        raise Unreadable(f"image could not be decoded: {type(exc).__name__}") from exc
    scale = min(UPSCALE, math.sqrt(MAX_OCR_PIXELS / (width * height))) * zoom
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    # Grey UI text on white (the diagnostic pane) is lost unless stretched to full contrast.
    return ImageOps.autocontrast(image, cutoff=1)


def _lines(found: dict) -> OcrText:
    lines: dict[tuple[int, int, int], list[Word]] = {}
    for i, text in enumerate(found.get("text", [])):
        text = (text or "").strip()
        if not text:
            continue
        key = (found["block_num"][i], found["par_num"][i], found["line_num"][i])
        lines.setdefault(key, []).append(Word(text, float(found["conf"][i])))
    return OcrText(tuple(tuple(words) for words in lines.values()))
