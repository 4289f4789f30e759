"""PII in free text: what is found, in which encodings, and what is deliberately kept.

Every rule replaces what it finds with ``[redacted]``; nothing is masked
partially, since a partial e-mail or phone number can still identify.

Text is decoded to a fixed point before any rule looks at it: percent-escapes
(``jane%2540example.org`` is ``jane@example.org``), ``%uXXXX`` escapes and HTML
character references (``&#64;``, ``&commat;``); then invisible characters are dropped
(format characters such as U+200B, U+2060 and the soft hyphen U+00AD, and the other
default-ignorable ones) and the text is NFKC-normalised (a full-width at sign, U+FF20,
is ``@``). When nothing is found the text is returned as it
came, encoding and all; when something is, the decoded text is returned with
each finding replaced, since the encoded form of an e-mail is the e-mail.

The rules, in the order they run:

* e-mail addresses, internationalised ones too (``jané@exämple.org``), with a quoted
  local part too (``"jane doe"@example.org``), but not image names with a
  pixel-density suffix (``logo@2x.png``);
* base64 and base64url runs (eight characters or more, as a token on its own) whose
  decoded text holds any of the PII below: the whole run;
* IBANs, with or without spaces, that python-stdnum's checksum and
  per-country format accept;
* IPv6 addresses (any form python's ``ipaddress`` accepts, IPv4-mapped ones
  too), and IPv4 addresses: dotted decimal, and the other forms ``inet_aton`` takes
  when they cannot be anything else (a hex or octal part: ``0x7f.0.0.1``,
  ``0177.0.0.1``; a whole hex number of seven digits or more: ``0x7f000001``), and
  four parts joined by ``_``;
* phone numbers written with ``+`` and a country code that libphonenumber
  (``phonenumbers``) calls possible, however short (``+49 30 901820``),
  extension (``x637``, ``ext. 12``) included;
* any other run of nine or more digits, however separated (up to four characters
  that are neither letters nor digits between digits: spaces, dots, dashes, ``--``,
  slashes, brackets, ``+``, ``_``, ``*``, a comma with no space after it (``38, 39, 40``
  is a list); or single letters between groups of
  two to four digits, ``415a555b0132``, standing on its own): national phone
  numbers of every region, card, account and national id numbers, Luhn-valid
  or mistyped alike. ISBN-13s (978 or 979, a valid check digit) are kept: a
  bookshop's product paths are not phone numbers.

Kept on purpose: dates and times (``2023-06-15 00:59``, ``15.06.2023``,
``10:30``), versions with a ``v`` before them (``v1.2.3``, ``v10.4.12.3``) and
browser build numbers (``137.0.6260.42``: a part of four digits, so never an
IPv4 address), UUIDs, runs of up to eight digits (SKUs,
prices, years), ``::`` between words (``Home :: Shop``, ``std::vector``), two-part
decimals (``chapter 12.4``, which ``inet_aton`` would read as 12.0.0.4).
Not kept: nine or more digits in a row inside a hex hash or any other token.
"""

from __future__ import annotations

import base64
import binascii
import html
import ipaddress
import re
import socket
import unicodedata
from typing import Final
from urllib.parse import unquote

import phonenumbers
from stdnum import iban, isbn

REDACTED: Final = "[redacted]"
MAX_DECODE_ROUNDS: Final = 8  # double- and triple-encoding are real; eight is plenty

# Bounded as RFC 5321 bounds addresses (64-character local part, 63-character labels),
# which also bounds the backtracking on hostile text.
EMAIL: Final = re.compile(
    r"(?:\"[^\"\r\n]{1,64}\"|[\w.%+'-]{1,64})@(?!\d+x\.(?:png|jpe?g|gif|webp|avif|svg)\b)"
    r"[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[^\W\d_]{2,63}"
)
# Country, check digits, then the account: unspaced, or in groups of four.
IBAN_SHAPE: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}"
    r"(?:[A-Za-z0-9]{11,30}|(?:[ +-]?[A-Za-z0-9]{4}){2,7}(?:[ +-]?[A-Za-z0-9]{1,3})?)"
    r"(?![A-Za-z0-9])"
)
IPV4: Final = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
# inet_aton's other forms, when they are addresses and nothing else: a hex or octal part in
# two to four dotted parts, a hex number of seven or more digits, four parts joined by "_".
IPV4_PART: Final = r"(?:0x[0-9a-f]{1,8}|\d{1,10})"
IPV4_OTHER: Final = re.compile(
    rf"(?<![\w.]){IPV4_PART}(?:\.{IPV4_PART}){{1,3}}(?![\w.])"
    r"|(?<![\w.])0x[0-9a-f]{7,8}(?![\w.])"
    r"|(?<![\w.])\d{1,3}(?:_\d{1,3}){3}(?![\w.])",
    re.IGNORECASE,
)
BASE64_RUN: Final = re.compile(
    r"(?<![A-Za-z0-9+/=_-])(?:[A-Za-z0-9+/]{6,}={0,2}|[A-Za-z0-9_-]{6,}={0,2})(?![A-Za-z0-9+/=_-])"
)
MIN_BASE64: Final = 8  # "a@b.co", the shortest e-mail, is eight characters of base64
# Characters no one sees that may sit inside an address: format characters (Cf: U+200B,
# U+2060, U+00AD, U+FEFF, ...) and the other default-ignorable code points.
OTHER_IGNORABLE: Final = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0"
    + "".join(map(chr, range(0x180B, 0x1810)))
    + "".join(map(chr, range(0xFE00, 0xFE10)))
)
PERCENT_U: Final = re.compile(r"%u([0-9a-fA-F]{4})")
# Hex groups and colons (and a dotted IPv4 tail): candidates, which ipaddress then judges.
IPV6_SHAPE: Final = re.compile(
    r"(?<![:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,5})?"
)
# A run of digits with short separators, a leading + and an extension; judged below.
# Letters around it do not matter: "user_4155550132" holds a phone number too.
DIGITS: Final = re.compile(
    r"(?<![\d+])\+?\(?\d(?:(?:[^\w\n,]|_|,(?!\s)){0,4}\d)*\)?(?:\s?(?:x|ext\.?|#)\s?\d{1,6})?(?!\d)",
    re.IGNORECASE,
)
# Groups of two to four digits with single letters between, standing on their own (inside
# a hex hash the same shape is the hash's, not a number's).
LETTERED_DIGITS: Final = re.compile(
    r"(?<![A-Za-z0-9])\d{2,4}(?:[A-Za-z]\d{2,4}){2,5}(?![A-Za-z0-9])"
)
# Dates, times, versions and UUIDs: their digits are not a number's, so they split
# runs. Hex hashes are not among them: a phone number glued to a letter or two
# ("a4155550132") looks like one, so nine digits in a row inside a hash are redacted.
KEPT_SHAPES: Final = re.compile(
    # ISO dates (a real month and day, nothing glued on), with a time
    r"\b\d{4}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])(?![\d-])(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"
    r"|(?<![\d.])\d{1,2}[./]\d{1,2}[./]\d{2,4}(?!\.?\d)"  # 15.06.2023, 6/15/23, no IPv4
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"  # times
    r"|\bv\d+(?:\.\d+)+"  # v1.2.3, v10.4.12.3
    r"|\b\d{1,4}\.0\.[1-9]\d{3,4}\.\d{1,4}\b"  # browser builds: 137.0.6260.42, never an IPv4
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",  # UUIDs
    re.IGNORECASE,
)
MIN_DIGITS: Final = 9
MIN_PHONE_DIGITS: Final = 6  # with + and a country code, libphonenumber decides from 6 up
# A cheap superset of every rule: text without any of these cannot match and is
# returned at once. '%' and non-ASCII text may hide one, so they go the long way.
MAY_MATCH: Final = re.compile(
    r"@|:|%|&|\d\.\d|\d_\d|0[xX]|\d(?:(?:[^\w\n]|_){0,4}\d){5}|\d\d[A-Za-z]\d\d|[^\x00-\x7f]"
)
# A run that may be base64 (long enough, in text that is not all lower case: base64 of
# text mixes cases, a slug does not).
MAY_BE_BASE64: Final = re.compile(r"[A-Za-z0-9+/_=-]{8}")


def decoded(text: str) -> str:
    """Percent-escapes, ``%uXXXX`` escapes and HTML character references decoded until
    decoding changes nothing (or ``MAX_DECODE_ROUNDS``)."""
    for _ in range(MAX_DECODE_ROUNDS):
        plain = text
        if "%" in plain:
            if "%u" in plain or "%U" in plain:
                plain = PERCENT_U.sub(lambda m: chr(int(m.group(1), 16)), plain)
            plain = unquote(plain)
        if "&" in plain:
            plain = html.unescape(plain)
        if plain == text:
            break
        text = plain
    return text


def visible(text: str) -> str:
    """``text`` without the characters no one sees (format and default-ignorable ones)."""
    if text.isascii():
        return text
    return "".join(c for c in text if unicodedata.category(c) != "Cf" and c not in OTHER_IGNORABLE)


def _shadow(text: str) -> str:
    """The text with its dates, times and versions blanked (same length), so that the
    digit rule sees where they break a run but never counts their digits. The blank is a
    run of letters: "_" and other punctuation may sit between a number's digits, and a
    single letter between its groups, but never four letters."""
    return KEPT_SHAPES.sub(lambda m: "Z" * len(m.group()), text)


def _is_ipv6(candidate: str, *, after_word: bool = False) -> bool:
    """ipaddress accepts it, and it is not one of the short forms code and prose are full
    of: "::" between words, "d::" in "std::vector", "::Ba" in "Foo::Bar"."""
    groups = [group for group in candidate.split(":") if group]
    if not groups:
        return False
    leading = candidate.startswith("::") and not after_word  # "::1", "::ffff:…"
    if not leading and (len(groups) < 2 or max(map(len, groups)) < 3):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _ipv6_spans(text: str) -> list[tuple[int, int]]:
    """IPv6 addresses: the shape's longest candidate ipaddress accepts, one hex letter
    glued on after it ("…:7334a") left outside."""
    spans = []
    for m in IPV6_SHAPE.finditer(text):
        start, end = m.span()
        after_word = start > 0 and text[start - 1].isalnum()
        for cut in (end, end - 1):
            if cut > start and _is_ipv6(text[start:cut], after_word=after_word):
                spans.append((start, cut))
                break
    return spans


def is_isbn13(candidate: str) -> bool:
    digits = "".join(c for c in candidate if c.isdigit())
    return len(digits) == 13 and digits[:3] in ("978", "979") and isbn.is_valid(digits)


def _is_phone_or_number(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if digits >= MIN_DIGITS:
        return candidate.lstrip("(").startswith("+") or not is_isbn13(candidate)
    if candidate.startswith("+") and digits >= MIN_PHONE_DIGITS:
        try:
            return bool(phonenumbers.is_possible_number(phonenumbers.parse(candidate, None)))
        except phonenumbers.NumberParseException:
            return False
    return False


def _is_ipv4_other(candidate: str) -> bool:
    """One of inet_aton's forms that nothing else writes (see IPV4_OTHER)."""
    if "_" in candidate:
        return all(int(part) <= 255 for part in candidate.split("_"))
    parts = candidate.lower().split(".")
    unusual = any(p.startswith("0x") or (len(p) > 1 and p.startswith("0")) for p in parts)
    if len(parts) > 1 and not unusual:
        return False  # dotted decimal is IPV4's; "12.4" is a number
    try:
        socket.inet_aton(candidate)
    except OSError:
        return False
    return True


def _base64_spans(text: str) -> list[tuple[int, int]]:
    """Runs that are base64 or base64url of text holding PII."""
    spans = []
    for m in BASE64_RUN.finditer(text):
        if len(m.group()) < MIN_BASE64 or m.group().islower() or m.group().isupper():
            continue  # base64 of text mixes cases; a slug or a shouted word does not
        run = m.group().rstrip("=").replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
            inner = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if inner.isprintable() and may_hold_pii(inner) and _spans(_plain(inner), nested=True):
            spans.append(m.span())
    return spans


def _spans(text: str, *, nested: bool = False) -> list[tuple[int, int]]:
    """Where PII is in ``text`` (already decoded), as (start, end), in any order; base64
    runs are looked into once (``nested``: inside one)."""
    spans = [m.span() for m in EMAIL.finditer(text)] if "@" in text else []
    if not nested and not text.islower() and MAY_BE_BASE64.search(text):
        spans += _base64_spans(text)
    spans += [
        m.span()
        for m in IBAN_SHAPE.finditer(text)
        if iban.is_valid(re.sub(r"[ +-]", "", m.group()))
    ]
    if ":" in text:
        spans += _ipv6_spans(text)
    shadow = _shadow(text)  # "v10.4.12.3" is a version, not an address
    spans += [m.span() for m in IPV4.finditer(shadow)]
    spans += [m.span() for m in IPV4_OTHER.finditer(shadow) if _is_ipv4_other(m.group())]
    spans += [m.span() for m in DIGITS.finditer(shadow) if _is_phone_or_number(m.group())]
    spans += [m.span() for m in LETTERED_DIGITS.finditer(shadow) if _is_phone_or_number(m.group())]
    return spans


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    out, at = [], 0
    for start, end in sorted(spans):
        if start < at:  # overlaps the finding just replaced: one replacement covers both
            at = max(at, end)
            continue
        out.append(text[at:start])
        out.append(REDACTED)
        at = end
    out.append(text[at:])
    return "".join(out)


def _plain(text: str) -> str:
    plain = decoded(text)
    return plain if plain.isascii() else unicodedata.normalize("NFKC", visible(plain))


def may_hold_pii(text: str) -> bool:
    """The cheap superset of every rule (MAY_MATCH, or a mixed-case run for base64)."""
    if MAY_MATCH.search(text):
        return True
    return not text.islower() and not text.isupper() and bool(MAY_BE_BASE64.search(text))


def redact_text(text: str) -> str:
    """``text`` with every finding replaced; unchanged (as sent) when there is none."""
    if not may_hold_pii(text):
        return text
    plain = _plain(text)
    spans = _spans(plain)
    return _replace(plain, spans) if spans else text


def contains_pii(text: str) -> bool:
    """True when ``redact_text`` would replace something: the property tests' oracle."""
    return may_hold_pii(text) and bool(_spans(_plain(text)))


def redact_emails(text: str) -> str:
    """Replace every e-mail address (decoded text; the e-mail rule alone)."""
    return EMAIL.sub(REDACTED, text)


def redact_ip_addresses(text: str) -> str:
    """Replace IPv4 and IPv6 addresses written in free text (the address rules alone)."""
    spans = _ipv6_spans(text)
    return _replace(text, spans + [m.span() for m in IPV4.finditer(_shadow(text))])


def redact_phone_numbers(text: str) -> str:
    """Replace phone numbers and any run of nine or more digits (the number rules alone)."""
    shadow = _shadow(text)
    return _replace(
        text, [m.span() for m in DIGITS.finditer(shadow) if _is_phone_or_number(m.group())]
    )
