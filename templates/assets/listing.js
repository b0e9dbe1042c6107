// Sort and filter the papers listing in the browser (no server): by tag, year, venue and implementation.
(function () {
  function setup(table) {
    var form = document.querySelector(".pd-filters");
    if (!form || table.dataset.ready) return;
    table.dataset.ready = "1";
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    function apply() {
      var want = {};
      form.querySelectorAll("select, input").forEach(function (el) { want[el.name] = el.value.trim().toLowerCase(); });
      var shown = 0;
      rows.forEach(function (row) {
        var ok = (!want.tag || (" " + row.dataset.tags + " ").indexOf(" " + want.tag + " ") >= 0) &&
          (!want.year || row.dataset.year === want.year) &&
          (!want.venue || row.dataset.venue.toLowerCase() === want.venue) &&
          (!want.impl || row.dataset.impl === want.impl) &&
          (!want.q || row.textContent.toLowerCase().indexOf(want.q) >= 0);
        row.hidden = !ok;
        if (ok) shown++;
      });
      var count = form.querySelector(".pd-count");
      if (count) count.textContent = shown + " / " + rows.length;
    }
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    table.querySelectorAll("th[data-sort]").forEach(function (th, index) {
      th.addEventListener("click", function () {
        var key = th.dataset.sort, dir = th.dataset.dir === "asc" ? -1 : 1;
        th.dataset.dir = dir === 1 ? "asc" : "desc";
        rows.sort(function (a, b) {
          var x = a.dataset[key] || a.cells[index].textContent, y = b.dataset[key] || b.cells[index].textContent;
          return x < y ? -dir : x > y ? dir : 0;
        });
        rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
      });
    });
    apply();
  }
  function init() { document.querySelectorAll("table.pd-listing").forEach(setup); }
  if (window.document$) window.document$.subscribe(init); else document.addEventListener("DOMContentLoaded", init);
})();
