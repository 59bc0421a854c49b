"""Evidence that is not text: screenshots (OCR), PDFs, Outlook's .msg and TNEF.

Screenshots and PDFs are rendered by the headless Chromium from NDR pages; the real Outlook
files and screenshots are read from ../shared/corpus/outlook/ (see its README).
"""

from __future__ import annotations

import csv
import html
import io
import shutil
import subprocess
import tempfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from delist_bot.ndr import extract, ocr
from delist_bot.ndr.attachments import MAX_IMAGES, MAX_PDFS, Budget, read_ocr_text, sniff
from delist_bot.services.parse import parse_record
from tests.support.builder import microsoft_511, outlook_com
from tests.system.test_report_outputs import CHROMIUM_FLAGS

OUTLOOK = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "outlook"
HOSTILE = Path(__file__).parents[1] / "hostile" / "shapes"
needs_tesseract = pytest.mark.skipif(ocr.missing() is not None, reason=str(ocr.missing()))
# A file with pictures inside: Tesseract reads each (an outside program, seconds): system.
PICTURES = pytest.mark.system


def forward(data: bytes, ctype: str = "application/octet-stream", name: str = "evidence") -> bytes:
    """A person's forward with one attachment, declared as the sender's client declares it."""
    mail = EmailMessage()
    mail["From"] = "Anna Rossi <anna@sender.example>"
    mail["To"] = "delist@d.example"
    mail["Subject"] = "Fw: Undeliverable"
    mail["Message-ID"] = "<shape@sender.example>"
    mail.set_content("Hello, our mail to your customers bounces, see the attachment. Please help.")
    main, sub = ctype.split("/")
    mail.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return bytes(mail)


def reading(raw: bytes) -> tuple:
    record = parse_record("x", raw)
    return record["action"], record["ndr_code"], record["ip"], record["source"]


# The real files: (path, action, code, ip, source). None of the Outlook files is a 5.7.511 NDR;
# what must be read is the code they show, or nothing (need_info) where they show none.
CORPUS = [
    ("eml_analyzer/other_eyou_bounce.msg", "need_info", None, None, None),  # no code in it
    ("eml_analyzer/outer.msg", "need_info", None, None, None),
    pytest.param("msgreader/msgInMsgInMsg.msg", "need_info", None, None, None, marks=PICTURES),
    ("Aspose.Email-for-.NET/WithEmbeddedMsg.msg", "need_info", None, None, None),
    ("MimeKit/winmail.tnef", "need_info", None, None, None),
    ("MimeKit/garbage-at-end.tnef", "need_info", None, None, None),
    pytest.param("poi/winmail-sample1.dat", "need_info", None, None, None, marks=PICTURES),
    pytest.param(
        "OfficeDocs-Exchange/owa_ndr_partial_e68ff341.png",
        "need_info",
        None,
        None,
        None,
        marks=PICTURES,
    ),
]
SCREENSHOTS = [
    ("OfficeDocs-Exchange/ex2007_outlook_report_ndr_5.1.1_adfb8d5a.gif", "other", "5.1.1"),
    ("OfficeDocs-Exchange/ex2007_outlook_report_ndr_5.7.1_c9a7cd2d.gif", "other", "5.7.1"),
    ("OfficeDocs-Exchange/ex2013_outlook_report_ndr_5.1.1_96245455.png", "other", "5.1.1"),
    ("OfficeDocs-Exchange/exchange2016_ndr_e7e607e8.png", "other", "4.4.7"),
    # 520 px wide, 550 read as "S50": corrected only because an enhanced code follows.
    ("OfficeDocs-Exchange/outlook_report_ndr_5.1.1_e4826e34.png", "other", "5.1.1"),
]


@pytest.mark.parametrize(("path", "action", "code", "ip", "source"), CORPUS)
def test_real_outlook_files(path: str, action: str, code, ip, source) -> None:
    data = (OUTLOOK / path).read_bytes()
    if path.endswith(".png"):
        pytest.importorskip("pytesseract")
    # Declared as a stranger type with a wrong name: the first bytes decide.
    assert reading(forward(data, "application/octet-stream", "scan.txt")) == (
        action,
        code,
        ip,
        source,
    )


@pytest.mark.parametrize(("path", "action", "code"), SCREENSHOTS)
def test_real_screenshots(path: str, action: str, code: str, tesseract: None) -> None:
    data = (OUTLOOK / path).read_bytes()
    record = parse_record("x", forward(data, "image/png", "ndr.png"))
    # Their only IPs are decoys (the Received lines): none may be read as the blocked one.
    assert (record["action"], record["ndr_code"], record["ip"], record["source"]) == (
        action,
        code,
        None,
        "ocr",
    )


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("MimeKit/rich-text.eml", marks=PICTURES),
        "Aspose.Email-for-.NET/tnefWithMsgInside.eml",
    ],
)
def test_real_mails_with_tnef_parts(path: str) -> None:
    record = parse_record("x", (OUTLOOK / path).read_bytes())
    assert record["action"] == "need_info" and "error" not in record


def test_signatures_decide_not_names() -> None:
    assert sniff((OUTLOOK / "msgreader/msgInMsg.msg").read_bytes()) == "msg"
    assert sniff((OUTLOOK / "poi/winmail-sample1.dat").read_bytes()) == "tnef"
    assert sniff(b"%PDF-1.7\n") == "pdf"
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "ocr"
    assert sniff(b"Hello, this is text") is None


# --- screenshots and PDFs rendered by Chromium from an NDR page ---------------------------

NDR_PAGE = """<!doctype html><html><body style="font-family:'DejaVu Sans',sans-serif;
font-size:{size}px;margin:16px;color:#222;background:#fff">
<div style="border:1px solid #2a6ebb;padding:10px"><b style="color:#1f3864">Delivery has failed
to these recipients or groups:</b><p>info@contoso.com</p><p>Your message couldn't be delivered.
The IP address you sent from is on a block list.</p></div>
<p style="color:#666">Diagnostic information for administrators:</p>
<p>Generating server: AM0PR01MB1234.eurprd01.prod.exchangelabs.com</p>
<p>info@contoso.com<br>Remote Server returned '{reply}'</p>
<pre style="font-size:{small}px">Received: from mail.sender.example (10.20.30.40) by
 AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208::1)</pre>
</body></html>"""


def render(
    tmp_path: Path, reply: str, *, scale: float, width: int, kind: str, size: int = 13
) -> bytes:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (./scripts/test installs it)")
    page = tmp_path / "ndr.html"
    page.write_text(NDR_PAGE.format(reply=html.escape(reply), size=size, small=size - 1))
    out = tmp_path / ("ndr.pdf" if kind == "pdf" else "ndr.png")
    target = f"--print-to-pdf={out}" if kind == "pdf" else f"--screenshot={out}"
    profile = tempfile.mkdtemp(prefix="delist-chromium-")
    try:
        subprocess.run(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},700",
                f"--force-device-scale-factor={scale}",
                "--no-pdf-header-footer",
                target,
                page.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    data = out.read_bytes()
    if kind == "jpeg":
        from PIL import Image

        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").save(buffer, "JPEG", quality=85)
        data = buffer.getvalue()
    return data


RENDERED = [
    ("81.2.69.142", 1.0, 1000, "png"),
    ("81.2.69.142", 1.25, 800, "jpeg"),
    ("45.67.189.10", 1.0, 1280, "png"),  # read in doubt at first: a second reading confirms it
    ("172.217.16.195", 1.1, 1100, "jpeg"),
    ("203.0.113.77", 1.5, 800, "png"),
    ("198.51.100.219", 1.0, 1280, "jpeg"),
]
PUBLIC = {"81.2.69.142", "45.67.189.10", "172.217.16.195"}  # the others are documentation ranges


@pytest.mark.system
@needs_tesseract
@pytest.mark.parametrize(("ip", "scale", "width", "kind"), RENDERED)
def test_rendered_screenshots(tmp_path: Path, ip: str, scale: float, width: int, kind: str) -> None:
    image = render(tmp_path, microsoft_511(ip), scale=scale, width=width, kind=kind)
    record = parse_record("x", forward(image, f"image/{kind}", f"ndr.{kind}"))
    assert (record["ndr_code"], record["ip"], record["source"], record["action"]) == (
        "5.7.511",
        ip,
        "ocr",
        "review" if ip in PUBLIC else "need_info",
    )


@pytest.mark.system
@needs_tesseract
def test_rendered_consumer_screenshot(tmp_path: Path) -> None:
    image = render(tmp_path, outlook_com("81.2.69.142"), scale=1.25, width=1000, kind="png")
    record = parse_record("x", forward(image, "image/png", "bounce.png"))
    assert (record["action"], record["provider_code"], record["source"]) == (
        "consumer",
        "S3150",
        "ocr",
    )


@pytest.mark.system
def test_rendered_pdf_reads_its_text_layer(tmp_path: Path) -> None:
    document = render(tmp_path, microsoft_511("81.2.69.142"), scale=1.0, width=1000, kind="pdf")
    record = parse_record("x", forward(document, "application/pdf", "ndr.pdf"))
    assert (record["action"], record["ndr_code"], record["ip"], record["source"]) == (
        "review",
        "5.7.511",
        "81.2.69.142",
        "pdf",
    )


# --- OCR's confusions, each accepted only where the words around confirm it -------------


def words(text: str, confidence: float = 96.0) -> ocr.OcrText:
    return ocr.OcrText(
        tuple(tuple(ocr.Word(w, confidence) for w in line.split()) for line in text.splitlines())
    )


@pytest.mark.parametrize(
    ("seen", "read", "doubtful"),
    [
        ("S50 5.7.511 Access denied, banned sender[81.2.69.142]", "550 5.7.511", ()),
        ("550 5.7.51 Access denied, banned sender(81.2.69.142)", "sender[81.2.69.142]", ()),
        ("550 5.7.51 Access denied, banned sender[81.2.69.142]", "550 5.7.511", ()),
        ("550 5.7.51 TenantInboundAttribution; rejected", "550 5.7.51 Tenant", ()),
        ("Sales S50 units sold", "S50 units", ()),
        ("banned sender[81.2.6O.142]", "could not read", ("81.2.6O.142",)),
        ("banned sender[81.2.369.142]", "could not read", ("81.2.369.142",)),
        ("banned sender[2a01:4f8:c17:l234::25]", "could not read", ("2a01:4f8:c17:l234::25",)),
        ("banned sender[2a01:4f8:c17:1234::25]", "sender[2a01:4f8:c17:1234::25]", ()),
        ("Date: 13:45:39 -0700", "13:45:39", ()),
    ],
)
def test_ocr_confusions(seen: str, read: str, doubtful: tuple) -> None:
    text, unsure = read_ocr_text(words(seen))
    assert read in text and unsure == doubtful


def test_a_low_confidence_ip_is_not_read() -> None:
    text, unsure = read_ocr_text(words("550 5.7.511 Access denied, banned sender[81.2.69.142]", 60))
    assert unsure == ("81.2.69.142",) and "81.2.69.142" not in text


# --- hostile images and PDFs ---------------------------------------------------------------


def hostile_rows() -> list[dict[str, str]]:
    with (HOSTILE / "expected.tsv").open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.parametrize("row", hostile_rows(), ids=lambda row: row["file"])
def test_hostile_shapes(row: dict[str, str]) -> None:
    extraction = extract(forward((HOSTILE / row["file"]).read_bytes()))
    assert extraction.error is None
    assert extraction.ndr_code is None and extraction.ip is None
    if row["note"] != "-":  # "-": the library read it as empty, nothing to say
        assert any(row["note"] in note for note in extraction.notes), extraction.notes


def test_many_images_cost_a_few_ocr_runs() -> None:
    mail = EmailMessage()
    mail["From"] = "a@sender.example"
    mail.set_content("see the screenshots")
    for _ in range(MAX_IMAGES + 5):
        mail.add_attachment(b"\x89PNG\r\n\x1a\n broken", maintype="image", subtype="png")
    extraction = extract(bytes(mail))
    assert any(f"more than {MAX_IMAGES} images" in note for note in extraction.notes)
    assert Budget().images == MAX_IMAGES


def test_many_pdfs_cost_a_few_reads() -> None:
    """Each PDF may cost half a second: four hundred of them in one mail are not read."""
    bomb = (HOSTILE / "pdf-text-stream-17MB.pdf").read_bytes()
    mail = EmailMessage()
    mail["From"] = "a@sender.example"
    mail.set_content("see the PDFs")
    for _ in range(MAX_PDFS + 5):
        mail.add_attachment(bomb, maintype="application", subtype="pdf")
    extraction = extract(bytes(mail))
    assert any(f"more than {MAX_PDFS} PDFs" in note for note in extraction.notes)
    assert sum("bytes of content" in note for note in extraction.notes) == 1  # one note a reason


@pytest.mark.system  # the JPEG reaches Tesseract
@pytest.mark.xfail(strict=True, reason="a JPEG inside another filter is only seen once decoded")
def test_a_slow_jpeg_behind_another_filter_is_refused_before_decoding() -> None:
    import zlib

    plain = (HOSTILE / "pdf-jpeg-100-scans.pdf").read_bytes()
    start = plain.index(b"stream\n", plain.index(b"/DCTDecode")) + len(b"stream\n")
    end = plain.index(b"\nendstream", start)
    packed = zlib.compress(plain[start:end])
    head = plain[:start].replace(b"/Filter /DCTDecode", b"/Filter [/FlateDecode /DCTDecode]")
    head = head.replace(b"/Length %d" % (end - start), b"/Length %d" % len(packed))
    wrapped = head + packed + plain[end:]  # the xref is off now: pypdf rebuilds it
    extraction = extract(forward(wrapped))
    assert any("JPEG of over" in note for note in extraction.notes), extraction.notes


# --- what reviewers are told ---------------------------------------------------------------


@pytest.mark.system
@needs_tesseract
def test_reviewers_are_told_a_reading_came_from_a_screenshot(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from delist_bot.store import Store
    from tests.runtime.test_pipeline import run, sent

    image = render(tmp_path, microsoft_511("81.2.69.142"), scale=1.25, width=1000, kind="png")
    store = Store(tmp_path / "s.json")
    done = run(store, forward(image, "image/png", "bounce.png"), datetime(2026, 11, 27, tzinfo=UTC))
    assert done.action == "review"
    [notification] = sent(store, "reviewer_notification")
    text = notification.get_payload(0).get_payload(decode=True).decode()
    assert "read from a screenshot (OCR)" in text
    attached = notification.get_payload(1).get_payload(0)  # the request, image and all
    assert any(p.get_content_type() == "image/png" for p in attached.walk())


# --- two shapes that were misclassified (issue 16) ------------------------------------------


def outlook_html_forward(ndr_text: str) -> bytes:
    """An HTML-only forward as Outlook writes it: every line of the pasted NDR its own paragraph."""
    lines = "".join(
        f"<p class=MsoNormal>{html.escape(line) or '&nbsp;'}<o:p></o:p></p>\n"
        for line in ndr_text.splitlines()
    )
    mail = EmailMessage()
    mail["From"] = "postmaster@example.org"
    mail["Subject"] = "FW: Undeliverable"
    body = f"<html><body><p class=MsoNormal>Please delist us.<o:p></o:p></p>\n{lines}</body></html>"
    mail.set_content(body, subtype="html")
    return bytes(mail)


@pytest.mark.parametrize(
    ("name", "action", "provider_code"),
    [
        ("postfix-s3150", "consumer", "S3150"),  # was `other`: (S3150) fell past a blank line
        ("exim-s3140", "consumer", "S3140"),
        ("postfix-blocklist1", "review", None),  # was `other`: "Blocklist 1" past a blank line
    ],
)
def test_ndr_pasted_into_an_outlook_html_body(name: str, action: str, provider_code) -> None:
    from tests.support.builder import NDRS

    [ndr] = [n for n in NDRS if n.name == name]
    record = parse_record("x", outlook_html_forward(ndr.text))
    assert (record["action"], record["ndr_code"], record["ip"], record["provider_code"]) == (
        action,
        ndr.code,
        ndr.ip,
        provider_code,
    )
    assert record["source"] == "html"


def test_a_message_inside_a_message_inside_a_message_is_read() -> None:
    from delist_bot.ndr import outlook

    content = outlook.read_msg((OUTLOOK / "msgreader/msgInMsgInMsg.msg").read_bytes())
    subjects = [b.text.split("\n\n", 1)[0] for b in content.bodies]
    assert any("I have sub attachments!" in s for s in subjects)
    assert any("I have attachments!" in s for s in subjects)
    assert len(content.bodies) == 3 and content.attachments  # and its images, for OCR


def test_rich_text_of_a_tnef_body() -> None:
    from delist_bot.ndr.outlook import rtf_text

    rtf = r"{\rtf1\ansi{\fonttbl}\pard 550 5.7.511 Access denied, banned sender[81.2.69.142]\par}"
    assert "550 5.7.511 Access denied, banned sender[81.2.69.142]" in rtf_text(rtf)


@pytest.mark.system
@needs_tesseract
def test_a_pdf_page_without_text_goes_to_ocr(tmp_path: Path) -> None:
    """A screenshot printed to PDF: no text layer, one image; it is read by OCR."""
    image = render(tmp_path, microsoft_511("81.2.69.142"), scale=1.25, width=1000, kind="png")
    (tmp_path / "shot.png").write_bytes(image)
    page = tmp_path / "page.html"
    page.write_text('<html><body style="margin:0"><img src="shot.png" width="700"></body></html>')
    out = tmp_path / "printed.pdf"
    binary = shutil.which("chromium") or pytest.skip("chromium is not installed")
    profile = tempfile.mkdtemp(prefix="delist-chromium-")
    try:
        subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
             f"--print-to-pdf={out}", page.as_uri()],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    record = parse_record("x", forward(out.read_bytes(), "application/pdf", "ndr.pdf"))
    assert (record["action"], record["ndr_code"], record["ip"], record["source"]) == (
        "review",
        "5.7.511",
        "81.2.69.142",
        "ocr",
    )


@pytest.mark.system
def test_without_tesseract_the_bot_says_so_in_one_line(tmp_path: Path) -> None:
    """No Tesseract on PATH (a real missing program, not a mock): one note, no traceback."""
    import os
    import sys

    mail = tmp_path / "shot.eml"
    mail.write_bytes(
        forward((OUTLOOK / "OfficeDocs-Exchange/exchange2016_ndr_e7e607e8.png").read_bytes())
    )
    script = "from delist_bot.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", script, "parse", str(mail)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path)},
        timeout=120,
    )
    assert "Traceback" not in result.stderr
    assert "note: image not read: OCR needs Tesseract (apt-get install" in result.stdout
    assert "need_info" in result.stdout
