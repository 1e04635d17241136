// Live dashboard: case changes arrive as server-sent events and update the queue (or the open case) in place.
(function () {
  "use strict";
  var table = document.getElementById("queue"), status = document.getElementById("status");
  var live = document.getElementById("live");
  if (!window.EventSource || (!table && !status)) return;
  var filters = table ? JSON.parse(table.dataset.filters || "{}") : {};
  var since = table ? table.dataset.since : "";
  // Texts in the page's language (the queue's data-i18n): labels of each vocabulary by value, and the live states.
  var msgs = table ? JSON.parse(table.dataset.i18n || "{}") : {};
  var lang = msgs.lang || document.documentElement.lang || "en";
  var rank = { low: 0, medium: 1, high: 2, critical: 3 };
  function label(vocab, value, spaces) {
    var known = (msgs[vocab] || {})[value];
    if (typeof known === "string") return known;
    value = String(value == null ? "" : value);
    return spaces ? value.replace(/_/g, " ") : value;
  }
  function opened(iso) {
    var d = new Date(iso), text = String(iso || "").slice(0, 16).replace("T", " ");
    if (isNaN(d.getTime()) || !window.Intl) return text;
    try {
      return new Intl.DateTimeFormat(lang, { year: "numeric", month: "short", day: "numeric", hour: "2-digit",
        minute: "2-digit", hourCycle: "h23", timeZone: "UTC", numberingSystem: "latn" }).format(d);
    } catch (err) { return text; }
  }
  function matches(c) {
    return Object.keys(filters).every(function (k) { return String(c[k] || "").toUpperCase() === String(filters[k]).toUpperCase(); });
  }
  function cell(tr, text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }
  function row(c) {
    var tr = document.createElement("tr");
    tr.id = "case-" + c.case_id; tr.className = "u-" + c.urgency; tr.dataset.case = c.case_id; tr.dataset.rank = rank[c.urgency];
    var b = document.createElement("span"); b.className = "badge u-" + c.urgency; b.dataset.urgency = c.urgency;
    b.textContent = label("urgency", c.urgency);
    cell(tr, "").appendChild(b);
    var a = document.createElement("a"); a.href = "/dashboard/cases/" + c.case_id; a.textContent = c.reference;
    cell(tr, "").appendChild(a);
    cell(tr, label("incident", c.incident_type, true)); cell(tr, c.country); cell(tr, label("region", c.region, true));
    var st = label("status", c.status);
    cell(tr, c.shredded_at ? st + " · " + (msgs.shredded || "shredded") : st); cell(tr, label("consent", c.consent)); cell(tr, c.reports);
    var time = document.createElement("time"); time.dateTime = String(c.opened_at || ""); time.textContent = opened(c.opened_at);
    cell(tr, "").appendChild(time);
    return tr;
  }
  function place(tbody, tr, c) {
    var rows = tbody.rows;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i].querySelector(".badge"), other = r ? rank[r.dataset.urgency] : 0;
      if (other < rank[c.urgency]) { tbody.insertBefore(tr, rows[i]); return; }
    }
    tbody.appendChild(tr);
  }
  function onCase(msg) {
    var c = msg.case;
    if (status) { if (status.dataset.case === c.case_id && msg.event !== "opened") location.reload(); return; }
    var tbody = table.tBodies[0], old = document.getElementById("case-" + c.case_id);
    if (old) old.remove();
    if (!matches(c)) return;
    var tr = row(c); tr.classList.add("fresh");
    place(tbody, tr, c);
    document.getElementById("empty").hidden = true;
  }
  var es = new EventSource("/dashboard/events" + (since ? "?since=" + since : ""));
  es.addEventListener("case", function (e) { try { onCase(JSON.parse(e.data)); } catch (err) { /* ignore a bad event */ } });
  es.onopen = function () { if (live) { live.textContent = msgs.live || "live"; live.classList.add("on"); } };
  es.onerror = function () { if (live) { live.textContent = msgs.reconnecting || "reconnecting…"; live.classList.remove("on"); } };
})();
