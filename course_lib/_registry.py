"""One registry class for every named thing the kit looks up: data sets, claims, zoo models, detectors, weights.

Modelled on timm's registry: ``register`` refuses a second entry under a taken name (never a silent replace),
``names`` filters with shell-style include/exclude patterns (case-insensitive) in registration or natural order,
and ``registry[name]`` of an unknown name raises :class:`~course_lib.errors.UnknownNameError` with the closest names and where
to list them. A registry is a read-only mapping (``name in reg``, ``reg.get(name)`` -> None if missing, ``reg.items()``); a registry built
from published metadata can fill itself on first use (``loader``), so importing the kit stays cheap.
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from .errors import CourseLibError, unknown_name

T = TypeVar("T")


def natural_key(name: str) -> list:
    """Sort key that orders digits by value: ``lite2`` before ``lite10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class Registry(Mapping, Generic[T]):
    """Named entries of one kind.

    ``kind``: what an entry is, for messages ("data set"); ``listing``: the call that lists the names, named in the
    error for an unknown one; ``key``: how an entry names itself (default: its ``name`` attribute); ``loader``: a
    function returning the entries, called once on first use; ``error``: the exception class for a refused entry.
    """

    def __init__(self, kind: str, listing: str, key: Callable[[T], str] = lambda obj: obj.name,
                 loader: Callable[[], Iterable[T]] | None = None, error: type[CourseLibError] = CourseLibError):
        self.kind, self.listing, self._key, self._error = kind, listing, key, error
        self._entries: dict[str, T] = {}
        self._loader = loader

    def _load(self) -> dict[str, T]:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            for obj in loader():
                self.register(obj)
        return self._entries

    def register(self, obj: T) -> T:
        """Add `obj` under its name and return it (so it can decorate); a taken name is refused."""
        entries = self._load()
        name = self._key(obj)
        if name in entries:
            raise self._error(f"a {self.kind} called {name!r} is already registered; choose another name.")
        entries[name] = obj
        return obj

    def copy(self) -> "Registry[T]":
        """A new registry with the same entries: register into it to try something without touching this one
        (tests swap it in with ``monkeypatch.setattr(module, "DATASETS", reg.copy())``)."""
        new = Registry(self.kind, self.listing, self._key, error=self._error)
        new._entries = dict(self._load())
        return new

    def names(self, include: str | Iterable[str] = "*", exclude: str | Iterable[str] = (),
              sort: bool = False) -> list[str]:
        """Names matching any `include` pattern and no `exclude` pattern (shell-style, case-insensitive), in the
        order they were registered, or in natural order with ``sort=True``."""
        inc = [include] if isinstance(include, str) else list(include)
        exc = [exclude] if isinstance(exclude, str) else list(exclude)

        def hit(name: str, patterns: list[str]) -> bool:
            return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)

        found = [n for n in self._load() if hit(n, inc) and not hit(n, exc)]
        return sorted(found, key=natural_key) if sort else found

    def __getitem__(self, name: str) -> T:
        """The entry called `name`; an unknown name raises UnknownNameError (a KeyError) with the closest names.
        ``reg.get(name)`` returns None instead, as for a dict."""
        entries = self._load()
        if name not in entries:
            raise unknown_name(self.kind, name, entries, self.listing)
        return entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._load()))

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries: {', '.join(self.names()[:6])}{', ...' if len(self) > 6 else ''})"
