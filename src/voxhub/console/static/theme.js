// Applies the chosen theme before the page paints (a classic script, so it runs first): "light", "dark" or the
// system's choice when none is stored.
(function () {
  var theme = null;
  try { theme = localStorage.getItem("voxhub.theme"); } catch (e) { /* storage disabled */ }
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
})();
