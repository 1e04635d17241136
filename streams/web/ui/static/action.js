// Action progress: poll the counters every second until every notification is settled.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) return;
  var names = ["targeted", "opted_out", "queued", "sent", "delivered", "failed", "cancelled", "unknown", "signed"], found = false;
  function tick() {
    fetch(box.dataset.url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
      var c = d.counts || {};
      names.forEach(function (n) {
        var el = document.getElementById("c-" + n), bar = document.getElementById("p-" + n);
        if (el) el.textContent = c[n] || 0;
        if (bar) { bar.max = c.queued || 1; bar.value = c[n] || 0; }
      });
      document.getElementById("pct").textContent = d.percent + "%";
      var st = document.getElementById("status");
      if (st) st.textContent = d.finished ? "Finished " + (d.finished_at || "").replace("T", " ").slice(0, 19) + " UTC" : (d.failure ? "Failed" : "Sending…");
      var fail = document.getElementById("failure");
      if (fail && d.failure) { fail.hidden = false; document.getElementById("failure-reason").textContent = d.failure; }
      var warn = document.getElementById("unknown-warning");
      if (warn) warn.hidden = !(c.unknown > 0);
      if (d.found && !found) { found = true; var p = document.getElementById("pending"); if (p) location.reload(); }
    }).catch(function () {}).then(function () { setTimeout(tick, 1000); });
  }
  tick();
})();
