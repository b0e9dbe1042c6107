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
  /* A rebuild that changed some pages only (an edited paper's) names them: other pages keep their place and
     reload with the full build that follows. */
  function wait(loaded) {
    fetch(state.url + "?since=" + state.version + "&page=" + encodeURIComponent(location.pathname) +
          (loaded === true ? "&loaded=1" : ""), {cache: "no-store"})
      .then(function (response) { return response.json(); })
      .then(function (now) {
        if (now.version !== state.version) {
          state.version = now.version;
          if (now.problems.length) show(now.problems);
          else if (!now.pages || now.pages.indexOf(location.pathname) >= 0) {
            state.reloading = true;  /* this document is on its way out (tests wait for its successor) */
            return location.reload();
          }
          else show([]);
        }
        wait();
      })
      .catch(function () { setTimeout(wait, 1000); });  /* the server restarts: try again */
  }
  show(state.problems);
  /* The first ask after a reload tells serve this page is back (BuildState.wait_for_reload): sent once the page
     has loaded, so the full build that follows does not take the cores while the page still loads. */
  function start() { wait(true); }
  if (document.readyState === "complete") start(); else window.addEventListener("load", start, {once: true});
})();
