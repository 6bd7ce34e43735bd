"""The "Check a claim" tab and the `/check` API: is a sentence supported by the library?

The same check as `rag check CLAIM` (`PipelineAPI.check_claim`): the library's best quotes are judged against the
claim, and the verdict is supported, not supported, or contradicted (a quote about the same thing says otherwise).
The page shows the verdict as a badge, then the deciding quote and the next best ones, each inside its paragraph with
the quote marked, as the Sources panel shows citations (`ui.render`), with outlet and date. A claim that is not one
sentence (nothing, a whole article, binary data) is one line saying so. The check uses the reader model, so it waits
for the models like a question does, and runs one at a time with the answers (the same concurrency group).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import gradio as gr

from rag.answer.check import validate_claim
from rag.errors import ClaimError, RagError
from rag.pipeline_api import PipelineAPI
from ui import render
from ui.warmup import Warmup

log = logging.getLogger(__name__)

CRASH_MESSAGE = "Something went wrong while checking. The details are in the server log; please try again."
INTRO = ("Paste one sentence (from an article, a post, a speech) to see whether the articles in the library support "
         "it, with the quotes that decide.")
PLACEHOLDER = "e.g. Russia's only naval base on the Mediterranean is at Tartus."
LOADING = "Loading models… the claim is checked as soon as they are ready."
CHECKING = "Checking the claim against the library…"
# verdict -> (badge, what the deciding quote does, CSS class)
VERDICTS = {
    "supported": ("Supported", "This quote supports it", "rag-v-yes"),
    "contradicted": ("Contradicted", "This quote says otherwise", "rag-v-contra"),
    "not supported": ("Not supported", "The closest quote, which does not support it", "rag-v-no"),
}
QUOTE_ROLE = {"supported": "supports it", "contradicted": "says otherwise", "not supported": "does not support it"}
CSS = """
#rag-check-result .rag-check { font-size: .95rem; }
#rag-check-result .rag-verdict { display: flex; align-items: baseline; gap: .6rem; flex-wrap: wrap;
  margin: .2rem 0 .5rem 0; }
#rag-check-result .rag-badge { font-weight: 700; font-size: 1rem; padding: .2rem .7rem; border-radius: 999px;
  border: 1px solid; white-space: nowrap; }
#rag-check-result .rag-v-yes .rag-badge { background: #dcfce7; color: #166534; border-color: #86efac; }
#rag-check-result .rag-v-no .rag-badge { background: #f1f5f9; color: #334155; border-color: #cbd5e1; }
#rag-check-result .rag-v-contra .rag-badge { background: #fee2e2; color: #991b1b; border-color: #fca5a5; }
#rag-check-result .rag-claim { font-style: italic; }
#rag-check-result .rag-why { color: var(--body-text-color-subdued); font-size: .82rem; margin: 0 0 .5rem 0; }
#rag-check-result .rag-card { padding: .55rem .7rem; margin: 0 0 .5rem 0; border-radius: 8px;
  background: var(--background-fill-secondary); }
#rag-check-result .rag-card-head { display: flex; gap: .4rem; align-items: baseline; flex-wrap: wrap; }
#rag-check-result .rag-title { font-weight: 700; }
#rag-check-result .rag-role { font-size: .75rem; color: var(--body-text-color-subdued); margin-left: auto; }
@media (max-width: 700px) {  /* too narrow to sit beside the headline: a small line above it */
  #rag-check-result .rag-role { order: -1; flex-basis: 100%; margin-left: 0; text-transform: uppercase;
    letter-spacing: .04em; font-size: .68rem; }
}
#rag-check-result .rag-meta, #rag-check-result .rag-also { color: var(--body-text-color-subdued); font-size: .8rem;
  margin: .1rem 0 .4rem 0; }
#rag-check-result .rag-para { margin: 0 !important; padding: 0 0 0 .7rem;
  border-left: 3px solid var(--border-color-primary);
  white-space: pre-line; line-height: 1.5; font-style: normal; quotes: none; }
#rag-check-result .rag-para::before, #rag-check-result .rag-para::after { content: none; }
#rag-check-result .rag-para mark { background: #fde68a; color: #1f2937; padding: 0 .1em; border-radius: 2px; }
#rag-check-result .rag-more { margin: .6rem 0 .3rem 0; font-weight: 600; font-size: .85rem; }
#rag-check-result .rag-message { margin: 0; color: #991b1b; }
#rag-check-result .rag-status { color: var(--body-text-color-subdued); display: flex; align-items: center; gap: .5rem; }
"""
HEAD = f"<style>{CSS}</style>"


def message(text: str) -> str:
    """One line instead of a verdict: a claim that can't be checked, or a failure."""
    return f'<div class="rag-check"><p class="rag-message">⚠ {render.esc(text)}</p></div>'


def status(text: str) -> str:
    return (f'<div class="rag-check"><div class="rag-status"><span class="rag-spinner"></span>{render.esc(text)}'
            "</div></div>")


def _quote_card(q: dict, role: str) -> str:
    """A quote inside its paragraph (`render.with_context` has added it), with headline, outlet and date."""
    return (f'<div class="rag-card" data-verdict="{render.escape(str(q.get("verdict", "")), quote=True)}">'
            f'<div class="rag-card-head">{render.source_title(q)}<span class="rag-role">{render.esc(role)}</span></div>'
            f'{render.source_meta(q)}{render.quote_paragraph([q])}</div>')


def result_html(result: dict, document_text) -> str:
    """The verdict as a badge with the claim, why in small print, the deciding quote, then the other close ones."""
    verdict = str(result.get("verdict", ""))
    badge, lead, cls = VERDICTS.get(verdict, (verdict.capitalize(), "The deciding quote", "rag-v-no"))
    quotes = [q for q in result.get("quotes") or [] if isinstance(q, dict) and q.get("quote") and q.get("doc")]
    if not quotes and result.get("quote") and result.get("doc"):
        quotes = [{**result, "verdict": verdict}]
    shown = render.with_context(quotes, document_text) if quotes else []
    head = (f'<div class="rag-verdict {cls}"><span class="rag-badge">{render.esc(badge)}</span>'
            f'<span class="rag-claim">“{render.esc(result.get("claim", ""))}”</span></div>')
    why = f'<p class="rag-why">Why: {render.esc(result.get("reason", ""))}</p>' if result.get("reason") else ""
    if not shown:
        return f'<div class="rag-check">{head}{why}<p class="rag-why">The library has no passage about it.</p></div>'
    cards = f'<p class="rag-more">{render.esc(lead)}:</p>' + _quote_card(shown[0], QUOTE_ROLE.get(verdict, ""))
    if len(shown) > 1:
        cards += '<p class="rag-more">Other close passages:</p>' + "".join(
            _quote_card(q, QUOTE_ROLE.get(str(q.get("verdict", "")), "")) for q in shown[1:])
    return f'<div class="rag-check">{head}{why}{cards}</div>'


class ClaimCheck:
    """The tab's handlers and the `/check` API, over one pipeline."""

    def __init__(self, pipeline: PipelineAPI, warmup: Warmup) -> None:
        self.pipeline = pipeline
        self.warmup = warmup

    def pending(self, claim: str) -> str:
        """Instant (not queued): a claim that can't be checked says so at once; else what the check waits for."""
        try:
            validate_claim(claim)
        except ClaimError as e:
            return message(str(e))
        return status(CHECKING if self.warmup.ready else LOADING)

    def check(self, claim: str) -> Iterator[str]:
        """The verdict as HTML (after the models, if they are still loading)."""
        try:
            text = validate_claim(claim)
        except ClaimError as e:
            yield message(str(e))
            return
        if not self.warmup.ready:
            yield status(LOADING)
        if not self.warmup.wait():
            yield message(self.warmup.error or "The models are not available.")
            return
        try:
            result = self.pipeline.check_claim(text)
        except RagError as e:
            yield message(str(e))
            return
        except Exception:  # noqa: BLE001 - users get a short message, the log gets the traceback
            log.exception("checking %r failed", text)
            yield message(CRASH_MESSAGE)
            return
        yield result_html(result, self.pipeline.document_text)

    def api(self, claim: str) -> dict:
        """Is the claim supported by the articles in the library? The same JSON object as `rag check --json CLAIM`.

        Parameters:
            claim: one sentence to check
        Returns:
            {"claim", "verdict": "supported" | "not supported" | "contradicted", "score", "quote", "reason", "doc",
            "title", "outlet", "published", "published_approx", "start", "end", "quotes": [...]}
        """
        try:
            text = validate_claim(claim)
        except ClaimError as e:
            raise gr.Error(str(e)) from e
        if not self.warmup.wait():
            raise gr.Error(self.warmup.error or "The models are not available.")
        try:
            return self.pipeline.check_claim(text)
        except RagError as e:
            raise gr.Error(str(e)) from e
        except Exception as e:  # noqa: BLE001
            log.exception("check %r failed", text)
            raise gr.Error(CRASH_MESSAGE) from e
