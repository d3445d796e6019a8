// The live session page updates itself: every 5 s it asks the page's status.json and fills in the figures.
// Without JavaScript the page reloads itself instead (a <meta http-equiv="refresh"> inside <noscript>).
// A file of its own, no inline script: the Content-Security-Policy allows only this server's script files.
(function () {
  "use strict";
  const EVERY_MS = 5000;
  const root = document.querySelector("[data-status-url]");
  if (!root) {
    return;
  }
  let shownState = root.dataset.state;

  function fill(status) {
    for (const element of root.querySelectorAll("[data-field]")) {
      const value = status[element.dataset.field];
      if (value !== undefined && value !== null) {
        element.textContent = value;
      }
    }
  }

  async function poll() {
    try {
      const answer = await fetch(root.dataset.statusUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!answer.ok) {
        return;
      }
      const status = await answer.json();
      if (status.state !== shownState) {
        // A new state brings other parts (the stop button goes, the receipt link comes): the server draws it.
        window.location.reload();
        return;
      }
      fill(status);
    } catch (error) {
      // Offline for a moment (a phone between cells): the next poll tries again.
    } finally {
      if (!root.hasAttribute("data-final")) {
        window.setTimeout(poll, EVERY_MS);
      }
    }
  }

  if (!root.hasAttribute("data-final")) {
    window.setTimeout(poll, EVERY_MS);
  }
})();
