"""Builds the sample requests: NDR texts from each MTA wrapped in each way senders forward them.

`python tests/support/builder.py` rewrites tests/samples/ and its expected.tsv; a test checks that the
committed files are what this builder makes, so the table and the files never drift apart.
"""

from __future__ import annotations

import base64
import csv
import quopri
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).parents[1] / "samples"
MX = "contoso-com.mail.protection.outlook.com"
MX_IP = "104.47.8.36"
EOP = "[BN8NAM12FT041.eop-nam12.prod.protection.outlook.com 2026-11-20T09:12:44.301Z 08DE1A2B3C4D5E6F]"
PUBLIC_V4 = "81.2.69.142"
PUBLIC_V6 = "2a01:4f8:c17:1234::25"
DATE = "Fri, 20 Nov 2026 09:13:02 +0100"


@dataclass(frozen=True)
class Ndr:
    """A diagnostic as an MTA words it, with what the extractor should read from it."""

    name: str
    mta: Callable[[str], str]
    reply: str  # the receiving server's SMTP reply, as the MTA quotes it
    code: str | None
    smtp: int | None
    ip: str | None
    action: str

    @property
    def text(self) -> str:
        return self.mta(self.reply)


def microsoft_511(ip: str) -> str:
    return (
        f"550 5.7.511 Access denied, banned sender[{ip}]. To request removal from this list, "
        "forward this message to delist@microsoft.com. For more information please go to "
        f"https://go.microsoft.com/fwlink/?LinkId=526653. AS(1430) {EOP}"
    )


def microsoft_606(ip: str, code: str = "5.7.606") -> str:
    return (
        f"550 {code} Access denied, banned sending IP [{ip}]. To request removal from this list "
        "please visit https://sender.office.com/ and follow the directions. For more information "
        f"please go to http://go.microsoft.com/fwlink/?LinkID=526655 (AS16012609) {EOP}"
    )


def outlook_com(ip: str, scode: str = "S3150") -> str:
    return (
        f"550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet "
        "service provider since part of their network is on our block list "
        f"({scode}). You can also refer your provider to "
        "http://mail.live.com/mail/troubleshooting.aspx#errors. [Name=Protocol Filter Agent]"
        f"[AGT=PFA][MxId=11BC54339C3FD8FF] {EOP}"
    )


def postfix(reply: str) -> str:
    body = f"host {MX}[{MX_IP}] said: {reply} (in reply to RCPT TO command)"
    lines = textwrap.wrap(body, 72, subsequent_indent="    ", break_on_hyphens=False)
    return (
        "This is the mail system at host mail.example.org.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        "<j.doe@contoso.com>: " + "\n".join(lines) + "\n"
    )


def exim_old(reply: str) -> str:
    return (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  j.doe@contoso.com\n"
        f"    SMTP error from remote mail server after RCPT TO:<j.doe@contoso.com>:\n"
        f"    host {MX} [{MX_IP}]: {reply}\n"
    )


def exim_49(reply: str) -> str:
    line = (
        f"SMTP error from remote server for RCPT TO command, host: {MX} ({MX_IP}) reason: {reply}"
    )
    # Pastes from webmail break the line at a fixed width, inside words.
    return "  j.doe@contoso.com\n    " + "\n".join(
        line[i : i + 70] for i in range(0, len(line), 70)
    )


def gmail(reply: str) -> str:
    return (
        "** Address not found **\n\nYour message wasn't delivered to j.doe@contoso.com.\n\n"
        "The response from the remote server was:\n" + reply + "\n"
    )


def exchange(reply: str, introducer: str = "Remote Server returned") -> str:
    return (
        "Delivery has failed to these recipients or groups:\n\nj.doe@contoso.com\n"
        "Your message wasn't delivered because the recipient's email provider rejected it.\n\n"
        "Diagnostic information for administrators:\n\nGenerating server: mail.example.org\n\n"
        f"j.doe@contoso.com\n{MX}\n{introducer} '{reply}'\n\n"
        f"Original message headers:\n\nReceived: from mail.example.org (10.0.0.5) by {MX} "
        f"({MX_IP}) with Microsoft SMTP Server\n"
    )


def sendmail(reply: str) -> str:
    return (
        "   ----- The following addresses had permanent fatal errors -----\n<j.doe@contoso.com>\n"
        "    (reason: 550 5.7.511 Access denied)\n\n   ----- Transcript of session follows -----\n"
        f"... while talking to {MX}.:\n>>> RCPT To:<j.doe@contoso.com>\n<<< {reply}\n"
        "550 5.1.1 <j.doe@contoso.com>... User unknown\n"
    )


def qmail(reply: str) -> str:
    return (
        "Hi. This is the qmail-send program at mail.example.org.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        f"<j.doe@contoso.com>:\n{MX_IP} does not like recipient.\nRemote host said: {reply}\n"
        f"Giving up on {MX_IP}.\n"
    )


def exchange_it(reply: str) -> str:
    return exchange(reply, "Il server remoto ha restituito")


def sendmail_two_recipients(reply: str) -> str:
    return sendmail(reply).replace("550 5.1.1 <j.doe", "550 5.1.10 <k.roe")


NDRS: tuple[Ndr, ...] = (
    Ndr("postfix-511", postfix, microsoft_511(PUBLIC_V4), "5.7.511", 550, PUBLIC_V4, "review"),
    Ndr("exim-old-511", exim_old, microsoft_511(PUBLIC_V4), "5.7.511", 550, PUBLIC_V4, "review"),
    Ndr(
        "exim49-511",
        exim_49,
        microsoft_511("74.208.4.197"),
        "5.7.511",
        550,
        "74.208.4.197",
        "review",
    ),
    Ndr("gmail-511", gmail, microsoft_511(PUBLIC_V4), "5.7.511", 550, PUBLIC_V4, "review"),
    Ndr("exchange-511", exchange, microsoft_511(PUBLIC_V4), "5.7.511", 550, PUBLIC_V4, "review"),
    Ndr(
        "exchange-it-511",
        exchange_it,
        microsoft_511(PUBLIC_V4),
        "5.7.511",
        550,
        PUBLIC_V4,
        "review",
    ),
    Ndr("sendmail-511", sendmail, microsoft_511(PUBLIC_V4), "5.7.511", 550, PUBLIC_V4, "review"),
    Ndr("qmail-511", qmail, microsoft_511(PUBLIC_V4), "5.7.511", 550, PUBLIC_V4, "review"),
    Ndr("postfix-511-v6", postfix, microsoft_511(PUBLIC_V6), "5.7.511", 550, PUBLIC_V6, "review"),
    Ndr(
        "postfix-blocklist1",
        postfix,
        (
            f"550 5.7.1 Service unavailable; Client host [{PUBLIC_V4}] blocked using Blocklist 1; To "
            "request removal from this list please forward this message to "
            "delist@messaging.microsoft.com"
        ),
        "5.7.1",
        550,
        PUBLIC_V4,
        "review",
    ),
    Ndr("postfix-606", postfix, microsoft_606(PUBLIC_V4), "5.7.606", 550, PUBLIC_V4, "portal"),
    Ndr(
        "exim49-625",
        exim_49,
        microsoft_606(PUBLIC_V4, "5.7.625"),
        "5.7.625",
        550,
        PUBLIC_V4,
        "portal",
    ),
    Ndr("postfix-s3150", postfix, outlook_com(PUBLIC_V4), "5.7.1", 550, PUBLIC_V4, "consumer"),
    Ndr(
        "exim-s3140", exim_old, outlook_com(PUBLIC_V4, "S3140"), "5.7.1", 550, PUBLIC_V4, "consumer"
    ),
    Ndr(
        "qmail-sc001",
        qmail,
        (
            f"550 SC-001 (SNT004-MC10F17) Unfortunately, messages from {PUBLIC_V4} weren't sent. "
            "Please contact your Internet service provider since part of their network is on our "
            "block list."
        ),
        None,
        550,
        PUBLIC_V4,
        "consumer",
    ),
    Ndr(
        "exchange-708",
        exchange,
        (
            "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. For "
            "more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7230)"
        ),
        "5.7.708",
        550,
        None,
        "other",
    ),
    Ndr(
        "postfix-spamhaus",
        postfix,
        (
            f"550 5.7.1 Service unavailable, Client host [{PUBLIC_V4}] blocked using Spamhaus. To "
            "request removal from this list see https://www.spamhaus.org/query/ip/"
            f"{PUBLIC_V4} (AS16012611)"
        ),
        "5.7.1",
        550,
        PUBLIC_V4,
        "other",
    ),
    Ndr(
        "exchange-5110",
        exchange,
        (
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient j.doe@contoso.com not found by SMTP "
            "address lookup"
        ),
        "5.1.10",
        550,
        None,
        "other",
    ),
    Ndr(
        "postfix-511-placeholder",
        postfix,
        microsoft_511("xxx.xxx.xxx.xxx"),
        "5.7.511",
        550,
        None,
        "need_info",
    ),
    Ndr(
        "postfix-511-private",
        postfix,
        microsoft_511("10.20.30.40"),
        "5.7.511",
        550,
        "10.20.30.40",
        "need_info",
    ),
    Ndr(
        "gmail-511-no-ip",
        gmail,
        (
            "550 5.7.511 Access denied, banned sender. To request removal from this list, forward "
            "this message to delist@microsoft.com."
        ),
        "5.7.511",
        550,
        None,
        "need_info",
    ),
    Ndr(
        "sendmail-511-and-5110",
        sendmail_two_recipients,
        microsoft_511(PUBLIC_V4),
        "5.7.511",
        550,
        PUBLIC_V4,
        "review",
    ),
)

OWN_WORDS = {
    "en": "Hello,\n\nour mail server has been blocked by Microsoft. Please remove our IP address "
    "from the block list, the bounce is below.\n\nThanks and regards,\nMario",
    "it": "Buongiorno,\n\nil nostro server di posta è stato bloccato da Microsoft. Vi chiediamo "
    "gentilmente la rimozione del nostro indirizzo dalla lista, qui sotto il messaggio.\n\n"
    "Cordiali saluti,\nMario Rossi",
    "de": "Sehr geehrte Damen und Herren,\n\nunser Mailserver wurde von Microsoft gesperrt. Bitte "
    "entfernen Sie unsere Adresse von der Liste, die Fehlermeldung ist unten.\n\n"
    "Mit freundlichen Grüßen\nMax",
    "fr": "Bonjour,\n\nnotre serveur de messagerie est bloqué par Microsoft. Pouvez-vous retirer "
    "notre adresse de la liste ? Le message d'erreur est ci-dessous.\n\nCordialement,\nLuc",
    "es": "Hola,\n\nnuestro servidor de correo ha sido bloqueado por Microsoft. Por favor eliminen "
    "nuestra dirección de la lista, el error está abajo.\n\nSaludos,\nAna",
    "pt": "Olá,\n\no nosso servidor de e-mail foi bloqueado pela Microsoft. Por favor, podem remover "
    "o nosso endereço da lista? A mensagem de erro está abaixo.\n\nAtenciosamente,\nJoão",
}


def _headers(
    subject: str, n: int, extra: str = "", sender: str = "Mario Admin <postmaster@example.org>"
) -> str:
    return (
        f"From: {sender}\nTo: delist@delist.example.net\nSubject: {subject}\nDate: {DATE}\n"
        f"Message-ID: <sample-{n:03d}@example.org>\nMIME-Version: 1.0\n{extra}"
    )


def _dsn(ndr: Ndr, n: int, status: str | None = None) -> str:
    """The bounce as its MTA sends it: multipart/report with a delivery-status part."""
    diagnostic = "\n ".join(textwrap.wrap(f"smtp; {ndr.reply}", 70, break_on_hyphens=False))
    # Exim's DSNs carry a generic Status; the code inside the text must win.
    code = status or ("5.0.0" if ndr.name.startswith("exim") else ndr.code or "5.0.0")
    return (
        "From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\n"
        "To: postmaster@example.org\nSubject: Undelivered Mail Returned to Sender\n"
        f"Date: {DATE}\nMessage-ID: <bounce-{n:03d}@mail.example.org>\nAuto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-b"\n\n'
        "--dsn-b\nContent-Type: text/plain; charset=us-ascii\n\n" + ndr.text + "\n"
        "--dsn-b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mail.example.org\n\n"
        f"Final-Recipient: rfc822; j.doe@contoso.com\nAction: failed\nStatus: {code}\n"
        f"Remote-MTA: dns; {MX}\nDiagnostic-Code: {diagnostic}\n\n"
        "--dsn-b\nContent-Type: text/rfc822-headers\n\n"
        f"Received: from [192.168.1.20] (unknown [198.51.100.77]) by mail.example.org\n"
        "X-Originating-IP: [198.51.100.78]\nSubject: Offer\n\n--dsn-b--\n"
    )


def _mixed(head: str, intro: str, attachment_headers: str, attachment: str) -> str:
    return (
        head + 'Content-Type: multipart/mixed; boundary="outer-b"\n\n'
        "--outer-b\nContent-Type: text/plain; charset=utf-8\n\n" + intro + "\n"
        f"--outer-b\n{attachment_headers}\n\n{attachment}\n--outer-b--\n"
    )


def attached_rfc822(ndr: Ndr, words: str, n: int) -> str:
    return _mixed(
        _headers("Fw: Undelivered Mail Returned to Sender", n),
        words,
        "Content-Type: message/rfc822",
        _dsn(ndr, n),
    )


def attached_twice(ndr: Ndr, words: str, n: int) -> str:
    inner = _mixed(
        _headers("Fw: Undelivered Mail", n + 500, sender="colleague@example.org"),
        "see below",
        "Content-Type: message/rfc822",
        _dsn(ndr, n),
    )
    return _mixed(
        _headers("Fw: Fw: Undelivered Mail", n), words, "Content-Type: message/rfc822", inner
    )


def attached_eml_octets(ndr: Ndr, words: str, n: int) -> str:
    encoded = base64.encodebytes(_dsn(ndr, n).encode()).decode()
    return _mixed(
        _headers("bounce attached", n),
        words,
        'Content-Type: application/octet-stream; name="bounce.eml"\n'
        'Content-Disposition: attachment; filename="bounce.eml"\n'
        "Content-Transfer-Encoding: base64",
        encoded,
    )


def attached_eml_text(ndr: Ndr, words: str, n: int) -> str:
    return _mixed(
        _headers("bounce attached", n),
        words,
        'Content-Type: text/plain; name="Undeliverable.eml"\n'
        'Content-Disposition: attachment; filename="Undeliverable.eml"',
        _dsn(ndr, n),
    )


def _inline(banner: str) -> Callable[[Ndr, str, int], str]:
    def build(ndr: Ndr, words: str, n: int) -> str:
        return (
            _headers("Fwd: Undeliverable: Offer", n)
            + "Content-Type: text/plain; charset=utf-8\n\n"
            + words
            + "\n\n"
            + banner
            + "\n\n"
            + ndr.text
        )

    return build


outlook_inline = _inline(
    "-----Original Message-----\nFrom: Mail Delivery System <MAILER-DAEMON@mail.example.org>\n"
    "Sent: Friday, November 20, 2026 9:13 AM\nTo: postmaster@example.org\n"
    "Subject: Undeliverable: Offer"
)
outlook_inline_it = _inline(
    "________________________________\nDa: Mail Delivery System <MAILER-DAEMON@mail.example.org>\n"
    "Inviato: venerdì 20 novembre 2026 09:13\nA: postmaster@example.org\n"
    "Oggetto: Non recapitabile: Offerta"
)
gmail_inline = _inline(
    "---------- Forwarded message ---------\nFrom: Mail Delivery Subsystem "
    "<mailer-daemon@googlemail.com>\nDate: Fri, Nov 20, 2026 at 9:13 AM\n"
    "Subject: Delivery Status Notification (Failure)\nTo: <postmaster@example.org>"
)
thunderbird_inline = _inline(
    "-------- Forwarded Message --------\nSubject: \tUndelivered Mail Returned to Sender\n"
    "Date: \tFri, 20 Nov 2026 09:13:02 +0100\nFrom: \tMail Delivery System "
    "<MAILER-DAEMON@mail.example.org>\nTo: \tpostmaster@example.org"
)
apple_inline = _inline(
    "Begin forwarded message:\n\nFrom: Mail Delivery System <MAILER-DAEMON@mail.example.org>\n"
    "Subject: Undelivered Mail Returned to Sender\nDate: 20 November 2026 at 09:13:02 CET"
)


def quoted_reply(ndr: Ndr, words: str, n: int) -> str:
    quoted = "\n".join("> " + line for line in ndr.text.splitlines())
    return (
        _headers("Re: Undelivered Mail Returned to Sender", n)
        + "Content-Type: text/plain; charset=utf-8\n\n"
        + words
        + "\n\nOn Fri, 20 Nov 2026 at 09:13, Mail Delivery System wrote:\n"
        + quoted
        + "\n"
    )


def pasted_line(ndr: Ndr, words: str, n: int) -> str:
    line = ndr.reply
    return (
        _headers("delist request", n)
        + "Content-Type: text/plain; charset=utf-8\n\n"
        + words
        + "\n\n"
        + line
        + "\n"
    )


def html_only(ndr: Ndr, words: str, n: int) -> str:
    import html

    body = "<br>\n".join(html.escape(line).replace("'", "&#39;") for line in ndr.text.splitlines())
    own = "".join(f"<p>{html.escape(p)}</p>" for p in words.split("\n\n"))
    return (
        _headers("Fw: Undeliverable", n) + "Content-Type: text/html; charset=utf-8\n\n"
        f"<html><head><style>p {{margin:0}}</style></head><body>{own}<hr>"
        f'<blockquote><div style="font-family:Calibri">{body}</div></blockquote>'
        "</body></html>\n"
    )


def base64_body(ndr: Ndr, words: str, n: int) -> str:
    text = f"{words}\n\n-----Original Message-----\n\n{ndr.text}"
    return (
        _headers("Fw: Undeliverable", n) + "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(text.encode()).decode()
    )


def qp_body(ndr: Ndr, words: str, n: int) -> str:
    text = f"{words}\n\n-----Original Message-----\n\n{' '.join(ndr.text.split())}\n"
    encoded = quopri.encodestring(text.encode("iso-8859-1", "replace")).decode()
    if ndr.ip and ndr.ip in encoded:
        # Put a soft line break inside the IP, as a 76-column encoder may.
        cut = encoded.index(ndr.ip) + 4
        encoded = encoded[:cut] + "=\n" + encoded[cut:]
    return (
        _headers("Fw: Undeliverable", n) + "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n\n" + encoded
    )


def redirected(ndr: Ndr, words: str, n: int) -> str:
    return (
        f"Resent-From: Mario Admin <postmaster@example.org>\nResent-Date: {DATE}\n"
        f"Resent-Message-ID: <resent-{n:03d}@example.org>\nResent-To: delist@delist.example.net\n"
        + _dsn(ndr, n)
    )


def direct_bounce(ndr: Ndr, words: str, n: int) -> str:
    return _dsn(ndr, n)


@dataclass(frozen=True)
class Sample:
    name: str
    raw: bytes
    code: str | None
    smtp: int | None
    ip: str | None
    action: str
    language: str | None
    sender: str


def _eol(text: str, eol: str) -> bytes:
    return text.replace("\n", eol).encode("utf-8")


STYLES: dict[str, Callable[[Ndr, str, int], str]] = {
    "attached": attached_rfc822,
    "attached-twice": attached_twice,
    "eml-octets": attached_eml_octets,
    "eml-text": attached_eml_text,
    "outlook": outlook_inline,
    "outlook-it": outlook_inline_it,
    "gmail": gmail_inline,
    "thunderbird": thunderbird_inline,
    "apple": apple_inline,
    "quoted": quoted_reply,
    "pasted": pasted_line,
    "html": html_only,
    "base64": base64_body,
    "qp": qp_body,
    "redirect": redirected,
    "direct": direct_bounce,
}


def build_all() -> list[Sample]:
    samples: list[Sample] = []
    languages = list(OWN_WORDS)
    eols = ["\n", "\r\n", "\r"]
    for i, ndr in enumerate(NDRS):
        for j, style in enumerate(_styles_for(i)):
            n = len(samples) + 1
            language = "it" if style == "outlook-it" else languages[(i + j) % len(languages)]
            raw_text = STYLES[style](ndr, OWN_WORDS[language], n)
            action = ndr.action
            sender = "postmaster@example.org"
            if style == "direct":
                action, language, sender = "ignore", None, "MAILER-DAEMON@mail.example.org"
            if style == "redirect":
                language = None
            samples.append(
                Sample(
                    f"{n:03d}-{ndr.name}-{style}",
                    _eol(raw_text, eols[n % 3]),
                    ndr.code,
                    ndr.smtp,
                    ndr.ip,
                    action,
                    language,
                    sender,
                )
            )
    return samples


def _styles_for(i: int) -> list[str]:
    """Every NDR in three styles, rotating so that every style meets many MTAs."""
    names = list(STYLES)
    return [names[(i * 3 + k) % len(names)] for k in range(3)]


def write(samples: list[Sample], folder: Path = SAMPLES) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("[0-9][0-9][0-9]-*.eml"):
        old.unlink()
    with open(folder / "expected.tsv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow(["file", "ndr_code", "smtp_code", "ip", "action", "language", "sender"])
        for s in samples:
            (folder / f"{s.name}.eml").write_bytes(s.raw)
            writer.writerow(
                [
                    f"{s.name}.eml",
                    s.code or "",
                    s.smtp or "",
                    s.ip or "",
                    s.action,
                    s.language or "",
                    s.sender,
                ]
            )


if __name__ == "__main__":
    built = build_all()
    write(built, Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES)
    print(f"wrote {len(built)} samples")
