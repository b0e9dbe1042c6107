// The Run box of a paper page. Only pages served by `digest serve` carry <meta name="pd-run-token">; on the
// static site this script does nothing, so there is no dead button. Served: the knobs become inputs, Run posts
// them with the token, progress lines stream into the box, then the figures, metrics and claims of the page are
// replaced by the run's (the published files stay as they are) and a table compares the metrics.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="pd-run-token"]');
  var box = document.querySelector(".pd-run");
  if (!meta || !box) return;
  var token = meta.getAttribute("content");
  var paper = box.dataset.paper;
  var knobs = JSON.parse(box.dataset.knobs || "[]");
  var t = JSON.parse(box.dataset.strings || "{}");
  var zh = document.documentElement.lang === "zh";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function shown(value) {
    return typeof value === "number" && !Number.isInteger(value) ? Number(value.toPrecision(4)).toString()
                                                                  : String(value);
  }

  var form = el("form", {"class": "pd-run-form"});
  form.appendChild(el("p", {}, t.run_local));
  var inputs = {};
  knobs.forEach(function (k) {
    var label = el("label", {"class": "pd-run-knob"});
    label.appendChild(el("span", {}, (zh ? k.zh : k.en) + " "));
    var input = el("input", {type: "number", name: k.name, min: k.min, max: k.max, step: k.integer ? 1 : "any",
                             value: k.value, required: ""});
    inputs[k.name] = input;
    label.appendChild(input);
    form.appendChild(label);
  });
  var button = el("button", {type: "submit", "class": "md-button md-button--primary pd-run-button"}, t.run);
  form.appendChild(button);
  var log = el("pre", {"class": "pd-run-log", "aria-live": "polite", hidden: ""});
  var result = el("div", {"class": "pd-run-result", "aria-live": "polite"});
  box.appendChild(form);
  box.appendChild(log);
  box.appendChild(result);

  function replaceFigures(urls) {
    document.querySelectorAll(".pd-figure img").forEach(function (img) {
      var file = img.getAttribute("src").split("/").pop();
      if (urls[file]) {
        img.src = urls[file];
        if (img.parentElement.tagName === "A") img.parentElement.href = urls[file];
      }
    });
  }
  function replaceMetrics(metrics) {
    var rows = document.querySelectorAll(".pd-metrics tbody tr");
    metrics.forEach(function (m, i) {
      if (rows[i]) rows[i].cells[1].textContent = (shown(m.value) + " " + (m.unit || "")).trim();
    });
  }
  function replaceClaims(claims) {
    var tests = Object.keys(claims);
    document.querySelectorAll(".pd-claims tbody tr").forEach(function (row) {
      var name = row.cells[1].textContent.trim();
      var test = tests.find(function (k) { return k.split("::")[1] === name; });
      if (test) row.cells[2].textContent = t[claims[test].outcome] || claims[test].outcome;
    });
  }
  function diffTable(run) {
    var table = el("table", {"class": "pd-run-diff"});
    var head = table.createTHead().insertRow();
    [t.metric, t.published, t.this_run, "Δ"].forEach(function (h) { head.appendChild(el("th", {}, h)); });
    var body = table.createTBody();
    run.metrics.forEach(function (m) {
      var row = body.insertRow();
      var before = run.published[m.key];
      var delta = typeof before === "number" && typeof m.value === "number" ? shown(m.value - before) : "";
      [zh ? m.label_zh : m.label_en, before === undefined ? "" : shown(before), shown(m.value), delta]
        .forEach(function (text) { row.insertCell().textContent = text; });
    });
    return table;
  }
  function finish(run) {
    result.textContent = "";
    if (!run.ok) {
      result.appendChild(el("p", {"class": "pd-run-error"}, t.run_failed + ": " + run.error_tail));
      return;
    }
    replaceFigures(run.figure_urls);
    replaceMetrics(run.metrics);
    replaceClaims(run.claims);
    result.appendChild(el("p", {"class": "pd-run-took"}, t.run_took.replace("{seconds}", run.seconds)));
    result.appendChild(el("p", {}, t.run_diff));
    result.appendChild(diffTable(run));
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var values = {};
    knobs.forEach(function (k) { values[k.name] = Number(inputs[k.name].value); });
    button.disabled = true;
    button.textContent = t.running;
    log.hidden = false;
    log.textContent = "";
    result.textContent = "";
    fetch("/__digest__/run", {method: "POST", headers: {"Content-Type": "application/json", "X-Digest-Token": token},
                           body: JSON.stringify({paper: paper, knobs: values})})
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(function (body) { throw new Error(body.error || response.status); });
        }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            buffer += decoder.decode(chunk.value || new Uint8Array(), {stream: !chunk.done});
            var lines = buffer.split("\n");
            buffer = lines.pop();
            lines.filter(Boolean).forEach(function (line) {
              var message = JSON.parse(line);
              if (message.line !== undefined) log.textContent += message.line + "\n";
              if (message.error) throw new Error(message.error);
              if (message.done) finish(message.done);
            });
            if (!chunk.done) return pump();
          });
        }
        return pump();
      })
      .catch(function (error) {
        result.textContent = "";
        result.appendChild(el("p", {"class": "pd-run-error"}, t.run_failed + ": " + error.message));
      })
      .finally(function () {
        button.disabled = false;
        button.textContent = t.run;
      });
  });
})();
