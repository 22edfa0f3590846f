"""Errors a user can act on. The CLI prints them as one line and exits 2."""


class GtindexError(Exception):
    """An expected failure with a message that names the file and what to do."""


class IndexError_(GtindexError):
    """The index directory is missing, damaged or incompatible."""
