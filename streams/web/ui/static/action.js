// Action progress: poll the counters every second until every notification is settled.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) return;
  var names = ["targeted", "opted_out", "queued", "sent", "delivered", "failed", "cancelled", "unknown", "signed"], found = false;
  // Texts in the page's language (data-i18n): finished ("… {when}"), failed, sending, utc ("{when} UTC").
  var msgs = JSON.parse(box.dataset.i18n || "{}"), lang = msgs.lang || document.documentElement.lang || "en";
  function when(iso) {
    var d = new Date(iso), text = (iso || "").replace("T", " ").slice(0, 19);
    if (!isNaN(d.getTime()) && window.Intl) {
      try {
        text = new Intl.DateTimeFormat(lang, { year: "numeric", month: "short", day: "numeric", hour: "2-digit",
          minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZone: "UTC", numberingSystem: "latn" }).format(d);
      } catch (err) { /* keep the ISO text */ }
    }
    return (msgs.utc || "{when} UTC").replace("{when}", text);
  }
  function tick() {
    fetch(box.dataset.url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
      var c = d.counts || {};
      names.forEach(function (n) {
        var el = document.getElementById("c-" + n), bar = document.getElementById("p-" + n);
        if (el) el.textContent = c[n] || 0;
        if (bar) { bar.max = c.queued || 1; bar.value = c[n] || 0; }
      });
      document.getElementById("pct").textContent = d.percent + "%";
      var st = document.getElementById("status"), state = d.finished ? "finished" : (d.failure ? "failed" : "sending");
      if (st && st.dataset.state !== state) {  // rewritten only when it changes: the server wrote it first
        st.dataset.state = state;
        st.textContent = state === "finished" ? (msgs.finished || "Finished {when}").replace("{when}", when(d.finished_at))
          : state === "failed" ? (msgs.failed || "Failed") : (msgs.sending || "Sending…");
      }
      var fail = document.getElementById("failure");
      if (fail && d.failure) { fail.hidden = false; document.getElementById("failure-reason").textContent = d.failure; }
      var warn = document.getElementById("unknown-warning");
      if (warn) warn.hidden = !(c.unknown > 0);
      if (d.found && !found) { found = true; var p = document.getElementById("pending"); if (p) location.reload(); }
    }).catch(function () {}).then(function () { setTimeout(tick, 1000); });
  }
  tick();
})();
