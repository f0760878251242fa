"""One family of errors for everything a learner can get wrong, each saying what to do next."""
from __future__ import annotations

import difflib
from typing import Iterable


class CourseLibError(ValueError):
    """Base class: a problem with the learner's input or machine, explained with a fix."""


class UnknownNameError(CourseLibError, KeyError):
    """A model, data set or stage name that is not registered."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else ""


class WeightsUnavailableError(CourseLibError):
    """Pretrained weights cannot be had here (offline and not cached, or a checksum mismatch)."""


class ImageLoadError(CourseLibError):
    """An image file that cannot be decoded; the message names the file."""


class DataError(CourseLibError):
    """A data set or split that cannot be built as asked (missing folder, empty class, too few images)."""


def close_matches(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Names that look like `name`: difflib ratio first, then substring hits, without duplicates."""
    candidates = list(dict.fromkeys(candidates))
    lowered = {c.lower(): c for c in candidates}
    found = [lowered[m] for m in difflib.get_close_matches(name.lower(), lowered, n=n, cutoff=0.6)]
    key = name.lower().replace("-", "_")
    for c in candidates:
        if len(found) >= n:
            break
        if key and key in c.lower().replace("-", "_") and c not in found:
            found.append(c)
    return found[:n]


def unknown_name(kind: str, name: str, candidates: Iterable[str], listing_hint: str) -> UnknownNameError:
    """Build the error for an unknown `kind` called `name`, suggesting close candidates."""
    suggestions = close_matches(name, candidates)
    msg = f"no {kind} called {name!r}."
    if suggestions:
        msg += " Did you mean " + ", ".join(repr(s) for s in suggestions) + "?"
    msg += f" See {listing_hint}."
    return UnknownNameError(msg)
