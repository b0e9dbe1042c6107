// MathJax reads \( \) and \[ \] inside the spans and divs that pymdownx.arithmatex (generic mode) writes.
window.MathJax = {
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"},
  svg: {fontCache: "global"}
};
// MathJax (2 MB, served by the site from assets/mathjax/) is loaded only by pages that have math: most pages
// (listings, tags, collections, source code) have none, and parsing it cost every page view about 0.2 s.
(function () {
  var here = document.currentScript && document.currentScript.src;
  function load() {
    if (!document.querySelector(".arithmatex") || document.getElementById("pd-mathjax")) return;
    var script = document.createElement("script");
    script.id = "pd-mathjax";
    script.async = true;
    script.src = new URL("mathjax/tex-svg.js", here || document.baseURI).href;
    document.head.appendChild(script);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", load);
  else load();
})();
