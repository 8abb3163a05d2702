// The public share page (/s/{token}): a click on a time plays the recording from there. The page works without it.
const player = document.getElementById("player");
if (player) {
  for (const button of document.querySelectorAll("button.time")) {
    button.addEventListener("click", () => {
      player.currentTime = Number(button.dataset.start) || 0;
      player.play().catch(() => {});
    });
  }
}
