"""Page CSS and the script for citation clicks, "back to the answer" and copying, injected through the header's `head` so that
`build_app(...).launch()` looks the same as `ui.app.launch(...)`."""

from __future__ import annotations

CSS = """
/* Rules are scoped by element id: Gradio's `.prose *` colour rule would otherwise win. */
.rag-header h1 { margin: 0 0 .15rem 0; font-size: 1.7rem; font-weight: 700; letter-spacing: -.01em; }
.gradio-container .rag-header p { margin: 0; color: var(--body-text-color-subdued); }
#rag-banner .rag-banner { padding: .45rem .8rem; border-radius: 8px; font-size: .92rem; display: flex;
  align-items: center; gap: .5rem; }
#rag-banner .rag-banner-loading, #rag-banner .rag-banner-loading * { background: #eef2ff; color: #3730a3; }
#rag-banner .rag-banner-loading { border: 1px solid #c7d2fe; }
#rag-banner .rag-banner-error, #rag-banner .rag-banner-error * { background: #fef2f2; color: #991b1b; }
#rag-banner .rag-banner-error { border: 1px solid #fecaca; }
.rag-spinner { width: .8rem; height: .8rem; border-radius: 50%; border: 2px solid currentColor;
  border-right-color: transparent !important; display: inline-block; animation: rag-spin .8s linear infinite;
  flex: none; background: transparent !important; }
@keyframes rag-spin { to { transform: rotate(360deg); } }
#rag-chat .rag-answer { line-height: 1.55; }
#rag-chat .rag-draft { color: var(--body-text-color-subdued); }
#rag-chat .rag-caret { animation: rag-blink 1s steps(1) infinite; margin-left: 1px; color: inherit; }
@keyframes rag-blink { 50% { opacity: 0; } }
#rag-chat .rag-refused { color: #92400e; background: #fffbeb; border-left: 3px solid #f59e0b;
  padding: .35rem .6rem; border-radius: 4px; font-style: italic; }
#rag-chat .rag-error { color: #991b1b; background: #fef2f2; border-left: 3px solid #ef4444;
  padding: .35rem .6rem; border-radius: 4px; }
#rag-chat .rag-status { color: var(--body-text-color-subdued); display: flex; align-items: center; gap: .5rem; }
#rag-chat .rag-query { margin-top: .35rem; font-size: .78rem; color: var(--body-text-color-subdued); }
#rag-chat a.rag-cite { font-size: .8em; font-weight: 700; text-decoration: none; color: var(--color-accent);
  padding: 0 .1em; border-radius: 3px; cursor: pointer; vertical-align: super; line-height: 0; }
#rag-chat a.rag-cite:hover { background: var(--color-accent-soft); }
#rag-sources .rag-sources { font-size: .93rem; }
#rag-sources .rag-placeholder { color: var(--body-text-color-subdued); padding: .5rem .25rem; margin: 0; }
#rag-sources .rag-turn { border: 1px solid var(--border-color-primary); border-radius: 10px; margin: 0 0 .6rem 0;
  padding: .35rem .7rem; background: var(--background-fill-primary); }
#rag-sources .rag-turn > summary { cursor: pointer; font-weight: 600; padding: .25rem 0; }
#rag-sources .rag-turn-no { display: inline-block; font-size: .72rem; font-weight: 700; color: #fff;
  background: var(--color-accent); border-radius: 999px; padding: 0 .45rem; margin-right: .3rem; vertical-align: 1px; }
#rag-sources .rag-cards { margin: .3rem 0 0 0; }
#rag-sources .rag-card { padding: .55rem .7rem; margin: 0 0 .5rem 0; border-radius: 8px;
  background: var(--background-fill-secondary); scroll-margin: 1rem; transition: box-shadow .3s; }
#rag-sources .rag-card-head { display: flex; gap: .4rem; align-items: baseline; }
#rag-sources .rag-n { font-weight: 700; color: var(--color-accent); flex: none; }
#rag-sources .rag-title { font-weight: 700; }
#rag-sources .rag-meta { color: var(--body-text-color-subdued); font-size: .8rem; margin: .1rem 0 .4rem 0; }
#rag-sources .rag-doc { font-family: var(--font-mono); font-size: .75rem; color: var(--body-text-color-subdued); }
#rag-sources .rag-para { margin: 0; padding: 0 0 0 .7rem; border-left: 3px solid var(--border-color-primary);
  white-space: pre-line; line-height: 1.5; font-style: normal; font-weight: 400; quotes: none; }
#rag-sources .rag-para::before, #rag-sources .rag-para::after { content: none; }
#rag-sources .rag-para mark { background: #fde68a; color: #1f2937; padding: 0 .1em; border-radius: 2px; }
#rag-sources .rag-flash { box-shadow: 0 0 0 2px var(--color-accent); }
#rag-chat a.rag-flash { background: var(--color-accent-soft); box-shadow: 0 0 0 2px var(--color-accent); }
#rag-sources .rag-empty { color: var(--body-text-color-subdued); font-style: italic; margin: .3rem 0; }
#rag-sources .rag-scores { margin-top: .3rem; font-size: .8rem; }
#rag-sources .rag-scores > summary { cursor: pointer; color: var(--body-text-color-subdued); }
#rag-sources .rag-scores table { width: 100%; border-collapse: collapse; margin: .3rem 0 0 0; font-size: .8rem; }
#rag-sources .rag-scores table, #rag-sources .rag-scores tr, #rag-sources .rag-scores th,
#rag-sources .rag-scores td { border: 0 !important; }
#rag-sources .rag-scores th, #rag-sources .rag-scores td { text-align: left; padding: .15rem .35rem;
  border-bottom: 1px solid var(--border-color-primary) !important; background: transparent; }
#rag-sources .rag-scores th { font-weight: 600; color: var(--body-text-color-subdued); }
#rag-report .rag-ok { color: #166534; }
.rag-examples { align-items: center; flex-wrap: wrap; gap: .4rem; }
.rag-examples button { flex: 0 1 auto !important; min-width: 0 !important; white-space: normal; text-align: left; }
.rag-topbar { align-items: center; gap: .5rem; flex-wrap: wrap; }
.rag-topbar > *, .rag-docbar > * { align-self: center; }
.rag-docbar { align-items: flex-end; flex-wrap: wrap; }
#rag-about .rag-about { margin: 0; color: var(--body-text-color-subdued); font-size: .9rem; }
.rag-askbar { align-items: stretch; gap: .5rem; flex-wrap: nowrap !important; }
#rag-ask, #rag-stop { align-self: stretch; }
#rag-chat .rag-waiting { font-style: italic; }
#rag-chat .rag-actions { margin-top: .35rem; font-size: .78rem; }
#rag-chat a.rag-copy { color: var(--body-text-color-subdued); text-decoration: underline dotted; cursor: pointer; }
#rag-sources .rag-back { margin-left: auto; font-size: .75rem; white-space: nowrap; text-decoration: none;
  color: var(--color-accent); flex: none; }
#rag-sources .rag-scores ul { margin: .2rem 0 .3rem 1.1rem; padding: 0; }
#rag-sources .rag-scores p { margin: .3rem 0 .1rem 0; }
#rag-docs .rag-doclist { list-style: none; margin: 0; padding: 0; }
#rag-docs .rag-doclist li { display: flex; flex-direction: column; padding: .45rem .2rem;
  border-bottom: 1px solid var(--border-color-primary); overflow-wrap: anywhere; }
#rag-docs .rag-title { font-weight: 600; }
#rag-docs .rag-meta, #rag-doc-text .rag-meta { color: var(--body-text-color-subdued); font-size: .85rem; }
#rag-docs .rag-doc { font-family: var(--font-mono); font-size: .72rem; color: var(--body-text-color-subdued); }
#rag-doc-text .rag-doctext { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .5rem .8rem; }
#rag-doc-text .rag-doctext h3 { margin: .2rem 0; }
#rag-report .rag-fail, #rag-report .rag-fail * { color: #991b1b; }
@media (max-width: 700px) {
  .rag-topbar > div:first-child { flex: 1 1 100% !important; }
  #rag-chat { height: 52vh !important; max-height: 52vh !important; }
  .rag-header h1 { font-size: 1.35rem; }
  .rag-header p { font-size: .85rem; }
}
"""

# Markers are links to "#src-<turn>-<n>". The handler opens the turn's section in the sources panel
# and scrolls the card into view; it runs in the capture phase so the chatbot never opens a new tab.
JS = """
(function () {
  if (window.__ragCiteHandler) return;
  window.__ragCiteHandler = true;
  var lastMarker = null;
  function flash(el) {
    el.classList.remove('rag-flash');
    void el.offsetWidth;
    el.classList.add('rag-flash');
    setTimeout(function () { el.classList.remove('rag-flash'); }, 1600);
  }
  function copyText(text) {
    window.__ragLastCopy = text;
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var ta = document.createElement('textarea');
    ta.value = text; ta.style.position = 'fixed'; ta.style.opacity = '0';
    document.body.appendChild(ta); ta.select();
    try { document.execCommand('copy'); } finally { ta.remove(); }
    return Promise.resolve();
  }
  document.addEventListener('click', function (ev) {
    var t = ev.target && ev.target.closest ? ev.target : null;
    if (!t) return;
    var a = t.closest('a[href^="#src-"], a[href^="#back-"], a[href^="#copy-"]');
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    var href = a.getAttribute('href');
    if (href.indexOf('#copy-') === 0) {
      var sec = document.getElementById('turn-' + href.slice(6));
      var label = a.textContent;
      copyText(sec ? sec.getAttribute('data-md') || '' : '').then(function () {
        a.textContent = 'Copied ✓';
        setTimeout(function () { a.textContent = label; }, 1500);
      });
      return;
    }
    if (href.indexOf('#back-') === 0) {  // from a source card back to the marker that led there
      var src = '#src-' + href.slice(6);
      var m = (lastMarker && lastMarker.isConnected && lastMarker.getAttribute('href') === src) ? lastMarker
        : document.querySelector('#rag-chat a.rag-cite[href="' + src + '"]');
      if (m) { m.scrollIntoView({behavior: 'smooth', block: 'center'}); flash(m); }
      return;
    }
    var el = document.getElementById(href.slice(1));
    if (!el) return;
    lastMarker = a;
    var turn = el.closest('details');
    if (turn) turn.open = true;
    el.scrollIntoView({behavior: 'smooth', block: 'center'});
    flash(el);
  }, true);
})();
"""

HEAD = f"<style>{CSS}</style><script>{JS}</script>"
