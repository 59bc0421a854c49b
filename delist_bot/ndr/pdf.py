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
# A page's content stream, decoded, before its text is extracted: pypdf takes about 0.3 s a MB of
# text operators, so a 25 KB file inflating to 17 MB cost 5.6 s. An NDR's page is a few KB.
MAX_PAGE_CONTENT_BYTES = 512 * 1024
MAX_XOBJECTS = 200  # images and forms a page's images are looked for in


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
    except Unreadable:
        raise
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
        size = _content_bytes(page)
        if size > MAX_PAGE_CONTENT_BYTES:
            raise Unreadable(
                f"page {number + 1} has {size} bytes of content, over the"
                f" {MAX_PAGE_CONTENT_BYTES}-byte limit"
            )
        text = (page.extract_text() or "")[:MAX_PAGE_TEXT]
        if text.strip():
            texts.append(text)
        elif len(images) < max_images:
            images.extend(_page_images(page, max_images - len(images)))
    return PdfContent(tuple(texts), tuple(images))


def _refuse_slow_jpegs(resources) -> None:
    """The JPEGs of a page's images, and of its forms' images, checked before pypdf decodes them.
    Each XObject once, and at most MAX_XOBJECTS: forms may name each other in a loop."""
    from delist_bot.ndr import ocr

    pending, seen = [resources], set()
    while pending and len(seen) < MAX_XOBJECTS:
        found = pending.pop()
        found = found.get_object() if found is not None else None
        xobjects = found.get("/XObject") if hasattr(found, "get") else None
        xobjects = xobjects.get_object() if xobjects is not None else None
        for ref in xobjects.values() if hasattr(xobjects, "values") else ():
            if id(xobject := ref.get_object()) in seen:
                continue
            seen.add(id(xobject))
            if xobject.get("/Subtype") == "/Image":
                try:  # the raw stream, not inflated: 200 images of 20 MB would cost seconds
                    ocr.refuse_slow_jpeg(getattr(xobject, "_data", b"") or b"")
                except ocr.Unreadable as exc:
                    raise Unreadable(f"an image in it is a {exc}") from exc
            else:  # a form's own resources: pypdf looks for images inside forms too
                pending.append(xobject.get("/Resources"))


def _content_bytes(page) -> int:  # page: pypdf.PageObject
    """The decoded size of a page's content streams: decoding is fast, reading them is not."""
    from pypdf.generic import ArrayObject

    contents = page.get("/Contents")
    contents = contents.get_object() if contents is not None else None
    if contents is None:
        return 0
    parts = contents if isinstance(contents, ArrayObject) else [contents]
    return sum(len(part.get_object().get_data()) for part in parts)


def _page_images(page, wanted: int) -> list[bytes]:  # page: pypdf.PageObject
    _refuse_slow_jpegs(page.get("/Resources"))  # pypdf decodes each image it lists
    found = []
    for image in page.images:
        found.append(image.data)
        if len(found) >= wanted:
            break
    return found
