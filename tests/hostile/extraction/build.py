"""Build the hostile extraction samples: one .eml per attack on the extractor's time or text.

Run: python -m tests.hostile.extraction.build  (rewrites the .eml files and expected.tsv here).
Each message is an ordinary-looking request whose body carries the attack; where the attack
can hide a real NDR, the real NDR follows it and must still be found.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
SIZE = 100_000  # characters of attack run: with headers, each file stays under 120 KB
BIG = 3_000_000  # the big body: past the 2 MB / 512K characters read before
IP = "81.2.69.142"
NDR = (
    f"550 5.7.511 Access denied, banned sender[{IP}]. To request removal from this list,"
    " forward this message to delist@microsoft.com."
)
WORDS = "Hello,\nour server is blocked by Microsoft, please remove it. The bounce is below.\n\n"


@dataclass(frozen=True)
class Attack:
    file: str
    attack: str
    body: bytes
    action: str
    ip: str = ""
    code: str = ""
    content_type: str = "text/plain; charset=utf-8"
    subject: str = "Fwd: Undeliverable"
    extra_headers: str = ""


def _text(*parts: str) -> bytes:
    return "".join(parts).encode("utf-8")


def _html(*parts: str) -> bytes:
    return _text("<html><body><p>", WORDS, "</p><p>", NDR, "</p>", *parts)


def attacks(size: int = SIZE) -> list[Attack]:
    """Every attack, its runs SIZE characters long (the floods scaled alike)."""
    scale = size / SIZE
    found = [
        Attack(
            "placeholder-backtracking.eml",
            "placeholder pattern: banned sender[ + 70 x + a character that is not ] "
            "(exponential backtracking: 26 x took 3.9 s)",
            _text(WORDS, "550 5.7.511 Access denied, banned sender[", "x" * 70, "!]\n"),
            "need_info",
            code="5.7.511",
        ),
        Attack(
            "placeholder-flood.eml",
            "the placeholder attack repeated 1,300 times in one body",
            _text(
                WORDS,
                ("550 5.7.511 Access denied, banned sender[" + "x" * 30 + "!]\n")
                * round(1300 * scale),
            ),
            "need_info",
            code="5.7.511",
        ),
        Attack(
            "spaces-after-banned-sender.eml",
            "100 KB of spaces after 'banned sender' (quadratic: 30 KB took 15 s)",
            _text(WORDS, "550 5.7.511 Access denied, banned sender", " " * size, "x\n"),
            "need_info",
            code="5.7.511",
        ),
        Attack(
            "short-lines-after-banned-sender.eml",
            "50,000 short ' \\n' lines after 'banned sender'",
            _text(WORDS, "550 5.7.511 Access denied, banned sender", " \n" * (size // 2), "x\n"),
            "need_info",
            code="5.7.511",
        ),
        Attack(
            "spaces-after-messages-from.eml",
            "100 KB of spaces after 'messages from', the real NDR after them",
            _text(WORDS, "Your messages from", " " * size, "x\n\n", NDR, "\n"),
            "review",
            IP,
            "5.7.511",
        ),
        Attack(
            "short-lines-in-multipart.eml",
            "50,000 short lines in one part of a multipart (the stdlib's parser takes a Python "
            "step per line to look for the boundary)",
            _text(
                "--b\nContent-Type: text/plain\n\n",
                WORDS,
                "x\n" * (size // 2),
                "--b\nContent-Type: text/plain\n\n",
                NDR,
                "\n--b--\n",
            ),
            "review",
            IP,
            "5.7.511",
            'multipart/mixed; boundary="b"',
        ),
        Attack(
            "short-lines-after-messages-from.eml",
            "short ' \\n' lines after 'messages from', the real NDR after them",
            _text(WORDS, "Your messages from", " \n" * (size // 2), "x\n\n", NDR, "\n"),
            "review",
            IP,
            "5.7.511",
        ),
        Attack(
            "spaces-after-smtp-code.eml",
            "100 KB of spaces and tabs between '550' and its enhanced code",
            _text(WORDS, "550", " \t" * (size // 2), "x\n\n", NDR, "\n"),
            "review",
            IP,
            "5.7.511",
        ),
        Attack(
            "spaces-in-bracket.eml",
            "'banned sender[' followed by 100 KB of spaces and no IP",
            _text(WORDS, "550 5.7.511 Access denied, banned sender[", " " * size, "]\n"),
            "need_info",
            code="5.7.511",
        ),
        Attack(
            "statement-flood.eml",
            "2,000 NDR statements in one body, each analysed before",
            _text(WORDS, (NDR + "\n\n") * round(800 * scale)),
            "review",
            IP,
            "5.7.511",
        ),
        Attack(
            "dsn-flood.eml",
            "a forwarded delivery report with 1,100 failed recipients, the NDR in the last",
            _text(
                "--b\nContent-Type: text/plain\n\n",
                WORDS,
                "--b\nContent-Type: message/rfc822\n\n",
                "From: MAILER-DAEMON@example.org\nSubject: Undelivered\n",
                'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\n\n',
                "--r\nContent-Type: text/plain\n\nDelivery failed.\n",
                "--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n",
                "\nFinal-Recipient: rfc822; a@b.example\nStatus: 5.7.1\n"
                "Diagnostic-Code: smtp; 550 5.7.1 rejected\n" * round(1100 * scale),
                f"\nFinal-Recipient: rfc822; j@contoso.com\nStatus: 5.7.511\nDiagnostic-Code: smtp; {NDR}\n",
                "--r--\n--b--\n",
            ),
            "review",
            IP,
            "5.7.511",
            'multipart/mixed; boundary="b"',
        ),
        Attack(
            "orphan-flood.eml",
            "4,000 'banned sender[IP]' phrases without a code, each checked against all before",
            _text(WORDS, f"banned sender[{IP}] " * round(4000 * scale), "\n"),
            "need_info",
            IP,
        ),
        Attack(
            "html-unclosed-tag.eml",
            "HTML: '<a' and 100 KB with no '>' (html.parser is quadratic)",
            _html("<a", "b" * size),
            "review",
            IP,
            "5.7.511",
            "text/html; charset=utf-8",
        ),
        Attack(
            "html-unclosed-comment.eml",
            "HTML: '<!--' and 100 KB never closed",
            _html("<!--", "c" * size),
            "review",
            IP,
            "5.7.511",
            "text/html; charset=utf-8",
        ),
        Attack(
            "html-unclosed-cdata.eml",
            "HTML: '<![CDATA[' and 100 KB never closed",
            _html("<![CDATA[", "d" * size),
            "review",
            IP,
            "5.7.511",
            "text/html; charset=utf-8",
        ),
        Attack(
            "html-long-attribute.eml",
            "HTML: one attribute value 100 KB long, unquoted and never closed",
            _html('<a title="', "e" * size),
            "review",
            IP,
            "5.7.511",
            "text/html; charset=utf-8",
        ),
        Attack(
            "html-lt-run.eml",
            "HTML: 100 KB of '<' (each one opens nothing)",
            _html("<" * size),
            "review",
            IP,
            "5.7.511",
            "text/html; charset=utf-8",
        ),
        Attack(
            "html-tag-flood.eml",
            "HTML: 30,000 empty tags",
            _html("<b>" * (size // 3)),
            "review",
            IP,
            "5.7.511",
            "text/html; charset=utf-8",
        ),
        Attack(
            "html-entity-flood.eml",
            "HTML: 3,000 unknown 31-letter entities (each tried at every length)",
            _html(("&" + "a" * 31) * (size // 32)),
            "review",
            IP,
            "5.7.511",
            "text/html; charset=utf-8",
        ),
        Attack(
            "zone-id.eml",
            "an IPv6 zone id in the banned bracket: one address, one case",
            _text(WORDS, NDR.replace(IP, "2a00:1450:4001:81d::200e%eth0"), "\n"),
            "review",
            "2a00:1450:4001:81d::200e",
            "5.7.511",
        ),
        Attack(
            "zone-id-bare.eml",
            "an IPv6 zone id on an address written without brackets",
            _text(
                WORDS, "550 5.7.511 Access denied, banned sender 2a00:1450:4001:81d::200e%eth0.\n"
            ),
            "review",
            "2a00:1450:4001:81d::200e",
            "5.7.511",
        ),
        Attack(
            "zone-id-utf7.eml",
            "an IPv6 zone id that UTF-7 decodes to a lone surrogate (%+3IA-)",
            _text(WORDS, NDR.replace(IP, "2a00:1450:4001:81d::200e%+3IA-"), "\n"),
            "review",
            "2a00:1450:4001:81d::200e",
            "5.7.511",
            "text/plain; charset=utf-7",
        ),
        Attack(
            "utf7-surrogate-subject.eml",
            "an encoded-word subject in UTF-7 that decodes to a lone surrogate",
            _text(WORDS, NDR, "\n"),
            "review",
            IP,
            "5.7.511",
            subject="=?utf-7?q?blocked_+3IA-?=",
        ),
        Attack(
            "utf7-surrogate-body.eml",
            "a UTF-7 body whose words decode to a lone surrogate",
            _text("Please +3IA- delist us.\n\n", NDR, "\n"),
            "review",
            IP,
            "5.7.511",
            "text/plain; charset=utf-7",
        ),
        Attack(
            "unicode-escape-body.eml",
            "charset=unicode_escape: '\\udc80' in the body decodes to a lone surrogate",
            _text("Please \\udc80 delist us.\n\n", NDR, "\n"),
            "review",
            IP,
            "5.7.511",
            "text/plain; charset=unicode_escape",
        ),
        Attack(
            "punycode-body.eml",
            "charset=punycode: Python's decoder is quadratic (100 KB of digits: 1.8 s)",
            _text("a-", "9" * size, "\n\n", NDR, "\n"),
            "review",
            IP,
            "5.7.511",
            "text/plain; charset=punycode",
        ),
        Attack(
            "content-type-parameters.eml",
            "a Content-Type header with 12,000 parameters (the stdlib splits them one by one)",
            _text(WORDS, NDR, "\n"),
            "review",
            IP,
            "5.7.511",
            "text/plain; charset=utf-8" + ";a=b" * round(12_000 * scale),
        ),
        Attack(
            "forward-marker-tabs.eml",
            "100 KB of tabs where the requester's words are read",
            _text("\t" * size, "\n\n", NDR, "\n"),
            "review",
            IP,
            "5.7.511",
        ),
        Attack(
            "base64-lines.eml",
            "a base64 body of 100 KB of spaces after 'banned sender'",
            base64.encodebytes(
                _text(
                    WORDS,
                    "550 5.7.511 Access denied, banned sender",
                    " " * round(80_000 * scale),
                    "x\n",
                )
            ),
            "need_info",
            code="5.7.511",
            extra_headers="Content-Transfer-Encoding: base64\n",
        ),
    ]
    found.append(
        Attack(
            "big-body-ndr-at-end-over-120k.eml",
            f"a {BIG // 1_000_000} MB text body with the NDR at its very end",
            _text(WORDS, ("Dear customer, here is the offer you asked for.\n" * (BIG // 48)), NDR),
            "review",
            IP,
            "5.7.511",
        )
    )
    return found


def message(attack: Attack, number: int) -> bytes:
    head = (
        "From: Mario Admin <postmaster@example.org>\n"
        "To: delist@delist.example.net\n"
        f"Subject: {attack.subject}\n"
        "Date: Fri, 20 Nov 2026 09:13:02 +0100\n"
        f"Message-ID: <hostile-{number:03d}@example.org>\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: {attack.content_type}\n"
        f"{attack.extra_headers}\n"
    )
    return head.encode() + attack.body


def write(folder: Path = HERE) -> None:
    rows = ["file\tattack\taction\tip\tndr_code"]
    for number, attack in enumerate(attacks(), 1):
        (folder / attack.file).write_bytes(message(attack, number))
        rows.append(f"{attack.file}\t{attack.attack}\t{attack.action}\t{attack.ip}\t{attack.code}")
    (folder / "expected.tsv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    write()
