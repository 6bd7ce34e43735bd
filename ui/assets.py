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
#rag-sources .rag-also { color: var(--body-text-color-subdued); font-size: .8rem; margin: -.3rem 0 .4rem 0; }
#rag-sources .rag-link { color: inherit; text-decoration: underline; text-decoration-thickness: 1px; }
#rag-sources .rag-doc-meta { display: block; color: var(--body-text-color-subdued); font-size: .72rem; }
#rag-sources .rag-para { margin: 0 !important; padding: 0 0 0 .7rem; border-left: 3px solid var(--border-color-primary);
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
.rag-reportbox .rag-ok { color: #166534; }
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
#rag-chat a.rag-copy { display: inline-flex; align-items: center; gap: .3rem; padding: .2rem .55rem;
  border: 1px solid var(--border-color-primary); border-radius: 6px; background: var(--background-fill-primary);
  color: var(--body-text-color); text-decoration: none; cursor: pointer; font-size: .8rem; line-height: 1.2; }
#rag-chat a.rag-copy:hover, #rag-chat a.rag-copy:focus-visible { border-color: var(--color-accent);
  color: var(--color-accent); }
/* two overlapping sheets, drawn (a glyph may be missing from the reader's fonts) */
#rag-chat a.rag-copy .rag-copy-icon { position: relative; width: .7rem; height: .8rem; margin: .15rem .15rem 0 0;
  border: 1.5px solid currentColor; border-radius: 2px; flex: none; }
#rag-chat a.rag-copy .rag-copy-icon::before { content: ""; position: absolute; left: .15rem; top: -.3rem;
  width: .7rem; height: .8rem; border: 1.5px solid currentColor; border-radius: 2px; opacity: .55; }
#rag-chat a.rag-copied { border-color: #16a34a; color: #166534; }
#rag-sources .rag-back { margin-left: auto; font-size: .75rem; white-space: nowrap; text-decoration: none;
  color: var(--color-accent); flex: none; }
#rag-sources .rag-scores ul { margin: .2rem 0 .3rem 1.1rem; padding: 0; }
#rag-sources .rag-scores p { margin: .3rem 0 .1rem 0; }
.rag-listbox .rag-doclist { list-style: none; margin: 0; padding: 0; }
.rag-listbox .rag-doclist li { display: flex; flex-direction: column; padding: .45rem .2rem;
  border-bottom: 1px solid var(--border-color-primary); overflow-wrap: anywhere; }
.rag-listbox .rag-title { font-weight: 600; }
.rag-listbox .rag-meta, #rag-doc-text .rag-meta { color: var(--body-text-color-subdued); font-size: .85rem; }
.rag-listbox .rag-doc { font-family: var(--font-mono); font-size: .72rem; color: var(--body-text-color-subdued); }
/* the library's list (ui.library_table): a count and pager that stay on top, rows with their own buttons */
.rag-libbar { align-items: flex-end; flex-wrap: wrap; }
/* a field with its buttons (claim, web address, feed): the buttons level with the field's box, on one line each */
.rag-checkbar, .rag-webbar, .rag-feedbar { align-items: flex-end !important; }
.rag-checkbar > button, .rag-webbar > button, .rag-feedbar > button { white-space: nowrap;
  margin-bottom: var(--block-padding, 10px) !important; }
#rag-lib-refresh { align-self: center; }
#rag-docs .rag-listhead { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; align-items: center;
  justify-content: space-between; gap: .4rem; padding: .35rem .2rem; background: var(--background-fill-primary);
  border-bottom: 1px solid var(--border-color-primary); font-size: .85rem; color: var(--body-text-color-subdued); }
#rag-docs .rag-pager { display: flex; align-items: center; gap: .5rem; }
#rag-docs .rag-doclist li.rag-row { flex-direction: row; align-items: center; gap: .6rem; }
#rag-docs .rag-row-text { display: flex; flex-direction: column; flex: 1 1 auto; min-width: 0; }
#rag-docs .rag-doclist { padding: 0 !important; list-style: none !important; }
#rag-docs .rag-title a { color: inherit; padding: 0 !important; }
#rag-docs .rag-row-acts { display: flex; align-items: center; gap: .35rem; flex: none; }
#rag-docs .rag-act { font-size: .8rem; padding: .2rem .65rem; border: 1px solid var(--border-color-primary);
  border-radius: 6px; background: var(--background-fill-primary); color: var(--body-text-color); cursor: pointer;
  line-height: 1.4; white-space: nowrap; margin: 0; }
#rag-docs .rag-act:hover, #rag-docs .rag-act:focus-visible { border-color: var(--color-accent);
  color: var(--color-accent); }
#rag-docs .rag-act-remove:hover, #rag-docs .rag-act-remove:focus-visible { border-color: #dc2626; color: #b91c1c; }
#rag-docs .rag-act[disabled] { opacity: .45; cursor: default; border-color: var(--border-color-primary);
  color: var(--body-text-color); }
#rag-docs .rag-doclist li.rag-group { flex-direction: row; align-items: baseline; gap: .5rem; font-weight: 700;
  padding: .7rem .2rem .25rem; border-bottom: 2px solid var(--border-color-primary); }
#rag-docs .rag-group .rag-meta { font-weight: 400; }
#rag-docs .rag-placeholder .rag-act { margin-left: .4rem; }
#rag-doc-text .rag-doctext { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .5rem .8rem; }
#rag-doc-text .rag-doctext h3 { margin: .2rem 0; }
.rag-reportbox .rag-fail, .rag-reportbox .rag-fail * { color: #991b1b; }
#rag-chat { height: var(--rag-chat-h, 520px) !important; max-height: var(--rag-chat-h, 520px) !important; }
/* one way to start afresh, "New conversation": the chat's own trash icon (which did the same) is hidden */
#rag-chat .icon-button-wrapper:has(button[aria-label="Clear"]), #rag-chat button[aria-label="Clear"] {
  display: none !important; }
#rag-chat .rag-elapsed { font-variant-numeric: tabular-nums; color: var(--body-text-color-subdued);
  font-size: .85em; margin-left: .15rem; }
#rag-chat .rag-slow { margin-top: .3rem; font-size: .85rem; color: #92400e; }
.rag-reportbox .rag-detail { display: inline; font-size: .85rem; }
.rag-reportbox .rag-detail > summary { display: inline; cursor: pointer; color: var(--body-text-color-subdued); }
.rag-reportbox .rag-detail code { display: block; margin: .2rem 0 0 0; white-space: pre-wrap; }
@media (max-width: 700px) {
  .rag-topbar > div:first-child { flex: 1 1 100% !important; }
  .rag-askbar { gap: .3rem !important; }
  .rag-askbar > .form { min-width: 0 !important; flex: 1 1 0 !important; }
  #rag-question { padding: 8px !important; }
  #rag-ask, #rag-stop { min-width: 56px !important; padding-left: .5rem !important; padding-right: .5rem !important; }
  #rag-about .rag-about { font-size: .82rem; }
  #rag-docs .rag-doclist li.rag-row { flex-wrap: wrap; }
  #rag-docs .rag-row-acts { width: 100%; justify-content: flex-end; }
  .rag-checkbar > *, .rag-webbar > * { flex: 1 1 100% !important; }  /* the field full width, its button below */
  .rag-feedbar > .form { flex: 1 1 100% !important; }
  .rag-feedbar > button { flex: 1 1 auto !important; min-width: 0 !important; }
  .rag-header h1 { font-size: 1.35rem; }
  .rag-header p { font-size: .85rem; }
}
"""

# Markers are links to "#src-<turn>-<n>". The handler opens the turn's section in the sources panel
# and scrolls the card into view; it runs in the capture phase so the chatbot never opens a new tab.
JS = """
(function () {
  // Gradio's client ends an upload's progress stream through a stand-in EventSource whose close() only logs
  // "Method not implemented." (twice per upload, gradio 6.x). That line, and only it, is kept out of the console.
  if (!window.__ragQuietWarn) {
    window.__ragQuietWarn = true;
    var warn = console.warn;
    console.warn = function () {
      if (arguments.length === 1 && arguments[0] === 'Method not implemented.') return;
      return warn.apply(console, arguments);
    };
  }
  // Gradio 6 tells screen readers that an event finished through a hidden status line, with a message key its
  // English texts lack, so "common.complete" was read out after each action: the key becomes the words it means.
  if (!window.__ragStatusWords) {
    window.__ragStatusWords = true;
    var said = {'common.complete': 'Done', 'common.loading': 'Loading', 'common.error': 'Error'};
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        var node = r.target, box = node.nodeType === 3 ? node.parentElement : node;
        if (!box || !box.matches || !box.matches('.sr-only[role="status"]')) return;
        var texts = node.nodeType === 3 ? [node] : Array.prototype.filter.call(node.childNodes,
          function (n) { return n.nodeType === 3; });
        texts.forEach(function (t) {  // the text node itself: the live region keeps the node Gradio updates
          var key = t.data.trim();
          if (/^[a-z_]+(\.[a-z_]+)+$/.test(key)) t.data = said[key] || '';
        });
      });
    }).observe(document.body || document.documentElement, {subtree: true, childList: true, characterData: true});
  }
  if (window.__ragCiteHandler) return;
  window.__ragCiteHandler = true;
  // The seconds since a question was asked count on here; the server re-renders the line at each stage with
  // its own count as the text ("12 s", "1 min 05 s"), which is where a new element starts counting from.
  function clock(s) {
    return s < 60 ? s + ' s' : Math.floor(s / 60) + ' min ' + String(s % 60).padStart(2, '0') + ' s';
  }
  setInterval(function () {
    document.querySelectorAll('#rag-chat .rag-elapsed').forEach(function (el) {
      if (el.__ragT0 === undefined) {
        var m = /(?:(\d+) min )?(\d+) s/.exec(el.textContent) || [0, 0, 0];
        el.__ragT0 = Date.now() - 1000 * (60 * Number(m[1] || 0) + Number(m[2] || 0));
      }
      el.textContent = clock(Math.floor((Date.now() - el.__ragT0) / 1000));
    });
  }, 1000);
  // The chat takes the height the window leaves it, so the question box and the examples below it are on the
  // first screen at any size (a fixed height pushed them off on phones and cut the examples at 1280x900).
  function fitChat() {
    var chat = document.getElementById('rag-chat'), bar = document.querySelector('.rag-askbar');
    if (!chat || !bar || !chat.offsetParent) return;
    var ex = document.querySelector('.rag-examples');
    var last = ex && ex.getBoundingClientRect().height > 0 ? ex : bar;
    var box = chat.getBoundingClientRect();
    var below = last.getBoundingClientRect().bottom - box.bottom;
    var small = window.innerWidth < 700;
    var h = Math.round(window.innerHeight - (box.top + window.scrollY) - below - 12);
    h = Math.max(small ? 200 : 280, Math.min(small ? 560 : 720, h));
    document.documentElement.style.setProperty('--rag-chat-h', h + 'px');
  }
  window.addEventListener('resize', fitChat);
  var watched = new WeakSet();
  var sizes = typeof ResizeObserver === 'function' ? new ResizeObserver(fitChat) : null;
  setInterval(function () {  // Gradio renders (and re-renders) these after load
    ['.rag-examples', '.rag-askbar', '.rag-topbar', '.rag-header', '#rag-dates', '#rag-range'].forEach(function (sel) {
      var el = document.querySelector(sel);
      if (el && sizes && !watched.has(el)) { watched.add(el); sizes.observe(el); }
    });
    if (!sizes) fitChat();
  }, 500);
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
      var span = a.querySelector('.rag-copy-label') || a;
      var label = span.textContent;
      copyText(sec ? sec.getAttribute('data-md') || '' : '').then(function () {
        span.textContent = 'Copied ✓';
        a.classList.add('rag-copied');
        setTimeout(function () { span.textContent = label; a.classList.remove('rag-copied'); }, 1500);
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
