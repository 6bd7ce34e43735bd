"""The load benchmarks' bookkeeping (rag bench users / soak) without a server: what counts as lost or mixed up,
and how windows, growth and drift are computed."""

import os

import pytest

from rag.bench.serve_load import ProcStats, answered_last, chat_questions, proc_stats
from rag.bench.soak import Event, SimUser, SoakBench, _drift, _windows
from rag.bench.users import UsersBench


def _msg(role, text, blocks=True):
    return {"role": role, "content": [{"type": "text", "text": text}] if blocks else text}


def test_a_chat_reply_is_read_as_its_questions_in_order():
    chat = [_msg("user", '<div class="rag-question">Why did Putin &amp; Assad meet?</div>'),
            _msg("assistant", "<p>Because [1].</p>"), _msg("user", "Who said it?", blocks=False),
            _msg("assistant", "")]
    assert chat_questions(chat) == ["Why did Putin & Assad meet?", "Who said it?"]
    assert not answered_last(chat)  # the last question has no reply yet
    assert answered_last(chat[:2]) and not answered_last([])


class _Job:
    def __init__(self, outputs):
        self.outputs = outputs

    def __iter__(self):
        return iter(self.outputs)

    def cancel(self):
        return True


class _Client:
    def __init__(self, reply):
        self.reply = reply

    def submit(self, question, api_name):
        return _Job(self.reply(question))


class _Server:
    def __init__(self, reply):
        self._reply = reply

    def client(self):
        return _Client(self._reply)


@pytest.mark.parametrize("reply, problem", [
    (lambda q: [([_msg("user", q), _msg("assistant", "An answer.")], "")], ""),
    (lambda q: [([_msg("user", "Someone else's question?"), _msg("assistant", "x"), _msg("user", q),
                  _msg("assistant", "An answer.")], "")], "mixed"),
    (lambda q: [([_msg("user", q), _msg("assistant", "")], "")], "lost"),
    (lambda q: [], "lost"),
])
def test_a_simulated_user_tells_answered_lost_and_mixed_up(tmp_path, reply, problem):
    user = SimUser(0, _Server(reply), ["What happened in Syria?"], tmp_path, seed=0)
    got = user._ask()
    assert got.split(":")[0] == problem


def test_windows_growth_and_drift():
    events = [Event(at=t, user=0, action="ask", ok=True, latency_s=10 + t / 60) for t in range(0, 600, 30)]
    events.append(Event(at=100, user=1, action="upload", ok=True, latency_s=99))  # not an answer
    stats = [ProcStats(at=1000 + t, rss_mb=500 + (t > 300) * 10, threads=20, open_files=30) for t in range(0, 600, 10)]
    windows = _windows(events, stats, t0=1000, minutes=10, window_min=5)
    assert [w.answers for w in windows] == [10, 10] and windows[1].rss_mb == 510
    assert _drift(events) == pytest.approx(9.5 / 14.75, rel=0.01)  # 10 -> 19.5 s over the run
    flat = [Event(at=t, user=0, action="ask", ok=True, latency_s=12.0) for t in range(0, 600, 30)]
    assert _drift(flat) == pytest.approx(0.0, abs=1e-6)


def test_soak_targets_fail_on_any_error_leak_or_drift():
    base = dict(minutes=10, users=2, actions={"ask": 3}, errors=0, lost=0, mixed=0, windows=[], rss_growth=0.02,
                threads_growth=0, files_growth=1, latency_drift=0.05, machine="m")
    assert all(ok for _, _, ok in SoakBench(**base).targets())
    for change in ({"errors": 1}, {"mixed": 1}, {"rss_growth": 0.2}, {"files_growth": 40}, {"latency_drift": 0.5}):
        assert not all(ok for _, _, ok in SoakBench(**{**base, **change}).targets()), change


def test_users_bench_ratios():
    r = UsersBench(users=8, per_user=2, sequential_s=100.0, concurrent_s=105.0,
                   idle_first_ms={"p50": 1000.0, "p95": 1200.0},
                   ingest_first_ms={"p50": 2000.0, "p95": 2500.0}, ingest_articles=200)
    assert r.ratio == pytest.approx(1.05) and r.ingest_ratio == pytest.approx(2.0)
    assert [ok for _, _, ok in r.targets()] == [True, True]
    assert "200-article ingest" in r.table()


def test_process_readings_of_this_process():
    s = proc_stats(os.getpid())
    assert s is not None and s.rss_mb > 10 and s.threads >= 1 and s.open_files >= 3
    assert proc_stats(2**22 + 12345) is None  # no such process


def test_memory_growth_is_a_trend_not_one_peak():
    from rag.bench.soak import Window, rss_trend

    def w(i, rss):
        return Window(i * 5, 10, 1.0, 2.0, rss, 10, 20)

    assert rss_trend([w(i, r) for i, r in enumerate([1700, 1890, 1710, 1720, 1705])]) < 0.02  # one peak
    assert rss_trend([w(i, 1700 + 60 * i) for i in range(5)]) == pytest.approx(240 / 1700)  # a leak
    assert rss_trend([w(0, 1700)]) == 0.0
