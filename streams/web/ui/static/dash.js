// Live dashboard: case changes arrive as server-sent events and update the queue (or the open case) in place.
(function () {
  "use strict";
  var table = document.getElementById("queue"), status = document.getElementById("status");
  var live = document.getElementById("live");
  if (!window.EventSource || (!table && !status)) return;
  var filters = table ? JSON.parse(table.dataset.filters || "{}") : {};
  var since = table ? table.dataset.since : "";
  var rank = { low: 0, medium: 1, high: 2, critical: 3 };
  function matches(c) {
    return Object.keys(filters).every(function (k) { return String(c[k] || "").toUpperCase() === String(filters[k]).toUpperCase(); });
  }
  function cell(tr, text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }
  function row(c) {
    var tr = document.createElement("tr");
    tr.id = "case-" + c.case_id; tr.className = "u-" + c.urgency; tr.dataset.case = c.case_id; tr.dataset.rank = rank[c.urgency];
    var b = document.createElement("span"); b.className = "badge u-" + c.urgency; b.textContent = c.urgency;
    cell(tr, "").appendChild(b);
    var a = document.createElement("a"); a.href = "/dashboard/cases/" + c.case_id; a.textContent = c.reference;
    cell(tr, "").appendChild(a);
    cell(tr, c.incident_type.replace(/_/g, " ")); cell(tr, c.country); cell(tr, c.region.replace(/_/g, " "));
    cell(tr, c.shredded_at ? c.status + " · shredded" : c.status); cell(tr, c.consent); cell(tr, c.reports); cell(tr, c.opened_at.slice(0, 16).replace("T", " "));
    return tr;
  }
  function place(tbody, tr, c) {
    var rows = tbody.rows;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i].querySelector(".badge"), other = r ? rank[r.textContent] : 0;
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
  es.onopen = function () { if (live) { live.textContent = "live"; live.classList.add("on"); } };
  es.onerror = function () { if (live) { live.textContent = "reconnecting…"; live.classList.remove("on"); } };
})();
