"""A translation task the project generates itself: dates written many ways -> ISO 8601.

    "the twenty-third of march two thousand four"  -> "2004-03-23"
    "March 23, 2004" / "23 mar 2004" / "the 23rd of march 1987" -> "YYYY-MM-DD"

It needs no download, trains in a couple of minutes on a CPU, and its attention maps are easy
to read: the day digits look at the day words, the month digits at the month name, the year
digits at the year words. The demo app trains on it when no checkpoint is given.

    pairs = make_date_pairs(5000, seed=0)   # [(source, target), ...]
"""

from __future__ import annotations

import datetime
import random

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]  # fmt: skip
ONES = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen"]  # fmt: skip
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
           "nine": "ninth", "twelve": "twelfth"}  # fmt: skip
FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)


def number_words(n: int) -> str:
    """0 < n < 100 in words: 7 -> 'seven', 42 -> 'forty-two'."""
    if n < 20:
        return ONES[n]
    return TENS[n // 10] + ("-" + ONES[n % 10] if n % 10 else "")


def ordinal_words(n: int) -> str:
    """1 -> 'first', 23 -> 'twenty-third', 30 -> 'thirtieth'."""
    words = number_words(n)
    head, _, last = words.rpartition("-")
    if last in ORDINAL:
        last = ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}-{last}" if head else last


def ordinal_suffix(n: int) -> str:
    """1 -> '1st', 22 -> '22nd', 13 -> '13th'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def year_words(y: int) -> str:
    """1987 -> 'nineteen eighty-seven', 2004 -> 'two thousand four', 2000 -> 'two thousand',
    2021 -> 'twenty twenty-one' or 'two thousand twenty-one' (both are heard)."""
    hi, lo = divmod(y, 100)
    if hi == 20 and (lo < 10 or lo % 2):
        return "two thousand" + (f" {number_words(lo)}" if lo else "")
    if lo == 0:
        return f"{number_words(hi)} hundred"
    return f"{number_words(hi)} {'oh-' + ONES[lo] if lo < 10 else number_words(lo)}"


def render(date: datetime.date, rng: random.Random) -> str:
    """One of several ways people write a date (spelled out, numeric, abbreviated)."""
    d, month = date.day, MONTHS[date.month - 1]
    if rng.random() < 0.3:
        month = month.capitalize()
    short = month[:3]
    forms = [
        f"the {ordinal_words(d)} of {month} {year_words(date.year)}",
        f"{ordinal_words(d)} {month} {year_words(date.year)}",
        f"{month} {ordinal_words(d)}, {year_words(date.year)}",
        f"{month} {d}, {date.year}",
        f"{d} {short} {date.year}",
        f"the {ordinal_suffix(d)} of {month} {date.year}",
        f"{month} the {ordinal_suffix(d)} {year_words(date.year)}",
    ]
    return rng.choice(forms)


def make_date_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (written date, ISO date) pairs with dates drawn uniformly from 1950-2049."""
    rng = random.Random(seed)
    span = (LAST - FIRST).days
    pairs = []
    for _ in range(n):
        date = FIRST + datetime.timedelta(days=rng.randrange(span + 1))
        pairs.append((render(date, rng), date.isoformat()))
    return pairs
