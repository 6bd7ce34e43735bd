"""The OpenAI-compatible backend against a small fake server on 127.0.0.1 that streams server-sent events."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.errors import ModelLoadError, RagError
from rag.generate.openai_backend import OpenAIChatGenerator, api_base

MESSAGES = [{"role": "user", "content": "Who said it?"}]


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.models = ["fake-model", "other-model"]
        self.api_key = ""
        self.pieces = ["Ash", "ton Carter", " said", " so."]
        self.delay = 0.0
        self.fail_midway = False
        self.requests: list[dict] = []
        self.headers_seen: list[dict] = []
        self.sent = 0
        self.disconnected = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _json(self, status: int, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self) -> bool:
        self.server.headers_seen.append(dict(self.headers))
        if self.server.api_key and self.headers.get("Authorization") != f"Bearer {self.server.api_key}":
            self._json(401, {"error": {"message": "Invalid API key", "type": "invalid_request_error"}})
            return False
        return True

    def do_GET(self) -> None:
        if self.path != "/v1/models":
            return self._json(404, {"detail": "Not Found"})
        if self._authorized():
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.server.models]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/chat/completions":
            return self._json(404, {"detail": "Not Found"})
        if not self._authorized():
            return
        self.server.requests.append(body)
        if body["model"] not in self.server.models:
            return self._json(404, {"error": {"message": f"model '{body['model']}' not found"}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            self.wfile.write(b": ping\r\n\r\n")
            self.wfile.write(b'data:{"choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n')
            for i, piece in enumerate(self.server.pieces):
                if self.server.fail_midway and i == 2:
                    self.wfile.write(b'data: {"error": {"message": "out of memory"}}\n\n')
                    return
                chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                self.server.sent += 1
                time.sleep(self.server.delay)
            self.wfile.write(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            self.server.disconnected.set()


@pytest.fixture
def server():
    srv = FakeServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streams_pieces_greedily_with_the_first_listed_model(server):
    gen = OpenAIChatGenerator(server.url)
    pieces = list(gen.stream(MESSAGES, max_new_tokens=17))
    assert pieces == ["Ash", "ton Carter", " said", " so."]
    body = server.requests[-1]
    assert body["model"] == "fake-model" and gen.model == "fake-model"
    assert body["stream"] is True and body["temperature"] == 0 and body["max_tokens"] == 17
    assert body["messages"] == MESSAGES


def test_pieces_arrive_as_they_are_sent(server):
    server.delay = 0.3
    t0 = time.perf_counter()
    it = OpenAIChatGenerator(server.url, model="fake-model").stream(MESSAGES)
    assert next(it) == "Ash"
    assert time.perf_counter() - t0 < 0.25 * len(server.pieces)  # not buffered until the end
    it.close()


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "/v1/chat/completions"])
def test_base_url_with_or_without_v1(server, suffix):
    gen = OpenAIChatGenerator(server.url + suffix, model="fake-model")
    assert gen.base == server.url + "/v1"
    assert "".join(gen.stream(MESSAGES)) == "Ashton Carter said so."


def test_api_base():
    assert api_base("http://localhost:11434/v1") == "http://localhost:11434/v1"
    assert api_base(" http://h:8000/ ") == "http://h:8000/v1"
    assert api_base("https://h/openai/v1/models") == "https://h/openai/v1"


def test_closing_early_closes_the_http_stream(server):
    server.pieces = [f" w{i}" for i in range(2000)]
    server.delay = 0.005
    it = OpenAIChatGenerator(server.url, model="fake-model").stream(MESSAGES, max_new_tokens=2000)
    assert [next(it) for _ in range(3)] == [" w0", " w1", " w2"]
    it.close()
    assert server.disconnected.wait(5), "the server kept streaming after the consumer closed the iterator"
    assert server.sent < 2000


def test_warm_up_checks_the_server_and_picks_a_model(server):
    gen = OpenAIChatGenerator(server.url)
    gen.warm_up()
    assert gen.model == "fake-model"
    assert "fake-model" in gen.name


def test_connection_refused_names_the_url_and_the_setting():
    url = f"http://127.0.0.1:{_free_port()}"
    gen = OpenAIChatGenerator(url, model="m", timeout=5)
    with pytest.raises(ModelLoadError) as e:
        list(gen.stream(MESSAGES))
    msg = str(e.value)
    assert url in msg and "RAG_LLM_URL" in msg and "\n" not in msg
    with pytest.raises(ModelLoadError, match="RAG_LLM_URL"):
        gen.warm_up()


def test_401_says_to_set_the_api_key(server):
    server.api_key = "s3cret"
    with pytest.raises(ModelLoadError, match="RAG_LLM_API_KEY") as e:
        OpenAIChatGenerator(server.url).warm_up()
    assert "401" in str(e.value) and "Invalid API key" in str(e.value)
    with pytest.raises(ModelLoadError, match="RAG_LLM_API_KEY"):
        list(OpenAIChatGenerator(server.url, api_key="wrong", model="fake-model").stream(MESSAGES))
    gen = OpenAIChatGenerator(server.url, api_key="s3cret")
    assert "".join(gen.stream(MESSAGES)) == "Ashton Carter said so."
    assert server.headers_seen[-1]["Authorization"] == "Bearer s3cret"


def test_unknown_model_lists_the_served_models(server):
    gen = OpenAIChatGenerator(server.url, model="nope")
    with pytest.raises(ModelLoadError) as e:
        list(gen.stream(MESSAGES))
    msg = str(e.value)
    assert "'nope'" in msg and "fake-model, other-model" in msg and "RAG_LLM_MODEL" in msg


def test_wrong_path_says_what_the_url_should_be(server):
    with pytest.raises(ModelLoadError, match="RAG_LLM_URL should be the base URL"):
        OpenAIChatGenerator(server.url + "/api").warm_up()


def test_server_lists_no_models(server):
    server.models = []
    with pytest.raises(ModelLoadError, match="RAG_LLM_MODEL"):
        list(OpenAIChatGenerator(server.url).stream(MESSAGES))


def test_error_event_midway_is_raised(server):
    server.fail_midway = True
    it = OpenAIChatGenerator(server.url, model="fake-model").stream(MESSAGES)
    assert next(it) == "Ash"
    with pytest.raises(RagError, match="out of memory"):
        list(it)


def test_make_generator_picks_the_backend_from_settings(server, monkeypatch):
    from rag.generate import TransformersGenerator, make_generator
    from rag.settings import Settings

    gen = make_generator(Settings(llm_url=server.url + "/v1", llm_api_key="k", llm_model="other-model"))
    assert isinstance(gen, OpenAIChatGenerator) and gen.model == "other-model"
    assert "".join(gen.stream(MESSAGES)) == "Ashton Carter said so."
    assert server.headers_seen[-1]["Authorization"] == "Bearer k"

    monkeypatch.setenv("RAG_LLM_URL", server.url)
    monkeypatch.setenv("RAG_LLM_MODEL", "fake-model")
    gen = make_generator(Settings.from_env())
    assert isinstance(gen, OpenAIChatGenerator) and gen.model == "fake-model" and gen.base == server.url + "/v1"

    local = make_generator(Settings(llm="some/causal-lm"))  # not loaded until first use
    assert isinstance(local, TransformersGenerator)

