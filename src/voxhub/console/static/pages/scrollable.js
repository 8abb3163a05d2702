// Tables too wide for a phone scroll inside their .table-wrap, and long payloads inside their <pre>. A box that
// scrolls must be reachable from the keyboard (axe: scrollable-region-focusable), so each becomes a named region in
// the tab order, including the ones a page draws later (a refresh, "Load more").

export function focusableScrollers(root) {
  const mark = () => {
    for (const box of root.querySelectorAll(".table-wrap:not([tabindex]), pre:not([tabindex])")) {
      const caption = box.querySelector("caption");
      box.tabIndex = 0;
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", box.dataset.label || (caption && caption.textContent) || (box.tagName === "PRE" ? "Text" : "Table"));
    }
  };
  mark();
  const observer = new MutationObserver(mark);
  observer.observe(root, { childList: true, subtree: true });
  return () => observer.disconnect();
}
