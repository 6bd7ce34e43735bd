"""Errors meant for the user. The CLI and UI show `str(error)`: each message says what to do next."""


class RagError(Exception):
    """Base class: a problem the user can act on."""


class ConfigError(RagError):
    pass


class LoadError(RagError):
    """A file could not be turned into a document; the message is the one-line reason."""


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
