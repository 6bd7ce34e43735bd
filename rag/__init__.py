"""Grounded question answering over news articles: ingest, retrieve, answer with verified citations."""

from rag.schema import Answer, Chunk, Citation, Document, Passage, Sentence

__all__ = ["Answer", "Chunk", "Citation", "Document", "Passage", "Sentence"]
__version__ = "0.1.0"
