// The agents' console: offers arrive by server-sent events and count down; forms are sent once.
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) return;
  var status = root.dataset.status;
  var box = document.getElementById("offer");
  var timer = null;

  function text(id, value) { document.getElementById(id).textContent = value; }

  function seconds(n) {
    if (n === null || n === undefined) return "–";
    return n < 60 ? n + " s" : Math.floor(n / 60) + " min " + (n % 60) + " s";
  }

  function showOffer(offer) {
    text("offer-service", offer.service);
    text("offer-owner", offer.owner_name);
    text("offer-channel", offer.channel_label || offer.channel.replace("_", " "));
    text("offer-mark", offer.live ? "Live: answer now" : "Can wait: web form or email");
    var callback = document.getElementById("offer-callback");
    callback.hidden = !offer.callback;
    if (offer.callback) {
      text("offer-callback-reason", offer.callback_reason || "");
      text("offer-callback-attempts", String(offer.callback_attempts || 0));
    }
    text("offer-waited", seconds(offer.waited_seconds));
    text("offer-reference", offer.reference);
    box.querySelectorAll(".offer-id").forEach(function (input) { input.value = offer.enquiry_id; });
    box.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    // Count down on the server's clock, whatever the time on this machine says.
    var deadline = Date.now() + (offer.expires_at_ms - offer.server_now_ms);
    clearInterval(timer);
    var tick = function () {
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      text("offer-countdown", left + " s");
      if (left === 0) {
        clearInterval(timer);
        text("offer-countdown", "expired");
        box.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }
    };
    tick();
    timer = setInterval(tick, 250);
    box.hidden = false;
    var waiting = document.getElementById("waiting-for-work");
    if (waiting) waiting.hidden = true;
  }

  function hideOffer() {
    clearInterval(timer);
    box.hidden = true;
    var waiting = document.getElementById("waiting-for-work");
    if (waiting) waiting.hidden = false;
  }

  // A second click must not send a second request (the server would refuse it harmlessly anyway).
  document.querySelectorAll("form.once").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  });

  if (!window.EventSource) return;
  var events = new EventSource("/console/events");
  events.addEventListener("offer", function (e) { showOffer(JSON.parse(e.data)); });
  events.addEventListener("offer_gone", hideOffer);
  events.addEventListener("status", function (e) {
    // Changed elsewhere (missed offers, another tab): show the page as it now is.
    if (JSON.parse(e.data).status !== status) window.location.reload();
  });
  events.onerror = function () {
    // EventSource retries network errors by itself but gives up on an HTTP refusal (a session that
    // ended between two streams): reloading lets the server say why.
    if (events.readyState === EventSource.CLOSED) setTimeout(function () { window.location.reload(); }, 1000);
  };
  events.addEventListener("signed_out", function () {
    events.close();
    window.location.href = "/sign-in?notice=session_expired&next=/console";
  });
})();
