// Copy buttons on owner pages.
"use strict";
document.querySelectorAll("button.copy").forEach((button) => {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch (e) {
      window.getSelection().selectAllChildren(source);
    }
  });
});
