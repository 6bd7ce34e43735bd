"""The Gradio app: a chat with cited answers and a sources panel, a tab to check a claim, and a library tab.

Nothing heavy happens at import or in `build_app`: the pipeline's models load in a background thread
once the server is up (or the first page opens), and questions asked before that wait for them.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

import gradio as gr

from rag import cpu
from rag.errors import ConfigError
from rag.pipeline_api import PipelineAPI
from rag.settings import Settings
from ui import chat_dates, check, render
from ui.assets import HEAD
from ui.chat import Chat, make_ask
from ui.chat_dates import DateFilter
from ui.library import N_EXAMPLES, Library
from ui.library_tab import LibraryTab
from ui.waiting import Waiting
from ui.web import WebSources
from ui.warmup import Warmup

log = logging.getLogger(__name__)

TITLE = "News Q&A"
TAGLINE = "Ask questions about the news articles in your library: every answer quotes and cites its sources."
LOADING = "Loading models… you can already ask: questions wait until they are ready."
# chat and ask: one answer at a time. On two cores the reader is compute-bound (reading the prompt is ~85% of an
# answer), so answers at once only slow each other down: measured with llama.cpp decoding 8 sequences in one batch,
# 8 concurrent answers took 27-30 s against 22 s one after the other
ANSWER_GROUP = "answers"
LIBRARY_GROUP = "library"  # uploads and removals: one at a time (each writes a new index version)
STORAGE_KEY = "rag-news-conversation"
# Focus the question box on wide screens only: on a phone, focusing scrolls the page past the title.
FOCUS_JS = """() => { if (window.innerWidth < 700) return;
  const t = document.querySelector('#rag-question textarea'); if (t) t.focus({preventScroll: true}); }"""


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


def browser_secret(settings: Settings) -> str:
    """One key per installation, so a conversation kept in the browser survives a server restart."""
    path = Path(settings.cache_path) / "browser-state.key"
    try:
        if path.is_file() and len(path.read_text().strip()) >= 16:
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(24)
        path.write_text(key)
        path.chmod(0o600)
        return key
    except OSError as e:
        log.warning("could not keep the browser-state key in %s (%s): conversations reset on restart", path, e)
        return secrets.token_urlsafe(24)


def _build(pipeline: PipelineAPI, settings: Settings, warmup: Warmup | None = None) -> tuple[gr.Blocks, Warmup]:
    warmup = warmup or Warmup(pipeline)
    library = Library(pipeline, settings, warmup)
    web = WebSources(pipeline, settings, warmup, library)
    chat = Chat(pipeline, warmup, waiting=Waiting(indexing=lambda: library.indexing, others=cpu.monitor().others))
    dates = DateFilter(chat.session_of)
    claims = check.ClaimCheck(pipeline, warmup)

    def status(*listing: Any) -> tuple[Any, ...]:
        """(banner, timer, *library view): polled until loading has finished. `listing`: what the list shows."""
        warmup.start()
        if warmup.error:
            error = gr.HTML(render.banner("error", warmup.error), visible=True)
            return (error, gr.Timer(active=False), *[gr.skip()] * len(view))
        if warmup.ready:
            ready = gr.HTML(render.banner("ready", "Ready"), visible=False)
            return (ready, gr.Timer(active=False), *library.view(*listing))
        return (gr.HTML(render.banner("loading", LOADING), visible=True), gr.skip(), *[gr.skip()] * len(view))

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.HTML(
            f"<h1>{TITLE}</h1><p>{render.esc(TAGLINE)}</p>",
            head=HEAD + chat_dates.HEAD + check.HEAD, js_on_load=None, elem_classes="rag-header",
        )
        banner = gr.HTML(render.banner("loading", LOADING), js_on_load=None, elem_id="rag-banner")
        timer = gr.Timer(1.0)
        saved = gr.BrowserState([], storage_key=STORAGE_KEY, secret=browser_secret(settings))
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row(elem_classes="rag-topbar", equal_height=False):
                    about = gr.HTML('<p class="rag-about">Loading the library…</p>', js_on_load=None,
                                    elem_id="rag-about")
                    dates_btn = gr.Button("Dates", size="sm", variant="secondary", scale=0, min_width=80,
                                          elem_id="rag-dates-toggle")
                    new_btn = gr.Button("New conversation", size="sm", variant="secondary", scale=0,
                                        min_width=170, elem_id="rag-new")
                # the chat's date filter (ui.chat_dates): its line while a range is on, and the panel to set it
                range_line = gr.HTML("", visible=False, js_on_load=chat_dates.CLEAR_JS, elem_id="rag-range")
                dates_open = gr.State(False)
                with gr.Row(visible=False, elem_id="rag-dates", equal_height=False) as dates_panel:
                    since = gr.Textbox(label="From", placeholder="2026-03 or March 2026", lines=1, max_lines=1,
                                       elem_id="rag-since")
                    until = gr.Textbox(label="To", placeholder="2026-05 or 31 May 2026", lines=1, max_lines=1,
                                       elem_id="rag-until")
                    dates_apply = gr.Button("Apply", variant="primary", size="sm", scale=0, min_width=90,
                                            elem_id="rag-dates-apply")
                    dates_clear = gr.Button("Clear", size="sm", scale=0, min_width=90, elem_id="rag-dates-clear")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=300):
                        chatbot = gr.Chatbot(
                            label="Conversation", show_label=False, elem_id="rag-chat", height=520, buttons=[],
                            feedback_options=None, latex_delimiters=[], sanitize_html=True, allow_tags=False,
                            placeholder="Ask a question about the articles, or try one of the examples below.",
                        )
                        with gr.Row(elem_classes="rag-askbar", equal_height=True):
                            question = gr.Textbox(
                                label="Question", placeholder="Ask about the news…", show_label=False,
                                elem_id="rag-question", autofocus=False, scale=5, lines=1, max_lines=6,
                            )
                            ask_btn = gr.Button("Ask", variant="primary", scale=0, min_width=80, elem_id="rag-ask")
                            stop_btn = gr.Button("Stop", variant="stop", scale=0, min_width=80, visible=False,
                                                 elem_id="rag-stop")
                        with gr.Row(elem_classes="rag-examples"):
                            examples = [gr.Button(visible=False, size="sm", variant="secondary")
                                        for _ in range(N_EXAMPLES)]
                    with gr.Column(scale=2, min_width=300):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(render.EMPTY_SOURCES, label="Sources", js_on_load=None,
                                          elem_id="rag-sources", max_height=680)
            with gr.Tab("Check a claim", id="check"):
                gr.Markdown(check.INTRO)
                with gr.Row(equal_height=False, elem_classes="rag-checkbar"):
                    claim = gr.Textbox(label="Claim", placeholder=check.PLACEHOLDER, lines=1, max_lines=6, scale=5,
                                       elem_id="rag-claim")
                    check_btn = gr.Button("Check", variant="primary", scale=0, min_width=100, elem_id="rag-check")
                check_result = gr.HTML("", js_on_load=None, elem_id="rag-check-result")
            with gr.Tab("Library", id="library") as library_tab:
                lib = LibraryTab.build(settings)  # ui.library_tab: the list, uploads, web addresses, feeds
        api_box = gr.Textbox(visible=False)

        view = [*lib.view_outputs, about, *examples]
        answer = dict(fn=chat.answer_waiting, inputs=None, outputs=[chatbot, sources, saved, stop_btn],
                      show_progress="hidden", concurrency_id=ANSWER_GROUP, concurrency_limit=1,
                      api_visibility="private")
        quick = dict(queue=False, trigger_mode="multiple", api_visibility="private", show_progress="hidden")
        for trigger in (question.submit, ask_btn.click):
            trigger(chat.submit, [question], [question, chatbot, stop_btn], **quick).then(**answer)
        for b in examples:
            b.click(chat.submit_example, [b], [chatbot, stop_btn], **quick).then(**answer)
        # instant: the page shows the answer stopped, Stop hidden and the question back in the box at once
        stop_btn.click(chat.stop, [question], [question, chatbot, stop_btn], **quick)
        # "New conversation" only: the chat's own trash icon is hidden (ui.assets), one way to start afresh
        new_btn.click(chat.new_conversation, None, [chatbot, sources, saved], queue=False, api_visibility="private"
                      ).then(dates.clear, None, [range_line, since, until, dates_panel, dates_open], **quick)
        dates_btn.click(dates.toggle, [dates_open], [dates_open, dates_panel], **quick)
        for trigger in (dates_apply.click, since.submit, until.submit):
            trigger(dates.apply, [since, until], [range_line, dates_panel, dates_open], **quick)
        for trigger in (dates_clear.click, range_line.click):
            trigger(dates.clear, None, [range_line, since, until, dates_panel, dates_open], **quick)
        checking = dict(fn=claims.check, inputs=[claim], outputs=[check_result], show_progress="hidden",
                        concurrency_id=ANSWER_GROUP, concurrency_limit=1, api_visibility="private",
                        api_name="check_page")  # "check" is the API's (below)
        for trigger in (check_btn.click, claim.submit):
            trigger(claims.pending, [claim], [check_result], **quick).then(**checking)
        api_box.submit(chat.api_chat, [api_box], [chatbot, sources], api_name="chat",
                       concurrency_id=ANSWER_GROUP, concurrency_limit=1)

        lib.wire(library, web, library_tab, view, LIBRARY_GROUP)

        demo.load(chat.restore, [saved], [chatbot, sources], api_visibility="private", show_progress="hidden"
                  ).then(dates.view, None, [range_line, since, until], **quick)
        demo.load(None, None, None, js=FOCUS_JS, api_visibility="private")
        demo.load(status, lib.listing, [banner, timer, *view], api_visibility="private", show_progress="hidden")
        timer.tick(status, lib.listing, [banner, timer, *view], api_visibility="private", show_progress="hidden",
                   queue=False)
        line_timer = gr.Timer(2.0)  # the place in line, and why a slow answer is slow (ui.waiting)
        line_timer.tick(chat.refresh, None, [chatbot], queue=False, api_visibility="private",
                        show_progress="hidden")
        demo.unload(chat.forget)
        gr.api(make_ask(pipeline, warmup), api_name="ask", concurrency_id=ANSWER_GROUP, concurrency_limit=1)
        gr.api(claims.api, api_name="check", concurrency_id=ANSWER_GROUP, concurrency_limit=1)
        gr.api(library.api_documents, api_name="documents", queue=False)
        gr.api(library.api_remove, api_name="remove", concurrency_id=LIBRARY_GROUP, concurrency_limit=1)
    return demo, warmup


def build_app(pipeline: PipelineAPI, settings: Settings) -> gr.Blocks:
    """The page, wired to `pipeline`. Models load on the first page view or question if not started."""
    return _build(pipeline, settings)[0]


def launch(
    pipeline: PipelineAPI,
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    warmup: Warmup | None = None,
    **kw: Any,
) -> gr.Blocks:
    """Serve the app (localhost by default), then warm the pipeline up in the background.

    `warmup`: one already started (so the models load while Gradio imports). Extra keyword arguments go to
    `gr.Blocks.launch` (e.g. `prevent_thread_lock=True, quiet=True`).
    Blocks until the server stops unless `prevent_thread_lock=True`; returns the Blocks (call
    `.close()` to stop it).
    """
    demo, warmup = _build(pipeline, settings, warmup)
    blocking = not kw.pop("prevent_thread_lock", False)
    opts: dict[str, Any] = {
        "server_name": host or "127.0.0.1",
        "server_port": port,
        "auth": parse_auth(settings.auth),
        "auth_message": f"Sign in to {TITLE}.",
        "max_file_size": f"{settings.max_upload_mb}mb",
        "theme": theme(),
        "ssr_mode": False,
        # no Gradio internals on the page: no footer links, and no "Runs" history of uploads kept in the browser
        "footer_links": [],
        "run_history": False,
    }
    opts.update(kw)
    demo.launch(prevent_thread_lock=True, **opts)
    warmup.start()
    log.info("News Q&A running on %s", demo.local_url)
    if blocking:
        demo.block_thread()
    return demo
