"""Mistakes in what a user gave us, reported as one line (exit status 2) before any work starts. No imports:
any module may raise them without depending on where they are checked."""


class ParamsError(ValueError):
    """A problem in params.yaml; the message names the offending key and value (and, once located, the file
    and line)."""
