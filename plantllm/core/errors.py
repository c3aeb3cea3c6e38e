"""Domain exceptions.

Every error a user can cause with their input is one of these. Each subclasses
a builtin (as pyfaidx does) so generic handlers still work, and each message is
one line: the file, the record or line, what is wrong, and how to fix it. The
CLI prints the message and exits with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable


class PlantLLMError(Exception):
    """Base of all user-facing errors."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 fix: str | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        text = f"{where}{message}"
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)
        self.message = message
        self.path = path
        self.line = line
        self.fix = fix


class InputFileError(PlantLLMError, ValueError):
    """A file exists but its content is malformed."""


class MissingFileError(PlantLLMError, FileNotFoundError):
    """A file named by the user or a card does not exist."""


class CardError(PlantLLMError, ValueError):
    """A species card or config is invalid."""


class UnknownSpeciesError(PlantLLMError, KeyError):
    """No card of that name is known."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ChromosomeError(PlantLLMError, KeyError):
    """A sequence name that cannot be resolved through the card's aliases."""

    def __str__(self) -> str:
        return self.args[0]


class SequenceError(PlantLLMError, ValueError):
    """Sequence content violates the card's policy (e.g. IUPAC codes with policy 'reject')."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The closest valid spelling of ``word`` among ``choices``, or None."""
    found = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' or an empty string."""
    best = closest(word, choices)
    return f" (did you mean '{best}'?)" if best else ""
