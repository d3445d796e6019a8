// The dashboard, live: the server pushes the parts that changed (chargers' cards, the counts,
// today's figures), already rendered in this page's language; they replace theirs by element id.
// The socket reconnects after a drop, and its first message is a whole snapshot again.
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root || !("WebSocket" in window)) {
    return; // the server-rendered page stands as it is
  }
  var indicator = document.getElementById("dash-live");
  var chargers = document.getElementById("dash-chargers");
  var retryMs = 1000;
  var MAX_RETRY_MS = 30000;

  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    var language = encodeURIComponent(document.documentElement.lang || "");
    return scheme + "//" + window.location.host + root.dataset.socketPath + "?lang=" + language;
  }

  function show(state) {
    indicator.dataset.state = state;
    indicator.textContent = indicator.dataset[state === "live" ? "labelLive" : "labelReconnecting"];
  }

  function element(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim(); // rendered and escaped by the server's templates
    return template.content.firstElementChild;
  }

  function replace(id, html) {
    var fresh = element(html);
    var old = document.getElementById(id);
    if (old) {
      old.replaceWith(fresh);
    } else if (fresh.classList.contains("dash-charger")) {
      chargers.appendChild(fresh); // a charger the page did not show yet (e.g. one pending approval)
    }
  }

  function apply(message) {
    Object.keys(message.chargers || {}).forEach(function (id) {
      replace(id, message.chargers[id]);
    });
    if (message.complete) {
      chargers.querySelectorAll(".dash-charger").forEach(function (card) {
        if (!(card.id in message.chargers)) {
          card.remove(); // deleted since the page was rendered
        }
      });
    }
    if (message.counts) {
      replace("dash-counts", message.counts);
    }
    if (message.today) {
      replace("dash-today", message.today);
    }
    var empty = document.getElementById("dash-empty");
    if (empty && chargers.querySelector(".dash-charger")) {
      empty.remove();
    }
  }

  function connect() {
    var socket = new WebSocket(socketUrl());
    socket.addEventListener("open", function () {
      retryMs = 1000;
      show("live");
    });
    socket.addEventListener("message", function (event) {
      apply(JSON.parse(event.data));
    });
    socket.addEventListener("close", function () {
      show("reconnecting");
      window.setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    });
  }

  connect();
})();
