// The supervisors' floor: fetch the live part again every two seconds.
(function () {
  "use strict";
  document.querySelectorAll("select.submit-on-change").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  var floor = document.getElementById("floor");
  if (!floor) return;
  var busy = false;
  setInterval(function () {
    if (busy || document.hidden) return;
    busy = true;
    fetch(floor.dataset.src, { headers: { "X-Hub-Fetch": "1" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) {
          window.location.href = "/sign-in?notice=session_expired&next=" + encodeURIComponent(location.pathname + location.search);
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) { if (html !== null) floor.innerHTML = html; })
      .catch(function () { /* the next round tries again */ })
      .then(function () { busy = false; });
  }, 2000);
})();
