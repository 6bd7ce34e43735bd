"""Index: the embedder (sentence-transformers, its NumPy twin for questions, a hash-seeded fake), the on-disk
store (atomic versions of documents, chunks, vectors and a FAISS index, with the manifest that built them, or
the same in Milvus collections), BM25
over the chunk texts, and hybrid retrieval that fuses the two rankings."""

from rag.exports import lazy_exports

_PUBLIC = {
    "Embedder": "embed", "make_embedder": "embed", "HashEmbedder": "embed",
    "IndexStore": "store", "IndexData": "store", "Store": "store", "make_store": "store",
    "MilvusStore": "milvus_store", "build_faiss": "faiss_index",
    "BM25Index": "bm25", "Retriever": "retrieve",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
