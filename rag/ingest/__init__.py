"""Ingest: files -> documents (loaders: txt, md, html, pdf; clean: article clean-up) -> sentences and chunks that
keep their character offsets (segment) -> the index, incrementally (incremental: only new or changed files are
read and embedded, deleted ones removed; scan: finding them)."""

from rag.exports import lazy_exports

_PUBLIC = {
    "load_file": "loaders", "load_paths": "loaders", "Skipped": "loaders", "SUPPORTED_SUFFIXES": "loaders",
    "clean_article": "clean", "split_sentences": "segment", "chunk_document": "segment",
    "ingest": "incremental", "remove_documents": "incremental",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
