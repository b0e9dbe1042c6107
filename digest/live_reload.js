/* digest serve only (never in the built site): reload this page when the site is rebuilt, and show the
   problems of a failed build over the page. window.digestServe = {version, problems, url} comes first. */
(function () {
  var state = window.digestServe, box = null;
  function show(problems) {
    if (box) box.remove();
    box = null;
    if (!problems.length) return;
    box = document.createElement("div");
    box.className = "pd-serve-problems";
    box.setAttribute("role", "alert");
    box.style.cssText = "position:fixed;inset:auto 0 0 0;max-height:60vh;overflow:auto;z-index:1000;" +
      "margin:0;padding:1em;background:#fff3f3;color:#5c0000;border-top:3px solid #c00;font:13px/1.5 monospace";
    var title = document.createElement("strong");
    title.textContent = "digest serve: the build failed; this is the last good site. Problems:";
    var list = document.createElement("pre");
    list.style.cssText = "white-space:pre-wrap;margin:.5em 0 0";
    list.textContent = problems.join("\n");  /* text, never HTML: problems quote record text */
    box.append(title, list);
    document.body.append(box);
  }
  function wait() {
    fetch(state.url + "?since=" + state.version, {cache: "no-store"})
      .then(function (response) { return response.json(); })
      .then(function (now) {
        if (now.version !== state.version) {
          state.version = now.version;
          if (now.problems.length) show(now.problems); else return location.reload();
        }
        wait();
      })
      .catch(function () { setTimeout(wait, 1000); });  /* the server restarts: try again */
  }
  show(state.problems);
  wait();
})();
