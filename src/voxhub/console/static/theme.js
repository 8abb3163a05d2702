// Sets the theme before the page paints (a classic script, so it runs first): the one chosen in the console, else
// the system's, following the system when it changes. The stylesheet reads only `data-theme`.
(function () {
  var chosen = null;
  try { chosen = localStorage.getItem("voxhub.theme"); } catch (e) { /* storage disabled */ }
  var dark = window.matchMedia("(prefers-color-scheme: dark)");
  var root = document.documentElement;
  if (chosen === "light" || chosen === "dark") {
    root.dataset.theme = chosen;
    return;
  }
  root.dataset.theme = dark.matches ? "dark" : "light";
  dark.addEventListener("change", function (event) {
    var now = null;
    try { now = localStorage.getItem("voxhub.theme"); } catch (e) { /* storage disabled */ }
    if (!now) root.dataset.theme = event.matches ? "dark" : "light";
  });
})();
