"""CTP's anonymizer algorithms as pure functions (CTP AnonymizerFunctions, DigestUtil,
DateUtil): the same input gives the same characters as CTP.

Dates follow java.util.GregorianCalendar in its default lenient mode: a month of 13 is
January of the next year, February 30 is March 1 or 2.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re

MAX_INT = 2**31 - 1  # Java's Integer.MAX_VALUE: "no limit" in CTP's length arguments


def usmd5(text: str) -> str:
    """DigestUtil.getUSMD5: the MD5 of the UTF-8 bytes read as an unsigned big-endian
    integer, written in base 10 (no leading zeros, so 1 to 39 digits)."""
    return str(int.from_bytes(hashlib.md5(text.encode("utf-8")).digest(), "big"))


def hash_text(text: str | None, maxlen: int = MAX_INT) -> str:
    """AnonymizerFunctions.hash: usmd5, cut to ``maxlen`` digits (``maxlen`` < 1: all)."""
    if maxlen < 1:
        maxlen = MAX_INT
    return usmd5("null" if text is None else text)[:maxlen]


def hash_uid(prefix: str, uid: str) -> str:
    """AnonymizerFunctions.hashUID: prefix (with a trailing "."), a "9" when the digits
    start with 0 (they never do: usmd5 has no leading zero), the digits; cut to 64."""
    prefix = java_trim(prefix)
    if prefix and not prefix.endswith("."):
        prefix += "."
    digits = usmd5(uid)
    extra = "9" if digits.startswith("0") else ""
    return (prefix + extra + digits)[:64]


def hash_ptid(siteid: str | None, ptid: str | None, maxlen: int = MAX_INT) -> str:
    """AnonymizerFunctions.hashPtID: hash of "[siteid]ptid", both trimmed."""
    site = "" if siteid is None else java_trim(siteid)
    patient = "null" if ptid is None else java_trim(ptid)
    return hash_text(f"[{site}]{patient}", maxlen)


def hash_name(name: str, length: int, word_count: int) -> str:
    """AnonymizerFunctions.hashName: the first ``word_count`` ^-separated words joined,
    whitespace, commas, apostrophes, carets and dots removed, upper-cased, hashed."""
    if word_count <= 0:
        word_count = MAX_INT
    words = java_split(name, "^")[:word_count]
    joined = re.sub(r"[\s,'^.]", "", "".join(words)).upper()
    return hash_text(joined, length)


def initials(name: str | None) -> str:
    """AnonymizerFunctions.initials: first letters of the words of "last^first^middle",
    the last name's moved to the end, upper-cased; "X" for an empty name."""
    if name is None:
        return "X"
    words = re.sub(r"\s+", " ", name.replace("^", " ").replace(",", " ")).strip()
    if not words:
        return "X"
    letters = "".join(word[0] for word in words.split(" "))
    if len(letters) > 1:
        letters = letters[1:] + letters[0]
    return letters.upper()


def caesar(text: str, offset: int) -> str:
    """AnonymizerFunctions.encrypt(String, int): letters and digits shifted in their range."""
    out = []
    for c in text:
        for first, size in (("a", 26), ("A", 26), ("0", 10)):
            if first <= c <= chr(ord(first) + size - 1):
                c = chr(ord(first) + (ord(c) - ord(first) + offset) % size)
                break
        out.append(c)
    return "".join(out)


def round_age(age: str | None, width: int) -> str:
    """AnonymizerFunctions.round: the digits rounded to a multiple of ``width`` (half up),
    the non-digits appended; a "0" in front when the length is odd ("27Y", 5 -> "025Y")."""
    if age is None or not age.strip():
        return ""
    age = age.strip()
    number = float(re.sub(r"\D", "", age)) / width
    rounded = math.floor(number + 0.5) * width  # Java Math.round(float)
    result = f"{rounded}{re.sub(r'[0-9]', '', age)}"
    return "0" + result if len(result) % 2 else result


def _calendar(date: str) -> dt.datetime:
    """DateUtil.getCalendar, lenient like GregorianCalendar."""
    date = re.sub(r"[@:T\-\s]", "", date)
    if date.startswith("00"):
        date = "19" + date[2:]
    date = date.split("\\", 1)[0]
    year, month, day = int(date[0:4]), int(date[4:6]), int(date[6:8])
    return lenient(year, month, day)


def lenient(year: int, month: int, day: int) -> dt.datetime:
    """GregorianCalendar(year, month - 1, day) with overflowing fields carried over."""
    years, month0 = divmod(month - 1, 12)
    first = dt.datetime(year + years, month0 + 1, 1)
    return first + dt.timedelta(days=day - 1)


def _format(when: dt.datetime, iso: bool, rest: str) -> str:
    sep = "-" if iso else ""
    return f"{when.year:04d}{sep}{when.month:02d}{sep}{when.day:02d}{rest}"


def increment_date(date: str, days: int) -> str:
    """AnonymizerFunctions.incrementDate: ``days`` added; the text after the date (a time
    in a DT) kept as it was; ISO dates (with "-") stay ISO."""
    iso = "-" in date
    dlen = 10 if iso else 8
    when = _calendar(date) + dt.timedelta(days=days)
    return _format(when, iso, date[dlen:])


def modify_date(date: str, year: int, month: int, day: int) -> str:
    """AnonymizerFunctions.modifyDate: each of year, month, day replaced unless < 0."""
    iso = "-" in date
    dlen = 10 if iso else 8
    when = _calendar(date)
    y = when.year if year < 0 else year
    m = when.month if month < 0 else month
    d = when.day if day < 0 else day
    return _format(lenient(y, m, d), iso, date[dlen:])


def hash_increment(unhashed: str) -> int:
    """@hashdate's shift: the last 4 digits of the hash, modulo 3650 days, back in time
    (never 0 days)."""
    digits = hash_text(unhashed, -1)[-4:]
    inc = -(int(digits) % (10 * 365))
    return -1 if inc == 0 else inc


JAVA_SPACE = "".join(chr(c) for c in range(0x21))


def java_trim(text: str) -> str:
    """String.trim(): every character up to U+0020 is whitespace."""
    return text.strip(JAVA_SPACE)


def java_split(text: str, sep: str) -> list[str]:
    """String.split with a literal separator: trailing empty strings dropped."""
    parts = text.split(sep)
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def java_int(text: str | None, default: int = 0) -> int:
    """StringUtil.getInt / Integer.parseInt with a default."""
    if text is None:
        return default
    text = java_trim(text)
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return default
    value = int(text)
    return value if -(2**31) <= value <= MAX_INT else default
