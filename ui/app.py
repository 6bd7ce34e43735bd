"""The Gradio app: a chat with cited answers and a sources panel, plus a library tab for uploads.

Nothing heavy happens at import or in `build_app`: the pipeline's models load in a background thread
once the server is up (or the first page opens), and questions asked before that wait for them.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from rag.errors import ConfigError
from rag.pipeline_api import PipelineAPI
from rag.settings import Settings
from ui import render
from ui.assets import HEAD
from ui.chat import make_ask, make_chat
from ui.library import HEADERS, document_rows, make_add_files
from ui.uploads import ALLOWED_SUFFIXES
from ui.warmup import Warmup

log = logging.getLogger(__name__)

TITLE = "News Q&A"
TAGLINE = "Ask questions about the news articles in your library: every answer quotes and cites its sources."
EXAMPLES = (
    "Why did Putin enter Syria?",
    "What role did Qassem Soleimani play in Russia's Syria intervention?",
    "How soon after the upper house vote did the air strikes begin?",
)
LOADING = "Loading models… you can already ask: questions wait until they are ready."
PIPELINE_GROUP = "pipeline"  # chat, ask and ingest share one worker: local models are not thread-safe


def parse_auth(spec: str) -> tuple[str, str] | None:
    """"user:password" -> (user, password); "" -> None (no login page)."""
    if not spec:
        return None
    user, sep, password = spec.partition(":")
    if not sep or not user or not password:
        raise ConfigError("RAG_AUTH must look like 'user:password' (both parts non-empty).")
    return user, password


def theme() -> gr.themes.Base:
    """System fonts only: a local app should not fetch fonts from the internet."""
    return gr.themes.Soft(
        primary_hue="indigo",
        neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def _table(rows: list[list]) -> dict[str, Any]:
    return {"headers": HEADERS, "data": rows}


def _build(pipeline: PipelineAPI, settings: Settings) -> tuple[gr.Blocks, Warmup]:
    warmup = Warmup(pipeline)
    chat = make_chat(pipeline, warmup)

    def status() -> tuple[Any, Any, Any]:
        """(banner, timer update, library table): polled until loading has finished."""
        warmup.start()
        if warmup.error:
            error = gr.HTML(render.banner("error", warmup.error), visible=True)
            return error, gr.Timer(active=False), gr.skip()
        if warmup.ready:
            rows = document_rows(pipeline, warmup)
            return gr.HTML(render.banner("ready", "Ready"), visible=False), gr.Timer(active=False), _table(rows)
        return gr.HTML(render.banner("loading", LOADING), visible=True), gr.skip(), gr.skip()

    def clear() -> tuple[str, list, str, list]:
        return "", [], render.EMPTY_SOURCES, []

    def rows() -> dict[str, Any]:
        return _table(document_rows(pipeline, warmup))

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.HTML(
            f"<h1>{TITLE}</h1><p>{render.esc(TAGLINE)}</p>",
            head=HEAD, js_on_load=None, elem_classes="rag-header",
        )
        banner = gr.HTML(render.banner("loading", LOADING), js_on_load=None, elem_id="rag-banner")
        timer = gr.Timer(1.0)
        turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        chatbot = gr.Chatbot(
                            label="Conversation", elem_id="rag-chat", height=560, buttons=[],
                            feedback_options=None, latex_delimiters=[], sanitize_html=True, allow_tags=False,
                            placeholder="Ask a question about the articles, or try one of the examples below.",
                        )
                        question = gr.Textbox(
                            label="Question", placeholder="Ask about the news…", show_label=False,
                            submit_btn="Ask", elem_id="rag-question", autofocus=True,
                        )
                        with gr.Row(elem_classes="rag-examples"):
                            examples = [gr.Button(q, size="sm", variant="secondary") for q in EXAMPLES]
                        clear_btn = gr.Button("Clear conversation", size="sm", variant="secondary")
                    with gr.Column(scale=2, min_width=340):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(render.EMPTY_SOURCES, label="Sources", js_on_load=None,
                                          elem_id="rag-sources", max_height=680)
            with gr.Tab("Library", id="library") as library_tab:
                gr.Markdown(
                    f"Articles in the index. Add {', '.join(ALLOWED_SUFFIXES)} files "
                    f"(up to {settings.max_upload_mb} MB each); they are indexed right away."
                )
                table = gr.Dataframe(value=_table([]), headers=HEADERS, interactive=False, wrap=True,
                                     label="Documents", elem_id="rag-docs", max_height=420)
                with gr.Row():
                    upload = gr.File(label="Articles to add", file_count="multiple", type="filepath",
                                     height=150, scale=3, elem_id="rag-upload")
                    with gr.Column(scale=2):
                        add_btn = gr.Button("Add to library", variant="primary")
                        refresh_btn = gr.Button("Refresh list", size="sm")
                report = gr.HTML("", label="Report", js_on_load=None, elem_id="rag-report")

        chat_io = dict(outputs=[question, chatbot, sources, turns], show_progress="minimal",
                       concurrency_id=PIPELINE_GROUP, concurrency_limit=1)
        asked = [question.submit(chat, [question, turns], api_name="chat", **chat_io)]
        asked += [b.click(chat, [b, turns], api_visibility="private", **chat_io) for b in examples]
        clear_btn.click(clear, None, [question, chatbot, sources, turns], api_visibility="private", cancels=asked)
        refresh_btn.click(rows, None, table, api_visibility="private")
        library_tab.select(rows, None, table, api_visibility="private", show_progress="hidden")
        add_btn.click(make_add_files(pipeline, settings, warmup), [upload], [report, table, upload],
                      api_name="upload", concurrency_id=PIPELINE_GROUP, concurrency_limit=1)

        demo.load(status, None, [banner, timer, table], api_visibility="private", show_progress="hidden")
        timer.tick(status, None, [banner, timer, table], api_visibility="private", show_progress="hidden",
                   queue=False)
        gr.api(make_ask(pipeline, warmup), api_name="ask", concurrency_id=PIPELINE_GROUP, concurrency_limit=1)
    return demo, warmup


def build_app(pipeline: PipelineAPI, settings: Settings) -> gr.Blocks:
    """The page, wired to `pipeline`. Models load on the first page view or question if not started."""
    return _build(pipeline, settings)[0]


def launch(
    pipeline: PipelineAPI,
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    **kw: Any,
) -> gr.Blocks:
    """Serve the app (localhost by default), then warm the pipeline up in the background.

    Extra keyword arguments go to `gr.Blocks.launch` (e.g. `prevent_thread_lock=True, quiet=True`).
    Blocks until the server stops unless `prevent_thread_lock=True`; returns the Blocks (call
    `.close()` to stop it).
    """
    demo, warmup = _build(pipeline, settings)
    blocking = not kw.pop("prevent_thread_lock", False)
    opts: dict[str, Any] = {
        "server_name": host or "127.0.0.1",
        "server_port": port,
        "auth": parse_auth(settings.auth),
        "auth_message": f"Sign in to {TITLE}.",
        "max_file_size": f"{settings.max_upload_mb}mb",
        "theme": theme(),
        "ssr_mode": False,
    }
    opts.update(kw)
    demo.launch(prevent_thread_lock=True, **opts)
    warmup.start()
    log.info("News Q&A running on %s", demo.local_url)
    if blocking:
        demo.block_thread()
    return demo
