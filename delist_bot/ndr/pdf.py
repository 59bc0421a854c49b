"""The text layer of a PDF, and the images of its pages that have none: the only pypdf user.

Bounded: a few pages, a cap on each stream's inflated size, and the parser's own recursion guard.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

MAX_PAGES = 5
MAX_INFLATED_BYTES = 20 * 1024 * 1024  # per stream: a 10 KB zlib bomb inflates to gigabytes
MAX_PAGE_TEXT = 64 * 1024


class Unreadable(Exception):
    """The PDF was not read; its one-line reason is for the reviewer and the log."""


@dataclass(frozen=True)
class PdfContent:
    texts: tuple[str, ...]  # one per page that has a text layer
    images: tuple[bytes, ...]  # the images of pages without one, for OCR


def missing() -> str | None:
    try:
        import pypdf  # noqa: F401
    except ImportError:
        return "reading PDFs needs the Python package pypdf (pip install delist-bot)"
    return None


def read_pdf(data: bytes, max_images: int) -> PdfContent:
    problem = missing()
    if problem:
        raise Unreadable(problem)
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a broken PDF is not the log's news
    try:
        # Set here, not left to the library's defaults (75 MB a stream).
        with pypdf.apply_configuration(
            zlib_maximum_output_length=MAX_INFLATED_BYTES,
            maximum_declared_stream_length=MAX_INFLATED_BYTES,
            array_based_stream_maximum_output_length=MAX_INFLATED_BYTES,
            lzw_maximum_output_length=MAX_INFLATED_BYTES,
            run_length_maximum_output_length=MAX_INFLATED_BYTES,
            image_maximum_buffer_size=MAX_INFLATED_BYTES,  # an image decoded before OCR sees it
            stream_decoding_work_maximum_length=4 * MAX_INFLATED_BYTES,
            page_tree_maximum_entries=1000,
        ):
            return _read(pypdf.PdfReader(io.BytesIO(data), strict=False), max_images)
    except RecursionError as exc:
        raise Unreadable("PDF objects are nested too deeply") from exc
    except MemoryError as exc:
        raise Unreadable("PDF is too large to read") from exc
    except Exception as exc:  # pypdf raises many kinds for hostile files; one PDF, one reason
        raise Unreadable(f"PDF could not be read: {type(exc).__name__}") from exc


def _read(reader, max_images: int) -> PdfContent:  # reader: pypdf.PdfReader
    texts: list[str] = []
    images: list[bytes] = []
    for number, page in enumerate(reader.pages):
        if number >= MAX_PAGES:
            break
        text = (page.extract_text() or "")[:MAX_PAGE_TEXT]
        if text.strip():
            texts.append(text)
        elif len(images) < max_images:
            images.extend(_page_images(page, max_images - len(images)))
    return PdfContent(tuple(texts), tuple(images))


def _page_images(page, wanted: int) -> list[bytes]:  # page: pypdf.PageObject
    found = []
    for image in page.images:
        found.append(image.data)
        if len(found) >= wanted:
            break
    return found
