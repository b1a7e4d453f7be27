"""CTP's script functions (DICOMAnonymizer's private methods), each as CTP computes it,
including what it returns when its arguments are wrong: most give back their own argument
list "(a,b)", the date functions "@empty()", a missing element "@remove()"."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from scandepot.deid.ctp import functions as f
from scandepot.deid.ctp.context import Context, Quarantine
from scandepot.deid.ctp.expressions import Call, Node

REMOVE, EMPTY, KEEP = "@remove()", "@empty()", "@keep()"

Replace = Callable[[Context, tuple[Node, ...], int], str]


class Failed(Exception):
    """A function's Java exception: the caller returns its fallback."""


def _args(fn: Call) -> str:
    return "(" + ",".join(fn.args) + ")"


def _int(text: str | None) -> int:
    value = f.java_int(text, default=-(2**40))
    if value == -(2**40):
        raise Failed(f"not an integer: {text!r}")
    return value


def _need(fn: Call, count: int) -> None:
    if len(fn.args) < count:
        raise Failed(f"@{fn.name} needs {count} arguments")


def contents(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 1)
    value = ctx.contents(fn.args[0], this)
    if len(fn.args) == 1:
        return value
    if len(fn.args) == 2:
        return re.sub(fn.arg(1), "", value)
    if len(fn.args) == 3:
        return re.sub(fn.arg(1), re.sub(r"\$(\d)", r"\\g<\1>", fn.arg(2)), value)
    return ""


def value(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 1)
    found = ctx.contents(fn.args[0], this)
    return found if found != "" else (fn.arg(1) if len(fn.args) > 1 else "")


def truncate(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 1)
    text = ctx.contents(fn.args[0], this)
    if len(fn.args) == 1:
        return text
    n = f.java_int(fn.args[1], default=-(2**40))
    if n == -(2**40):
        return text
    if n >= 0:
        return text[:n]
    text = f.java_trim(text)
    return text[max(0, len(text) + n) :]


def hash_fn(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 1)
    found = ctx.contents_null(fn.args[0], this)
    if found is None:
        return REMOVE
    maxlen = f.MAX_INT
    if len(fn.args) > 1:
        length = ctx.param(fn.args[1])
        if length is None:
            raise Failed("length parameter undefined")
        if length:
            maxlen = f.java_int(length, default=f.MAX_INT)
    return f.hash_text(found, maxlen)


def hashname(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 2)
    name = ctx.contents(fn.args[0], this)
    length = f.java_int(ctx.param(fn.args[1]), default=4)
    words = f.MAX_INT
    if len(fn.args) > 2:
        words = f.java_int(ctx.param(fn.args[2]), default=f.MAX_INT)
    return f.hash_name(name, length, words)


def round_fn(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 2)
    age = ctx.contents(fn.args[0], this)
    size = _int(ctx.param(fn.args[1]))
    try:
        return f.round_age(age, size)
    except (ValueError, ZeroDivisionError) as exc:
        raise Failed(str(exc)) from exc


def hashptid(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 2)
    site = ctx.param(fn.args[0])
    ptid = ctx.contents(fn.args[1], this)
    maxlen = f.MAX_INT
    if len(fn.args) >= 3:
        maxlen = f.java_int(ctx.param(fn.args[2]), default=f.MAX_INT)
    return f.hash_ptid(site, ptid, maxlen)


def hashuid(fn: Call, ctx: Context, this: int, replace: Replace) -> str:
    """The UID hashed under the prefix; a third argument names an element whose rule's
    result (not its value) is appended to the UID before hashing."""
    _need(fn, 2)
    prefix = ctx.param(fn.args[0])
    uid = ctx.contents_null(fn.args[1], this)
    if uid is None:
        return REMOVE
    if prefix is None:
        raise Failed("prefix parameter undefined")
    if len(fn.args) > 2:
        tag = ctx.tag_of(fn.args[2])
        rule = ctx.parsed.rules.get(tag)
        if rule is not None:
            uid += replace(ctx, rule.nodes, tag)
    return f.hash_uid(prefix if prefix.endswith(".") else prefix + ".", uid)


def _each_date(dates: str, change: Callable[[str], str]) -> str:
    return "\\".join(change(date) for date in f.java_split(dates, "\\"))


def hashdate(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 2)
    date = ctx.contents_null(fn.args[0], this)
    if date is None:
        return REMOVE
    if len(date) < 8:
        return EMPTY
    unhashed = ctx.contents_null(fn.args[1], this)
    if unhashed is None:
        return REMOVE
    inc = f.hash_increment(unhashed)
    return _each_date(date, lambda d: f.increment_date(d, inc))


def incrementdate(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 1)
    date = ctx.contents_null(fn.args[0], this)
    if date is None:
        return REMOVE
    if len(date) < 8:
        return EMPTY
    if len(fn.args) == 2:
        inc = ctx.param(fn.args[1])
    elif len(fn.args) == 3:
        key = ctx.contents_null(fn.args[1], this)
        inc = ctx.lookup(ctx.param(fn.args[2]), key)
    else:
        raise Failed("unknown calling sequence in incrementdate")
    days = _int(inc)
    return _each_date(date, lambda d: f.increment_date(d, days))


def modifydate(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 4)
    date = ctx.contents_null(fn.args[0], this)
    if date is None:
        return REMOVE
    if len(date) < 8:
        return EMPTY
    parts = [ctx.param(fn.args[k]) for k in (1, 2, 3)]
    if any(p is None for p in parts):
        raise Failed("parameter undefined")
    y, m, d = (f.java_int(p, default=-1) for p in parts)
    return _each_date(date, lambda one: f.modify_date(one, y, m, d))


def initials(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 1)
    result = f.initials(ctx.contents(fn.args[0], this))
    if len(fn.args) > 1:
        result = f.caesar(result, f.java_int(fn.args[1]))
    return result


def lookup(fn: Call, ctx: Context, this: int) -> str:
    """The value's replacement in the project's pseudonym table; when it is missing, the
    third argument says what to do (keep, remove, empty, default X, ignore REGEX),
    otherwise the instance is quarantined."""
    _need(fn, 2)
    key = "|".join(ctx.contents(name.strip(), this) for name in fn.args[0].split("|"))
    key = key.replace("\\", "")
    if len(fn.args) > 2 and fn.args[2] == "UC":
        key = key.upper()
    try:
        return ctx.lookup(fn.args[1], key)
    except LookupError as exc:
        action = fn.arg(2).strip() if len(fn.args) > 2 else ""
        if action in ("keep", "remove", "empty"):
            return f"@{action}()"
        if len(fn.args) > 3 and action == "default":
            return fn.arg(3).strip()
        if len(fn.args) > 3 and action == "ignore" and re.fullmatch(fn.arg(3), key):
            return key
        raise Quarantine(f"@lookup{_args(fn)}: {exc}") from exc


def integer(fn: Call, ctx: Context, this: int) -> str:
    """CTP numbers values in its own integer table; here the project's pseudonym table of
    kind TYPE holds the numbers, and a value without one quarantines the instance."""
    _need(fn, 2)
    found = ctx.contents(fn.args[0], this).strip()
    width = f.java_int(fn.args[2]) if len(fn.args) > 2 else 0
    number = ctx.keys.pseudonym(fn.args[1].strip(), found)
    if number is None or not re.fullmatch(r"[0-9]+", number.strip()):
        raise Quarantine(f"@integer{_args(fn)}: no number for {fn.args[1].strip()}/{found}")
    return f"{int(number):0{width}d}" if width > 0 else str(int(number))


def require(fn: Call, ctx: Context, this: int) -> str:
    """Keep the element if present; otherwise the named element's value, the default, or
    blanks (an all-blank value becomes @blank(n) so that the element is not removed)."""
    if this in ctx.in_ds:
        return KEEP
    if not fn.args:
        return ""
    name = fn.args[0].strip()
    tag = this if name in ("", "this") else ctx.tag_of(name)
    if tag in ctx.in_ds:
        found = ctx.value_of(tag)
        text = "null" if found is None else found
    else:
        text = fn.arg(1) if len(fn.args) > 1 else ""
    return f"@blank({len(text)})" if f.java_trim(text) == "" else text


def condition(fn: Call, ctx: Context, this: int) -> bool:
    """@if's test: isblank, contains, equals (both ignoring case), matches (the whole
    value), exists, greaterthan (digits only)."""
    if len(fn.args) < 2:
        return False
    name = fn.arg(0)
    tag = this if name in ("", "this") else ctx.tag_of(name)
    found = ctx.contents(name, tag)
    test, other = fn.args[1], _param_arg(fn, ctx, 2)
    if test == "isblank":
        return found.strip(f.JAVA_SPACE) == ""
    if test == "exists":
        return tag in ctx.in_ds
    if len(fn.args) < 3:
        return False
    if test == "contains":
        return other.lower() in found.lower()
    if test == "equals":
        return found.lower() == other.lower()
    if test == "matches":
        return re.fullmatch(other.strip(), found) is not None
    if test == "greaterthan":
        return f.java_int(re.sub(r"[^0-9]", "", found)) > f.java_int(re.sub(r"[^0-9]", "", other))
    return False


def _param_arg(fn: Call, ctx: Context, k: int) -> str:
    arg = fn.arg(k)
    if arg.startswith("@"):
        found = ctx.param(arg)
        if found is not None:
            return found
    return arg


def pathelement(fn: Call, ctx: Context, this: int) -> str:
    _need(fn, 1)
    path = ctx.contents(fn.args[0], this)
    index = f.java_int(fn.args[1], default=1000) if len(fn.args) > 1 else 1000
    parts = f.java_split(path, "/")
    if index < 0:
        index += len(parts)
    return parts[index] if 0 <= index < len(parts) else path


def dateinterval(fn: Call, ctx: Context, this: int) -> str:
    """Days from a base date in the lookup table (M/d/yyyy, keyed by an element of the root
    dataset) to the date; with a fourth argument, that origin date moved by as many."""
    try:
        _need(fn, 3)
        date = ctx.contents(fn.args[0], this)[:8]
        key = ctx.contents(fn.args[2], this, ctx.root)
        base = dt.datetime.strptime(ctx.lookup(fn.args[1], key).strip(), "%m/%d/%Y")
        days = (dt.datetime.strptime(date, "%Y%m%d") - base).days
        if len(fn.args) == 3:
            return str(days)
        return f.increment_date(ctx.param(fn.args[3]) or "", days)
    except (Failed, LookupError, ValueError, IndexError) as exc:
        raise Quarantine(f"@dateinterval{_args(fn)}: {exc}") from exc


def now_date(fn: Call) -> str:
    now = dt.datetime.now()
    sep = fn.arg(0)
    return f"{now.year:04d}{sep}{now.month:02d}{sep}{now.day:02d}"


def now_time(fn: Call) -> str:
    now = dt.datetime.now()
    sep = fn.arg(0)
    return f"{now.hour:02d}{sep}{now.minute:02d}{sep}{now.second:02d}"


# What each function gives back when its Java code throws.
FALLBACK_EMPTY = frozenset({"hashdate", "incrementdate", "modifydate"})
SIMPLE: dict[str, Callable[[Call, Context, int], str | None]] = {
    "contents": contents,
    "value": value,
    "truncate": truncate,
    "hash": hash_fn,
    "hashname": hashname,
    "round": round_fn,
    "hashptid": hashptid,
    "hashdate": hashdate,
    "incrementdate": incrementdate,
    "modifydate": modifydate,
    "initials": initials,
    "lookup": lookup,
    "integer": integer,
    "require": require,
    "pathelement": pathelement,
    "dateinterval": dateinterval,
    "lowercase": lambda fn, ctx, this: ctx.contents(fn.args[0], this).lower(),
    "uppercase": lambda fn, ctx, this: ctx.contents(fn.args[0], this).upper(),
    "param": lambda fn, ctx, this: ctx.param(fn.args[0] if fn.args else None),
    "date": lambda fn, ctx, this: now_date(fn),
    "time": lambda fn, ctx, this: now_time(fn),
    "always": lambda fn, ctx, this: "",
}
