"""Sharing the CPU: free-core readings, the reader's thread plan, answers before background work."""

import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest

from rag import cpu
from rag.cpu import Answers, CpuMonitor, CpuTimes, others_busy, plan_threads


@pytest.mark.parametrize("cores, others, background, expected", [
    (2, 0.0, False, 2), (2, 0.3, False, 2), (2, 0.5, False, 1), (2, 1.0, False, 1), (2, 2.0, False, 1),
    (2, 0.0, True, 1), (8, 1.0, False, 7), (8, 2.7, True, 4), (1, 0.0, False, 1),
])
def test_thread_plan_leaves_the_busy_cores_alone(cores, others, background, expected):
    assert plan_threads(cores, others, background) == expected


def test_other_processes_busy_time_excludes_this_process():
    a = CpuTimes(at=10.0, busy=100.0, own=50.0)
    b = CpuTimes(at=12.0, busy=103.0, own=51.0)  # 3 busy core-seconds in 2 s, one of them ours
    assert others_busy(a, b) == pytest.approx(1.0)
    assert others_busy(a, CpuTimes(at=10.01, busy=200.0, own=50.0)) == 0.0  # too short to tell
    assert others_busy(a, CpuTimes(at=11.0, busy=100.0, own=52.0)) == 0.0  # never negative


def test_steal_and_waiting_are_not_busy():
    # user nice system idle iowait irq softirq steal guest guest_nice
    line = "cpu  100 5 20 900 30 2 3 400 50 0".split()
    assert cpu.busy_ticks(line) == 100 + 5 + 20 + 2 + 3  # not idle, iowait, the hypervisor's steal, nor guest twice
    assert cpu.busy_ticks("cpu 1 2 3 4".split()) == 6  # an old kernel's shorter line


def test_only_the_cpus_this_process_may_use_are_counted():
    stat = ("cpu  500 0 0 900 0 0 0 0 0 0\n"  # all CPUs: mostly a host's other work
            "cpu0 10 0 0 100 0 0 0 0 0 0\ncpu1 20 0 0 100 0 0 0 0 0 0\ncpu2 470 0 0 700 0 0 0 0 0 0\n"
            "intr 12345\n")
    assert cpu.cores_busy_ticks(stat, {0, 1}) == 30  # pinned to CPUs 0 and 1: CPU 2's load is not ours to share
    assert cpu.cores_busy_ticks(stat, None) == 500  # no affinity to go by: the all-CPU line
    assert cpu.cores_busy_ticks("cpu  7 0 0 1\n", {0, 1}) == 7  # no per-CPU lines
    assert cpu.cores_busy_ticks("intr 1\n", {0}) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_monitor_sees_another_process_keeping_a_core_busy():
    t = cpu.read_times()
    assert t is not None and t.busy >= t.own >= 0
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        m = CpuMonitor(period=0.1, window=0.6)
        m.others()
        time.sleep(1.0)
        busy = m.others()
    finally:
        spin.kill()
        spin.wait()
    assert busy >= 0.6, busy
    # and this process's own work is not counted as another's
    m2 = CpuMonitor(period=0.1, window=0.6)
    m2.others()
    end = time.monotonic() + 0.8
    while time.monotonic() < end:
        sum(range(1000))
    assert m2.others() < busy


def test_background_work_waits_while_an_answer_runs_then_goes_on():
    answers = Answers(max_wait_s=10)
    assert answers.wait_turn() == 0.0
    order = []
    started = threading.Event()

    def background():
        started.set()
        with answers.batch():
            order.append("batch")
            assert answers.background

    with answers.answering():
        t = threading.Thread(target=background)
        t.start()
        started.wait()
        time.sleep(0.3)
        order.append("answer done")
        assert answers.active and not answers.background
    t.join(5)
    assert order == ["answer done", "batch"] and not answers.background
    assert answers.waited_s >= 0.2


def test_background_work_is_not_starved_by_endless_answers():
    answers = Answers(max_wait_s=0.2)
    with answers.answering():
        t0 = time.monotonic()
        with answers.batch():
            pass
        assert 0.15 <= time.monotonic() - t0 < 2


class _EncodeLog:
    def __init__(self):
        self.calls = []

    def encode(self, batch, batch_size, **kw):
        self.calls.append((time.monotonic(), len(batch)))
        return np.ones((len(batch), 4), np.float32)

    def get_embedding_dimension(self):
        return 4


def test_a_large_embedding_call_pauses_between_batches_while_an_answer_runs(monkeypatch):
    from rag.index.embed import SentenceTransformerEmbedder

    answers = Answers(max_wait_s=10)
    monkeypatch.setattr("rag.index.embed.ANSWERS", answers)
    emb = SentenceTransformerEmbedder("unused", batch_size=64, runtime="sentence-transformers")
    emb._model = model = _EncodeLog()
    texts = [f"text {i}" for i in range(300)]  # over LIGHT_MAX_TEXTS: an ingest
    out = {}
    with answers.answering():
        t = threading.Thread(target=lambda: out.setdefault("v", emb.embed(texts)))
        t.start()
        time.sleep(0.3)
        assert model.calls == []  # waiting for the answer
        released = time.monotonic()
    t.join(5)
    assert out["v"].shape == (300, 4) and [n for _, n in model.calls] == [64, 64, 64, 64, 44]
    assert model.calls[0][0] >= released
    # a small call (a question's) never waits, even during an answer
    model.calls.clear()
    with answers.answering():
        emb.embed(texts[:10])
    assert len(model.calls) == 1


def test_the_reader_fits_its_threads_to_the_free_cores(monkeypatch):
    from rag.generate.llama_backend import LlamaCppGenerator

    calls = []
    fake = types.SimpleNamespace(llama_set_n_threads=lambda ctx, n, nb: calls.append((n, nb)))
    monkeypatch.setitem(sys.modules, "llama_cpp", fake)
    load = {"others": 0.0}
    monkeypatch.setattr(cpu, "_MONITOR", types.SimpleNamespace(others=lambda: load["others"]))
    gen = LlamaCppGenerator("model.gguf", n_threads=0)
    gen.n_threads = gen._threads_now = 2
    gen._llm = types.SimpleNamespace(ctx="ctx")
    gen._fit_threads()
    assert calls == []  # two free cores: as loaded
    load["others"] = 1.0
    gen._fit_threads()
    gen._fit_threads()
    assert calls == [(1, 1)]  # changed once
    load["others"] = 0.0
    gen._fit_threads()
    assert calls == [(1, 1), (2, 2)] and gen.thread_use == {2: 2, 1: 2}

    fixed = LlamaCppGenerator("model.gguf", n_threads=2)
    fixed._llm = gen._llm
    load["others"] = 1.0
    fixed._fit_threads()
    assert calls == [(1, 1), (2, 2)]  # RAG_LLM_THREADS set: kept as given
