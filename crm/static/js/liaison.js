/* liaison-crm: confirmation of destructive forms, and the participant picker of the
   interaction form. Without JavaScript both still work: deletes go through, and the
   "Find" button posts the form back with the matches to tick. */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  var picker = document.querySelector("[data-participant-picker]");
  if (!picker) { return; }
  var query = picker.querySelector("[name=participant_q]");
  var unit = picker.querySelector("[name=participant_unit]");
  var button = picker.querySelector("[name=_find]");
  var results = picker.querySelector("[data-choices]");
  var chosen = picker.querySelector("[data-chosen]");

  function isChosen(name, id) {
    var boxes = chosen.querySelectorAll("input[name='" + name + "']");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].value === String(id)) { return true; }
    }
    return false;
  }

  function choice(name, participant) {
    var label = document.createElement("label");
    label.className = "choice";
    var box = document.createElement("input");
    box.type = "checkbox";
    box.name = name;
    box.value = String(participant.id);
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + participant.name));
    return label;
  }

  function message(text) {
    var p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    results.replaceChildren(p);
  }

  function render(data) {
    results.replaceChildren();
    var shown = 0;
    [["contact_ids", data.contacts], ["group_ids", data.groups]].forEach(function (pair) {
      pair[1].forEach(function (participant) {
        if (!isChosen(pair[0], participant.id)) {
          results.appendChild(choice(pair[0], participant));
          shown += 1;
        }
      });
    });
    if (!shown) { message(picker.dataset.empty); }
  }

  function search() {
    var params = new URLSearchParams();
    if (query.value.trim()) { params.set("q", query.value.trim()); }
    if (unit.value) { params.set("unit_id", unit.value); }
    if (!params.toString()) { results.replaceChildren(); return; }
    fetch("/api/interactions/participants?" + params.toString(), {
      headers: { Accept: "application/json" }, credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(render).catch(function () { message(picker.dataset.failed); });
  }

  var timer = null;
  button.addEventListener("click", function (event) { event.preventDefault(); search(); });
  query.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); search(); }
  });
  query.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(search, 300);
  });
  unit.addEventListener("change", search);
  // A ticked match joins the chosen participants, so the next search does not drop it.
  results.addEventListener("change", function (event) {
    var box = event.target;
    if (box.checked && box.closest) { chosen.appendChild(box.closest("label")); }
  });
})();
