"""Simple properties of every character of a text, to find the recurrent cells that track them
(Karpathy, Johnson and Fei-Fei 2015: cells for quotes, line position, bracket depth).

    feats = char_features("ROMEO:\\nBut (soft) ...")     # {"inside_quotes": array (N,), ...}

Each feature is a float array with one value per character, describing the text *up to and
including* that character: what a left-to-right model could know when it reads it.
"""

from __future__ import annotations

import numpy as np

FEATURES = (
    "inside_quotes",
    "bracket_depth",
    "position_in_line",
    "start_of_word",
    "upper_case",
    "space",
    "newline",
    "punctuation",
    "vowel",
    "speaker_line",
)
QUOTES = "\"'"
PUNCT = set(".,;:!?-")


def char_features(text: str) -> dict[str, np.ndarray]:
    """{feature: (N,) float32}, N = len(text). See FEATURES for the names."""
    n = len(text)
    out = {name: np.zeros(n, dtype=np.float32) for name in FEATURES}
    quoted, depth, col = False, 0, 0
    upper_line, nonblank = True, False  # the line so far: capitals, spaces and colons only?
    for t, ch in enumerate(text):
        if ch == '"':  # apostrophes in "don't" would flip a ' state: only double quotes count
            quoted = not quoted
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if ch == "\n":
            col, upper_line, nonblank = 0, True, False
        else:
            col += 1
            upper_line = upper_line and (ch.isupper() or ch in " :")
            nonblank = nonblank or not ch.isspace()
        out["inside_quotes"][t] = quoted
        out["bracket_depth"][t] = depth
        out["position_in_line"][t] = col
        out["start_of_word"][t] = ch.isalnum() and (t == 0 or not text[t - 1].isalnum())
        out["upper_case"][t] = ch.isupper()
        out["space"][t] = ch == " "
        out["newline"][t] = ch == "\n"
        out["punctuation"][t] = ch in PUNCT
        out["vowel"][t] = ch.lower() in "aeiou"
        # a speaker line so far is upper case letters and spaces (ROMEO:, FIRST CITIZEN:)
        out["speaker_line"][t] = ch != "\n" and upper_line and nonblank
    return out
