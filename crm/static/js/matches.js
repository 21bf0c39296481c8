/* liaison-crm: the matches on a contact's or a group's page. The section holds a plain link to
   the full list (the no-JS fallback); this script replaces it with the first matches, rendered by
   the server (GET …/matches?fragment=1), and lets "Dismiss" / "Restore" post in place: the form
   is sent as is (CSRF token included) and asks to come back to the fragment, which replaces the
   list. */
(function () {
  "use strict";

  function setup(box) {
    var source = box.getAttribute("data-matches-src");

    function failed() {
      var p = document.createElement("p");
      p.className = "error-text";
      p.textContent = box.getAttribute("data-failed") || "…";
      box.appendChild(p);
    }

    function show(response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.text().then(function (html) {
        // Server-rendered by our own Jinja templates (autoescaped), from our own origin.
        box.innerHTML = html;
        box.setAttribute("aria-busy", "false");
      });
    }

    function load() {
      box.setAttribute("aria-busy", "true");
      return fetch(source, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(show).catch(failed);
    }

    box.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.hasAttribute || !form.hasAttribute("data-match-action")) { return; }
      event.preventDefault();
      var data = new URLSearchParams(new FormData(form));
      data.set("next", source);
      box.setAttribute("aria-busy", "true");
      fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
        headers: { Accept: "text/html" } }).then(show).catch(failed);
    });

    load();
  }

  var boxes = document.querySelectorAll("[data-matches-src]");
  for (var i = 0; i < boxes.length; i++) { setup(boxes[i]); }
})();
