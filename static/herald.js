// Herald's pages work without this script; it only adds conveniences:
// copy buttons, a confirmation before destructive forms are sent, "go back" links, and
// lists that refresh themselves.
// It is the only script: the Content-Security-Policy allows no inline script or style.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // <button data-copy="ID"> copies the value (or text) of the element with that id.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      const text = "value" in source ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch {
        // No clipboard (plain http, old browser): select it for a manual copy.
        source.select?.();
        button.textContent = "Press Ctrl+C";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }

  // <form data-confirm="Question?"> asks before it is submitted.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // <section id="…" data-refresh="SECONDS"> is read again from the server every so often
  // while the tab is in view, and its content replaced (an inbox's requests).
  for (const section of document.querySelectorAll("[data-refresh][id]")) {
    const every = Math.max(Number(section.dataset.refresh) || 5, 2) * 1000;
    const again = async () => {
      if (document.visibilityState === "visible") {
        try {
          const answer = await fetch(window.location.href, { credentials: "same-origin" });
          if (answer.ok) {
            const page = new DOMParser().parseFromString(await answer.text(), "text/html");
            const fresh = page.getElementById(section.id);
            if (fresh && fresh.innerHTML !== section.innerHTML) section.innerHTML = fresh.innerHTML;
          }
        } catch {
          // Offline for a moment: the next turn tries again.
        }
      }
      setTimeout(again, every);
    };
    setTimeout(again, every);
  }

  // <a data-back href="/fallback"> goes back in history when there is any.
  for (const link of document.querySelectorAll("a[data-back]")) {
    link.addEventListener("click", (event) => {
      if (window.history.length > 1) {
        event.preventDefault();
        window.history.back();
      }
    });
  }
});
