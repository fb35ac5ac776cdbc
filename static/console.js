// queuedeck console behaviour that htmx attributes cannot express. Loaded as
// a static file because the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function showMessage(text) {
    var bar = document.getElementById("flash");
    if (!bar) {
      return;
    }
    bar.textContent = text;
    bar.hidden = false;
  }

  // Every htmx request that changes state carries the session's CSRF token.
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb !== "get") {
      event.detail.headers["X-CSRFToken"] = csrfToken();
    }
  });

  // Polling stops while the operator has paused it or the tab is hidden.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail.elt;
    var polling = source.getAttribute("hx-trigger") || "";
    if (polling.indexOf("every") === -1) {
      return;
    }
    if (source.dataset.paused === "true" || document.hidden) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var bar = document.getElementById("flash");
    if (bar && event.detail.successful && !bar.hidden) {
      bar.hidden = true;
    }
  });

  // Error responses are plain text; textContent keeps them inert.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    showMessage(xhr.responseText || "The request failed with HTTP " + xhr.status + ".");
  });

  document.addEventListener("htmx:sendError", function () {
    showMessage("The console could not reach the server. Check that it is running.");
  });

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-pause-target]");
    if (toggle) {
      var panel = document.getElementById(toggle.dataset.pauseTarget);
      var paused = panel.dataset.paused === "true";
      panel.dataset.paused = paused ? "false" : "true";
      toggle.setAttribute("aria-pressed", paused ? "false" : "true");
      toggle.textContent = paused ? "Pause refresh" : "Resume refresh";
      return;
    }
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      var target = document.getElementById(dismiss.dataset.dismiss);
      if (target) {
        target.replaceChildren();
      }
    }
  });
})();
