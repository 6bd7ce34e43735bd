"""Killed ingests, damaged index files and two writers at once: the index stays loadable and whole."""

import hashlib
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from rag_testdata import REPO_DATA, cli_env

from rag.index.store import IndexStore
from rag.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

RUNS = 20
MILVUS_RUNS = 8  # each also runs a full follow-up ingest


def _state(data, version: int) -> None:
    """Write corpus state A (version 0) or B (version 1): different documents, texts and counts."""
    for f in data.glob("extra-*.md"):
        f.unlink()
    n = 12 if version == 0 else 9
    for i in range(n):
        body = (f"Report {i} of state {version}. Talks on grain exports continued in round {i} "
                f"with delegations from {'Ankara' if version else 'Geneva'}. ") * 12
        (data / f"extra-{i}.md").write_text(f"---\ntitle: Extra {i}\n---\n{body}")


def _snapshot(store: IndexStore) -> frozenset[tuple[str, str]]:
    data = store.load()
    assert data.vectors.shape[0] == len(data.chunks) == data.faiss_index.ntotal
    for c in data.chunks:
        assert c.doc in data.documents and data.documents[c.doc].text[c.start:c.end] == c.text
    if len(data.chunks):  # the index answers a search
        _, ids = data.faiss_index.search(np.ascontiguousarray(data.vectors[:1]), 1)
        assert ids[0][0] == 0
    return frozenset((d, hashlib.sha256(doc.text.encode()).hexdigest()) for d, doc in data.documents.items())


def test_sigkill_during_ingest_leaves_old_or_new_state(tmp_path, model_cache, real_pipeline):
    data = tmp_path / "data"
    data.mkdir()
    for f in REPO_DATA.glob("*.md"):
        shutil.copy(f, data / f.name)
    settings = Settings(data_dir=data, index_dir=tmp_path / "index", cache_dir=model_cache)
    store = IndexStore(settings.index_path)
    env = cli_env(settings)
    cmd = [sys.executable, "-m", "rag.cli", "ingest"]

    states = {}
    for version in (0, 1):  # the two complete states, built without interruption
        _state(data, version)
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
        states[version] = _snapshot(store)
    assert states[0] != states[1]

    rng = random.Random(1234)
    t0 = time.monotonic()
    subprocess.run(cmd + ["--rebuild"], env=env, check=True, capture_output=True, timeout=600)
    full = time.monotonic() - t0
    outcomes = {"old": 0, "new": 0}
    current = 1
    for run in range(RUNS):
        target = 1 - current
        _state(data, target)
        proc = subprocess.Popen(cmd + (["--rebuild"] if run % 2 else []), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, full * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        snap = _snapshot(store)  # always loads
        assert snap in (states[current], states[target]), f"run {run}: a mix of two states"
        if snap == states[target]:
            outcomes["new"] += 1
            current = target
        else:
            outcomes["old"] += 1
    print(f"\n{RUNS} killed ingests: {outcomes['old']} left the old state, {outcomes['new']} the new one")
    # and the pipeline answers from what survived
    from rag.pipeline import Pipeline

    p = Pipeline(settings, embedder=real_pipeline.embedder, generator=real_pipeline.generator)
    a = p.answer("Which U.S. official said contact with the Russians would be limited to technical discussions?")
    assert not a.refused and "Carter" in a.answer


def _milvus_snapshot(settings) -> frozenset[tuple[str, str]]:
    """Load the Milvus index (in this process, then let go of the Lite file for the next ingest) and check it."""
    from rag.index.store import make_store

    store = make_store(settings)
    try:
        data = store.load()
        rows = int(store._query(store.chunks_name, filter="", output_fields=["count(*)"])[0]["count(*)"])
        for c in data.chunks:
            assert c.doc in data.documents and data.documents[c.doc].text[c.start:c.end] == c.text
        listed = data.manifest["documents"]
        for d in data.documents:
            assert len(data.by_doc.get(d, [])) == listed[d]["chunks"], f"{d}: not all of its chunks"
        pending = data.manifest.get("pending", [])
        assert set(data.documents) == set(listed) and not set(pending) & set(listed)
        assert rows >= len(data.chunks)  # rows a killed ingest left are hidden until the next one
        return frozenset((d, hashlib.sha256(doc.text.encode()).hexdigest()) for d, doc in data.documents.items())
    finally:
        store.close()


def test_sigkill_during_milvus_ingest_is_finished_by_the_next(tmp_path, model_cache):
    """Milvus (Lite here) has no transaction over several writes, so a killed ingest can leave a third state: the
    documents it did not touch, whole, with the ones it was changing hidden. Never a document half old and half
    new, never a chunk without its document; and the next ingest always reaches the full new state."""
    data = tmp_path / "data"
    data.mkdir()
    for f in REPO_DATA.glob("*.md"):
        shutil.copy(f, data / f.name)
    settings = Settings(data_dir=data, index_dir=tmp_path / "index", cache_dir=model_cache, store="milvus")
    env = cli_env(settings, RAG_STORE="milvus")
    cmd = [sys.executable, "-m", "rag.cli", "ingest"]
    states = {}
    for version in (0, 1):
        _state(data, version)
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
        states[version] = _milvus_snapshot(settings)
    t0 = time.monotonic()
    subprocess.run(cmd + ["--rebuild"], env=env, check=True, capture_output=True, timeout=600)
    full = time.monotonic() - t0
    rng = random.Random(4321)
    outcomes = {"old": 0, "new": 0, "partial": 0}
    current = 1
    for run in range(MILVUS_RUNS):
        target = 1 - current
        _state(data, target)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, full * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        snap = _milvus_snapshot(settings)
        if snap in (states[current], states[target]):
            outcomes["old" if snap == states[current] else "new"] += 1
        else:  # a partial ingest: some documents of either state, each one whole and as that state has it
            outcomes["partial"] += 1
            assert snap < states[current] | states[target], f"run {run}: a document in neither state"
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
        assert _milvus_snapshot(settings) == states[target], f"run {run}: the next ingest did not finish it"
        current = target
    print(f"\n{MILVUS_RUNS} killed Milvus ingests: {outcomes}")


@pytest.mark.parametrize("victim", ["faiss.index", "vectors.npy", "chunks.jsonl", "documents.jsonl",
                                    "manifest.json", "CURRENT"])
def test_damaged_index_file_gives_a_clear_fix_that_works(tmp_path, model_cache, victim):
    data = tmp_path / "data"
    shutil.copytree(REPO_DATA, data, ignore=shutil.ignore_patterns("index", "uploads"))
    settings = Settings(data_dir=data, index_dir=tmp_path / "index", cache_dir=model_cache)
    env = cli_env(settings)
    subprocess.run([sys.executable, "-m", "rag.cli", "ingest"], env=env, check=True, capture_output=True)
    store = IndexStore(settings.index_path)
    path = settings.index_path / victim if victim == "CURRENT" else store.current_dir() / victim
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3] + b"\x00garbage")
    out = subprocess.run([sys.executable, "-m", "rag.cli", "search", "Putin"], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "rag ingest --rebuild" in out.stderr
    assert victim in out.stderr or "index pointer" in out.stderr
    fix = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--rebuild"], env=env, capture_output=True,
                         text=True)
    assert fix.returncode == 0, fix.stderr
    again = subprocess.run([sys.executable, "-m", "rag.cli", "search", "Putin", "--json"], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0 and '"doc"' in again.stdout


def test_second_ingest_waits_or_refuses_clearly(tmp_path, model_cache):
    data = tmp_path / "data"
    shutil.copytree(REPO_DATA, data, ignore=shutil.ignore_patterns("index", "uploads"))
    for i in range(40):
        (data / f"filler-{i}.md").write_text(f"Filler article {i}. " + "Markets were calm on Tuesday. " * 80)
    settings = Settings(data_dir=data, index_dir=tmp_path / "index", cache_dir=model_cache)
    lock = settings.index_path / ".lock"
    first = subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest"], env=cli_env(settings),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (lock.exists() and "pid" in lock.read_text()):
        time.sleep(0.05)
    assert "pid" in lock.read_text(), "the first ingest never took the lock"
    refused = subprocess.run([sys.executable, "-m", "rag.cli", "ingest"],
                             env=cli_env(settings, RAG_LOCK_WAIT_S=0), capture_output=True, text=True)
    waited = subprocess.run([sys.executable, "-m", "rag.cli", "ingest"],
                            env=cli_env(settings, RAG_LOCK_WAIT_S=300), capture_output=True, text=True)
    assert first.wait(timeout=300) == 0
    if refused.returncode:  # the first one still held the lock: a clear refusal
        assert "Another ingest is writing the index" in refused.stderr and "Traceback" not in refused.stderr
    assert waited.returncode == 0 and "unchanged" in waited.stdout
    docs = IndexStore(settings.index_path).load().documents
    assert len(docs) == 42
