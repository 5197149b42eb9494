// The what-if page while a run goes on: read its progress twice a second, move the bar, and show the
// projection (the same page, reloaded) once it has finished or failed.
(function () {
  "use strict";
  var job = document.getElementById("whatif-job");
  if (!job || job.dataset.status !== "running") return;
  var bar = document.getElementById("whatif-bar");
  var status = document.getElementById("whatif-status");
  var busy = false;
  var timer = setInterval(function () {
    if (busy) return;
    busy = true;
    fetch(job.dataset.src, { headers: { "X-Hub-Fetch": "1" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) {
          window.location.href = "/sign-in?notice=session_expired&next=" + encodeURIComponent(location.pathname);
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (state) {
        if (state === null) return;
        bar.value = state.percent;
        bar.textContent = state.percent + " %";
        status.textContent = state.line;
        if (state.status !== "running") {
          clearInterval(timer);
          window.location.reload();
        }
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { busy = false; });
  }, 400);
})();
