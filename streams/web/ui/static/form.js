// Progressive enhancement for /report: local time zone, live validation hints. The form works without it.
(function () {
  "use strict";
  var form = document.getElementById("report");
  if (!form) return;
  var msgs = JSON.parse(document.getElementById("i18n").textContent);
  var tz = document.getElementById("tz");
  if (tz && tz.value === "+00:00" && !form.querySelector("[aria-invalid]")) {
    var off = -new Date().getTimezoneOffset(), sign = off < 0 ? "-" : "+", a = Math.abs(off);
    var want = sign + String(Math.floor(a / 60)).padStart(2, "0") + ":" + String(a % 60).padStart(2, "0");
    for (var i = 0; i < tz.options.length; i++) if (tz.options[i].value === want) tz.value = want;
  }
  function hint(el, text) {
    var id = "live-" + el.name.replace(/\./g, "-"), p = document.getElementById(id);
    if (!text) { if (p) p.remove(); el.removeAttribute("aria-invalid"); return; }
    if (!p) { p = document.createElement("p"); p.className = "err"; p.id = id; el.insertAdjacentElement("afterend", p); }
    p.textContent = text; el.setAttribute("aria-invalid", "true");
  }
  function check(el) {
    if (el.name === "description" && el.value.trim().length > 0 && el.value.trim().length < 10) return hint(el, msgs.too_short);
    if (el.required && !el.value.trim()) return hint(el, msgs.required);
    hint(el, "");
  }
  form.addEventListener("blur", function (e) { if (e.target.name) check(e.target); }, true);
})();
