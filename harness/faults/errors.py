"""The errors of the fault model, in a module of their own so every layer can import them."""

from __future__ import annotations


class FaultError(ValueError):
    """A fault request that names unknown nodes, makes no sense (e.g. a one-group partition)
    or cannot be done here (a backend or kernel without the means); one line for the user."""


class FieldError(FaultError):
    """A bad field of a fault request; ``path`` is the field (and index) within the request,
    so the scenario parser can place it at a file line and the CLI can name the option."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        self.message = message
        where = "".join(
            f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path)
        )
        super().__init__(f"field '{where}': {message}" if path else message)
