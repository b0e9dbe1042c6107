// Sort and filter a listing in the browser (no server): the papers by tag, year, venue, implementation status
// and words; the reading queue by year, venue, state and words. The filters are the form's named fields, and a
// field filters on the row's data-* attribute of the same name ("tag" on the row's list of tags, "q" on its
// text). The page's HTML holds the first rows only (templates/listing.md.j2; without JavaScript the form stays
// hidden and the pages after it list the rest, newest first); here every row is built from the listing's
// rows.json, with the same markup as the template's rows, before the form is shown.
(function () {
  "use strict";

  function cell(row, children) {
    var td = row.insertCell();
    children.forEach(function (child) { td.append(child); });
    return td;
  }

  function link(href, text, className) {
    var a = document.createElement("a");
    if (className) a.className = className;
    a.href = href;
    a.textContent = text;
    return a;
  }

  function date(value) {
    var time = document.createElement("time");
    time.setAttribute("datetime", value);
    time.textContent = value;
    return time;
  }

  // One paper's row, as templates/listing.md.j2 writes it on the first page (links relative to papers/).
  function paperRow(r, data) {
    var row = document.createElement("tr");
    [["title", r.title], ["date", r.date], ["year", r.date.slice(0, 4)], ["venue", r.venue],
     ["tags", r.tags.join(" ")], ["impl", r.impl]].forEach(function (kv) { row.setAttribute("data-" + kv[0], kv[1]); });
    cell(row, [link(r.id + "/", r.title)]);
    cell(row, [date(r.date)]);
    cell(row, [r.venue_text]);
    var tags = [];
    r.tags.forEach(function (tag, i) {
      if (i) tags.push(" ");
      if (tag in data.tags) tags.push(link("../tags/" + tag + "/", data.tags[tag], "pd-tag"));
      else { var span = document.createElement("span"); span.className = "pd-tag"; span.textContent = tag; tags.push(span); }
    });
    cell(row, tags);
    var impl = [r.impl === "yes" ? data.words.implemented : data.words.no_impl];
    if (r.code) {
      impl = [link("../code/" + r.id + "/", data.words.implemented)];
      if (r.claims) {
        var small = document.createElement("small");
        small.textContent = r.claims;
        impl.push(document.createElement("br"), small);
      }
    }
    cell(row, impl);
    return row;
  }

  // One record's row on the reading queue: no page of its own, so its facts and outside links.
  function queueRow(r, data) {
    var row = document.createElement("tr");
    row.id = r.id;
    [["title", r.title], ["date", r.date], ["year", r.date.slice(0, 4)], ["venue", r.venue],
     ["state", r.state]].forEach(function (kv) { row.setAttribute("data-" + kv[0], kv[1]); });
    cell(row, [r.title]);
    cell(row, [r.authors]);
    cell(row, [date(r.date)]);
    cell(row, [r.venue_text]);
    var links = [];
    r.links.forEach(function (pair, i) {
      if (i) links.push(" · ");
      links.push(link(pair[1], pair[0]));
    });
    cell(row, links);
    cell(row, [r.state === "queued" ? data.words.state_queued : data.words.state_draft]);
    return row;
  }

  function fill(table, data) {
    var build = table.querySelector("th[data-sort=state]") ? queueRow : paperRow;
    var body = table.tBodies[0];
    body.textContent = "";
    data.rows.forEach(function (r) { body.appendChild(build(r, data)); });
    var pager = document.querySelector(".pd-pager");
    if (pager) pager.hidden = true;  // every row is here now
    var target = window.location.hash && document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
    if (target) target.scrollIntoView();
  }

  function setup(table) {
    var form = document.querySelector("form.pd-filters");
    if (!form || table.dataset.filters) return;
    table.dataset.filters = "1";
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

  function load(table) {
    if (table.dataset.ready) return;
    table.dataset.ready = "1";
    window.fetch(table.dataset.rows).then(function (response) {
      if (!response.ok) throw new Error(response.status + " " + response.url);
      return response.json();
    }).then(function (data) {
      fill(table, data);
      setup(table);
    }).catch(function () {
      // The rows cannot be loaded (a page opened from disk): filter what the page holds when that is every row;
      // otherwise the page stays as a reader without JavaScript sees it, with its links to the other pages.
      if (!document.querySelector(".pd-pager")) setup(table);
    });
  }

  function init() { document.querySelectorAll("table.pd-listing[data-rows]").forEach(load); }
  // Material's document$ emits on every page load (and on instant navigation, if it is ever switched on).
  if (window.document$) window.document$.subscribe(init);
  else document.addEventListener("DOMContentLoaded", init);
})();
