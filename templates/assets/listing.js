// Sort and filter a listing in the browser (no server): the papers by tag, year, venue, implementation status
// and words; the reading queue by year, venue, state and words. The filters are the form's named fields, and a
// field filters on the row's data-* attribute of the same name ("tag" on the row's list of tags, "q" on its
// text). The rows carry data-* attributes written by templates/listing.md.j2; without JavaScript the form stays
// hidden and the table still lists every paper, newest first.
(function () {
  "use strict";

  function setup(table) {
    var form = document.querySelector("form.pd-filters");
    if (!form || table.dataset.ready) return;
    table.dataset.ready = "1";
    var FIELDS = Array.prototype.map.call(form.querySelectorAll("select[name], input[name]"), function (el) { return el.name; });
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var empty = document.querySelector(".pd-empty");
    var count = form.querySelector(".pd-count");
    var collator = new Intl.Collator(document.documentElement.lang || undefined, {numeric: true, sensitivity: "base"});

    // Filters come from and go to the query string, so a filtered view can be linked to (?tag=attention&year=2024).
    var params = new URLSearchParams(window.location.search);
    FIELDS.forEach(function (name) {
      var el = form.elements[name];
      var value = params.get(name);
      if (!el || value === null) return;
      if (el.tagName === "SELECT" && !Array.prototype.some.call(el.options, function (o) { return o.value === value; })) return;
      el.value = value;
    });

    function wanted() {
      var want = {};
      FIELDS.forEach(function (name) {
        var el = form.elements[name];
        want[name] = el ? el.value.trim() : "";
      });
      return want;
    }

    function apply() {
      var want = wanted(), q = want.q.toLowerCase(), shown = 0;
      rows.forEach(function (row) {
        var d = row.dataset;
        var ok = FIELDS.every(function (name) {
          var value = want[name];
          if (!value) return true;
          if (name === "q") return row.textContent.toLowerCase().indexOf(q) >= 0;
          if (name === "tag") return (" " + d.tags + " ").indexOf(" " + value + " ") >= 0;
          return d[name] === value;
        });
        row.hidden = !ok;
        if (ok) shown++;
      });
      if (count) count.textContent = shown + " / " + rows.length;
      if (empty) empty.hidden = shown > 0;
      var query = new URLSearchParams();
      FIELDS.forEach(function (name) { if (want[name]) query.set(name, want[name]); });
      var search = query.toString();
      // replaceState, not pushState: filtering should not fill the back button's history.
      window.history.replaceState(window.history.state, "", window.location.pathname + (search ? "?" + search : "") + window.location.hash);
    }

    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.addEventListener("reset", function () { window.setTimeout(apply, 0); });  // after the form has reset

    // Sortable headings become buttons, so the keyboard and screen readers can sort too; aria-sort tells which.
    var headings = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headings.forEach(function (th) {
      var key = th.dataset.sort;
      if (!key) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "pd-sort";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headings.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        rows.sort(function (a, b) {
          var order = collator.compare(a.dataset[key] || "", b.dataset[key] || "");
          return (ascending ? order : -order) || collator.compare(b.dataset.date, a.dataset.date);  // ties: newest first
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });

    form.hidden = false;
    apply();
  }

  function init() { document.querySelectorAll("table.pd-listing").forEach(setup); }
  // Material's document$ emits on every page load (and on instant navigation, if it is ever switched on).
  if (window.document$) window.document$.subscribe(init);
  else document.addEventListener("DOMContentLoaded", init);
})();
