"""The errors a user can meet, and what each front end does with them. Standard library only,
so the CLI can map them to exit codes without importing torch."""

from __future__ import annotations


class InputError(ValueError):
    """A problem with what the user asked for (a value, a file, a name), never a bug.

    The CLI turns exactly these into one line on stderr and exit code 2.
    """


class InputNotice(UserWarning):
    """Something about an input the user should know, that is no error (e.g. a GIF's frames).

    The CLI prints these as one 'note:' line each.
    """


class NumericsError(RuntimeError):
    """A run that started but could not go on: the loss or the image stopped being finite.

    The CLI says 'failed' and exits with code 1; the web studio marks the job failed.
    """


__all__ = ["InputError", "InputNotice", "NumericsError"]
