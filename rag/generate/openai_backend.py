"""A generator that streams from any OpenAI-compatible chat-completions server (vLLM, llama.cpp's server,
Ollama, TGI, ...), for when one machine's CPU is not enough to run the model locally.

Only plain HTTP and server-sent events are used (httpx), so no `openai` package is needed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence

import httpx

from rag.errors import ModelLoadError, RagError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0  # between two streamed chunks: a CPU server may take long over a long prompt
CONNECT_TIMEOUT_S = 10.0


def api_base(url: str) -> str:
    """The `/v1` base of a server URL: users paste `http://host:8000`, `.../v1` or the full endpoint."""
    base = url.strip().rstrip("/")
    for suffix in ("/chat/completions", "/models"):
        base = base.removesuffix(suffix)
    return base if base.endswith("/v1") else base + "/v1"


class OpenAIChatGenerator:
    """The `Generator` protocol over `POST /v1/chat/completions` with `stream: true`, greedy by default."""

    def __init__(self, url: str, api_key: str = "", model: str = "", timeout: float = DEFAULT_TIMEOUT_S,
                 temperature: float = 0.0) -> None:
        if not url.strip():
            raise ModelLoadError("RAG_LLM_URL is empty: set it to an OpenAI-compatible server, e.g. "
                                 "http://127.0.0.1:8000/v1.")
        self.url = url.strip()
        self.base = api_base(url)
        self.model = model
        self.temperature = temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers,
                                    timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)))

    @property
    def name(self) -> str:
        return f"{self.model or '(server default)'} at {self.base}"

    def close(self) -> None:
        self._client.close()

    # ---------- protocol ----------
    def warm_up(self) -> None:
        """Fail early, with a clear message, when the server is down, the key is wrong or the model unknown."""
        served = self.models()
        if not self.model:
            self._resolve_model(served)
        elif served and self.model not in served:
            # some servers (llama.cpp) answer under any name; others will fail on the first question
            log.warning("model %r is not among those %s lists (%s)", self.model, self.base, ", ".join(served))
        log.info("model server %s answers; using model %s", self.base, self.model)

    def stream(self, messages: Sequence[dict], max_new_tokens: int = 64) -> Iterator[str]:
        """Yield content pieces as the server sends them; closing the iterator early closes the HTTP stream."""
        model = self.model or self._resolve_model(self.models())
        body = {"model": model, "messages": [dict(m) for m in messages], "stream": True,
                "max_tokens": max_new_tokens, "temperature": self.temperature}
        endpoint = self.base + "/chat/completions"
        try:
            with self._client.stream("POST", endpoint, json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._http_error(resp, model)
                for line in resp.iter_lines():
                    piece = _sse_piece(line)
                    if piece is None:
                        break
                    if piece:
                        yield piece
        except httpx.HTTPError as e:
            raise self._transport_error(e) from e

    def first_token_probs(self, messages: Sequence[dict], words: Sequence[str]) -> dict[str, float] | None:
        """None: chat servers differ in whether and how they return log-probabilities, so none are asked."""
        return None

    # ---------- helpers ----------
    def models(self) -> list[str]:
        """The model ids the server lists (GET /v1/models)."""
        try:
            resp = self._client.get(self.base + "/models")
        except httpx.HTTPError as e:
            raise self._transport_error(e) from e
        if resp.status_code >= 400:
            raise self._http_error(resp, self.model)
        try:
            return [str(m["id"]) for m in resp.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelLoadError(f"{self.base}/models did not answer like an OpenAI-compatible server ({e}); "
                                 "check RAG_LLM_URL.") from e

    def _resolve_model(self, served: list[str]) -> str:
        if not served:
            raise ModelLoadError(f"The model server at {self.base} lists no models: set RAG_LLM_MODEL to the "
                                 "model it should use.")
        self.model = served[0]
        return self.model

    def _transport_error(self, e: httpx.HTTPError) -> RagError:
        if isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout)):
            return ModelLoadError(f"Cannot reach the model server at {self.base} ({e}); start it, or fix "
                                  "RAG_LLM_URL, which points there.")
        if isinstance(e, httpx.TimeoutException):
            return RagError(f"The model server at {self.base} stopped answering (timed out: {e}); check that "
                            "it is not overloaded, or try again.")
        return RagError(f"The connection to the model server at {self.base} failed ({type(e).__name__}: {e}); "
                        "check that RAG_LLM_URL points at an OpenAI-compatible server.")

    def _http_error(self, resp: httpx.Response, model: str) -> RagError:
        status, detail = resp.status_code, _error_detail(resp)
        if status in (401, 403):
            return ModelLoadError(f"The model server at {self.base} refused the request (HTTP {status}: "
                                  f"{detail}): set RAG_LLM_API_KEY to a valid API key.")
        if status in (400, 404) and model and "model" in detail.lower():
            served = self._models_or_none()
            if served is not None and model not in served:
                listed = f"it serves: {', '.join(served)}" if served else "it lists no models"
                return ModelLoadError(f"The model server at {self.base} does not serve the model {model!r} "
                                      f"(HTTP {status}: {detail}); {listed}. Set RAG_LLM_MODEL to one of them.")
        if status == 404:
            return ModelLoadError(f"{resp.request.url} was not found (HTTP 404): RAG_LLM_URL should be the "
                                  "base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")
        return RagError(f"The model server at {self.base} answered HTTP {status}: {detail}")

    def _models_or_none(self) -> list[str] | None:
        try:
            return self.models()
        except RagError:
            return None


def _sse_piece(line: str) -> str | None:
    """The content in one server-sent-events line: "" for lines without any, None at the end of the stream."""
    if not line.startswith("data:"):
        return ""  # blank separators, ": ping" comments, "event:" lines
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
    except ValueError:
        log.warning("skipping a malformed event from the model server: %.200s", data)
        return ""
    if isinstance(chunk, dict) and chunk.get("error"):
        raise RagError(f"The model server failed while answering: {_message(chunk['error'])}")
    choices = (chunk.get("choices") or []) if isinstance(chunk, dict) else []
    if not choices:
        return ""
    return (choices[0].get("delta") or {}).get("content") or ""


def _error_detail(resp: httpx.Response) -> str:
    """The server's own error message, whichever of the usual shapes it comes in."""
    try:
        payload = resp.json()
    except ValueError:
        return " ".join(resp.text.split())[:300] or resp.reason_phrase
    if isinstance(payload, dict):
        for key in ("error", "detail", "message"):
            if payload.get(key):
                return _message(payload[key])
    return str(payload)[:300]


def _message(err) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err)[:300]
    return str(err)[:300]
