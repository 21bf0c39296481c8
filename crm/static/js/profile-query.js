/* liaison-crm: the interest profile form checks its query as you type.

   After a pause in typing, the fields that make up the profile's query are sent to
   GET /api/profiles/check-query; the panel shows the compiled query the matching engine
   runs, or the fault with its place in the query marked. Everything is written with
   textContent (never HTML from the server). Without JavaScript the server checks the
   query on save and shows the same panel. */
(function () {
  "use strict";

  var panel = document.getElementById("query-check");
  if (!panel || !window.fetch) { return; }
  var form = panel.closest("form");
  var WAIT_MS = 300;
  var FIELDS = ["query", "topics", "keywords", "subject_headings", "class_ranges", "languages"];
  var labels = {};
  try { labels = JSON.parse(panel.dataset.fields || "{}"); } catch (e) { labels = {}; }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function value(name) {
    var input = form.elements.namedItem(name);
    return input && typeof input.value === "string" ? input.value : "";
  }

  function exact() {
    var box = form.elements.namedItem("exact");
    return Boolean(box && box.checked);
  }

  function showValid(compiled) {
    if (!compiled) {
      var empty = element("p", "muted", panel.dataset.nothing);
      empty.dataset.checkState = "empty";
      panel.replaceChildren(empty);
      return;
    }
    var intro = element("p", "", panel.dataset.compiled);
    intro.dataset.checkState = "valid";
    var pre = element("pre", "query-compiled");
    pre.appendChild(element("code", "", compiled));
    panel.replaceChildren(intro, pre);
  }

  function showFault(error, typed) {
    var message = error.message;
    if (error.position !== null && error.position !== undefined) {
      // As the server writes it: "… is never closed (position 7)." (a position counts from 1).
      var ending = /\.$/.test(message) ? "." : "";
      var text = message.replace(/\.$/, "");
      message = panel.dataset.position.replace("{position}", String(error.position + 1))
        .replace("{message}", function () { return text; }) + ending;
    }
    if (error.field !== "query" && labels[error.field]) { message = labels[error.field] + ": " + message; }
    var line = element("p", "error-text", message);
    line.dataset.checkState = "error";
    var nodes = [line];
    if (error.field === "query" && error.position !== null && error.position !== undefined) {
      // Positions count Unicode characters of the NFC text, as the server does (not UTF-16 units).
      var chars = Array.from(typed.normalize("NFC"));
      var at = Math.max(0, Math.min(error.position, chars.length));
      var fault = chars[at];
      var code = element("code");
      code.appendChild(document.createTextNode(chars.slice(0, at).join("")));
      code.appendChild(element("mark", "fault", fault && fault !== "\n" ? fault : " "));
      code.appendChild(document.createTextNode((fault === "\n" ? "\n" : "") + chars.slice(at + 1).join("")));
      var pre = element("pre", "query-fault");
      pre.appendChild(code);
      nodes.push(pre);
    }
    panel.replaceChildren.apply(panel, nodes);
  }

  function showFailure() {
    var line = element("p", "muted", panel.dataset.failed);
    line.dataset.checkState = "failed";
    panel.replaceChildren(line);
  }

  var timer = null;
  var pending = null;
  var sequence = 0;

  function check() {
    var params = new URLSearchParams();
    var typed = value("query");
    FIELDS.forEach(function (name) {
      var text = name === "query" ? typed.normalize("NFC") : value(name);
      if (text.trim()) { params.set(name, text); }
    });
    if (exact()) { params.set("exact", "true"); }
    if (pending) { pending.abort(); }
    pending = window.AbortController ? new AbortController() : null;
    var mine = ++sequence;
    panel.setAttribute("aria-busy", "true");
    fetch(panel.dataset.url + "?" + params.toString(), {
      headers: { Accept: "application/json" }, credentials: "same-origin",
      signal: pending ? pending.signal : undefined
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (data) {
      if (mine !== sequence) { return; }
      if (data.valid) { showValid(data.compiled); } else { showFault(data.error, typed); }
    }).catch(function (error) {
      if (mine !== sequence || (error && error.name === "AbortError")) { return; }
      showFailure();
    }).then(function () {
      if (mine === sequence) { panel.removeAttribute("aria-busy"); }
    });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, WAIT_MS);
  }

  FIELDS.forEach(function (name) {
    var input = form.elements.namedItem(name);
    if (input) { input.addEventListener("input", later); }
  });
  var box = form.elements.namedItem("exact");
  if (box) { box.addEventListener("change", later); }
}());
