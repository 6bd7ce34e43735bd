"""Errors meant for the user. The CLI and UI show `str(error)`: each message says what to do next."""

import re


class RagError(Exception):
    """Base class: a problem the user can act on."""


class ConfigError(RagError):
    pass


class LoadError(RagError):
    """A file could not be turned into a document; the message is the one-line reason, in words first and any
    library's own wording after it (see `with_detail`)."""


_DETAIL = re.compile(r"^(.*?) \(details: (.*)\)$", re.S)


def with_detail(words: str, detail: str) -> str:
    """"the file is damaged (details: EOF marker not found)": the page shows the words and folds the detail away,
    the CLI and the log keep both."""
    return f"{words} (details: {detail})" if detail else words


def split_detail(reason: str) -> tuple[str, str]:
    """(words, technical detail) of a reason made by `with_detail`; ("reason", "") for any other."""
    m = _DETAIL.match(reason or "")
    return (m.group(1), m.group(2)) if m else (reason, "")


class FetchError(RagError):
    """A web page or feed could not be fetched or read; the message is one line that says why and what to do."""


class IndexMissingError(RagError):
    pass


class IndexCorruptError(RagError):
    pass


class IndexMismatchError(RagError):
    """The index was built with other settings (embedding model, dimension, chunker)."""


class IndexLockedError(RagError):
    pass


class StoreUnavailableError(RagError):
    """The vector database cannot be reached or opened (Milvus server down, Lite file held elsewhere)."""


class ModelLoadError(RagError):
    pass


class ModelIntegrityError(RagError):
    """A fetched model file does not match its recorded size or SHA-256; it is deleted, never loaded."""


class EmptyQuestionError(RagError):
    pass


class DocumentNotFoundError(RagError):
    """A document id that is not in the index (e.g. asked to remove it)."""


class DateRangeError(RagError):
    """A date filter that can't be read (the message says which forms are understood)."""


class ClaimError(RagError):
    """A claim to check that is not one sentence of text (empty, a whole article, binary data)."""
