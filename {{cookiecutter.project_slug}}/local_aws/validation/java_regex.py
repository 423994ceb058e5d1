"""Java regular expressions, as AWS's service models write their patterns, for Python.

AWS matches a value against the whole pattern as Java's ``Matcher.matches()`` does; the
``regex`` module, with the translations here, gives the same answers.
"""

from __future__ import annotations

import functools
import logging
import re

import regex

logger = logging.getLogger(__name__)


# Java's POSIX classes match ASCII only, unlike the Unicode ones of the ``regex`` module.
_POSIX_CLASSES = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": r"\x00-\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": r"\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E",
    "Graph": r"\x21-\x7E",
    "Print": r"\x20-\x7E",
    "Blank": r" \t",
    "Cntrl": r"\x00-\x1F\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": r" \t\n\x0B\f\r",
    # Java-only names.
    "L1": r"\x00-\xFF",
    "LD": r"\p{L}\p{Nd}",
    "all": r"\x00-\U0010FFFF",
}
# Java's predefined classes, ASCII-only by default; \h and \v are its whitespace classes.
_SHORTHAND_CLASSES = {
    "d": "0-9",
    "w": "a-zA-Z_0-9",
    "s": r" \t\n\x0B\f\r",
    "h": r" \t\xA0\u1680\u180E\u2000-\u200A\u202F\u205F\u3000",
    "v": r"\n\x0B\f\r\x85\u2028\u2029",
}
# Java's ``.`` stops at every line terminator, Python's only at ``\n``.
_JAVA_DOT = r"[^\n\r\x85\u2028\u2029]"
_DOTALL_FLAG = re.compile(r"\(\?[a-zA-Z]*s")
_GENERAL_CATEGORY = re.compile(r"[A-Z][a-z]?")
_SKIPPED_PATTERNS: dict[str, str] = {}


def translate_pattern(java_pattern: str) -> str:
    """Rewrite a Java regular expression for the ``regex`` module, compiled with ``regex.V1``.

    V1 reads nested character classes and ``&&`` as Java does. What still differs is rewritten:
    POSIX classes (``\\p{Print}``, ``\\p{Alnum}``, ...) and ``\\d \\w \\s`` match ASCII only,
    ``.`` stops at any line terminator, a ``\\uD83D\\uDE00`` surrogate pair is one code point,
    ``\\x{...}``, ``\\Q...\\E``, octal ``\\0nn``, ``\\e`` and ``\\cX`` escapes, and V1's set
    operators ``--``, ``||``, ``~~`` which are literal characters in Java.
    Raises ValueError for what has no translation.
    """
    out: list[str] = []
    dotall = _DOTALL_FLAG.search(java_pattern) is not None
    depth = 0  # nesting of character classes
    i, end = 0, len(java_pattern)
    while i < end:
        char = java_pattern[i]
        if char == "\\":
            piece, i, is_class = _translate_escape(java_pattern, i)
            out.append(piece)
            # After a class escape inside a class, Java reads "-" as a literal hyphen.
            hyphen = java_pattern[i : i + 2]
            if is_class and depth and hyphen[:1] == "-" and hyphen not in ("-", "-]"):
                out.append(r"\-")
                i += 1
            continue
        if depth:
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
            elif char in "-|~" and java_pattern[i + 1 : i + 2] == char:
                out.append(char + "\\" + char)
                i += 2
                continue
        elif char == "[":
            depth = 1
        elif char == "." and not dotall:
            out.append(_JAVA_DOT)
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _translate_escape(pattern: str, start: int) -> tuple[str, int, bool]:
    """Translate the escape at ``start``: (replacement, index after it, whether it is a class)."""
    if start + 1 >= len(pattern):
        raise ValueError("pattern ends with a backslash")
    letter = pattern[start + 1]
    after = start + 2
    if letter in "pP":
        if pattern[after : after + 1] == "{":
            close = pattern.index("}", after)
            name, after = pattern[after + 1 : close], close + 1
        else:
            name, after = pattern[after : after + 1], after + 1
        negate = "^" if letter == "P" else ""
        return f"[{negate}{_property_class(name)}]", after, True
    if letter.lower() in _SHORTHAND_CLASSES:
        negate = "^" if letter.isupper() else ""
        return f"[{negate}{_SHORTHAND_CLASSES[letter.lower()]}]", after, True
    if letter == "Q":
        close = pattern.find(r"\E", after)
        stop = close if close >= 0 else len(pattern)
        return regex.escape(pattern[after:stop]), (stop + 2 if close >= 0 else stop), False
    if letter == "x" and pattern[after : after + 1] == "{":
        close = pattern.index("}", after)
        return _code_point(int(pattern[after + 1 : close], 16)), close + 1, False
    if letter == "u":
        unit = int(pattern[after : after + 4], 16)
        after += 4
        if 0xD800 <= unit <= 0xDBFF and pattern[after : after + 2] == "\\u":
            low = int(pattern[after + 2 : after + 6], 16)
            if 0xDC00 <= low <= 0xDFFF:
                unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                after += 6
        return _code_point(unit), after, False
    if letter == "0":
        digits = re.match(r"[0-3][0-7]{2}|[0-7]{1,2}", pattern[after:])
        if digits is None:
            raise ValueError("\\0 without octal digits")
        return _code_point(int(digits.group(), 8)), after + len(digits.group()), False
    if letter == "e":
        return r"\x1B", after, False
    if letter == "c":
        return _code_point(ord(pattern[after]) ^ 0x40), after + 1, False
    return pattern[start:after], after, False


def _property_class(name: str) -> str:
    """The body of a character class equal to Java's ``\\p{name}``."""
    if name in _POSIX_CLASSES:
        return _POSIX_CLASSES[name]
    if name.startswith("java"):
        raise ValueError(f"no translation for \\p{{{name}}}")
    if name.startswith("Is") and _GENERAL_CATEGORY.fullmatch(name[2:]):
        name = name[2:]  # Java's \p{IsLu} is the category Lu
    return rf"\p{{{name}}}"


def _code_point(value: int) -> str:
    return f"\\u{value:04X}" if value <= 0xFFFF else f"\\U{value:08X}"


@functools.cache
def compile_pattern(java_pattern: str) -> regex.Pattern[str] | None:
    """The compiled form of a model's pattern, or None when it cannot be translated."""
    try:
        return regex.compile(translate_pattern(java_pattern), regex.V1)
    except (regex.error, ValueError, IndexError) as exc:
        _SKIPPED_PATTERNS[java_pattern] = str(exc)
        logger.info("Not enforcing pattern %r: %s", java_pattern, exc)
        return None


def skipped_patterns() -> dict[str, str]:
    """Patterns met so far that could not be translated, with the reason for each."""
    return dict(_SKIPPED_PATTERNS)
