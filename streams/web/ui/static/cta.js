// Call-to-action form: segment count as you type, live recipients per channel and the estimated fan-out time.
(function () {
  "use strict";
  var form = document.getElementById("cta");
  if (!form) return;
  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXT = "\f^{}\\[~]|€";
  var prefills = JSON.parse(document.getElementById("prefills").textContent);
  // Texts in the page's language, from the form's data-i18n: plural messages as {CLDR category: text with {n}}.
  var msgs = JSON.parse(form.dataset.i18n || "{}");
  var rules = window.Intl && Intl.PluralRules ? new Intl.PluralRules(document.documentElement.lang || "en") : null;
  function plural(forms, n) {
    forms = forms || {};
    var text = forms[rules ? rules.select(n) : (n === 1 ? "one" : "other")] || forms.other || String(n);
    return text.replace(/\{n\}/g, String(n));
  }
  var rate = parseFloat(form.dataset.rate) || 10, byLang = {}, timer = null;
  function info(text) {
    var chars = Array.from(text), gsm = chars.every(function (c) { return GSM.indexOf(c) >= 0 || EXT.indexOf(c) >= 0; });
    var costs = chars.map(function (c) { return gsm ? (EXT.indexOf(c) >= 0 ? 2 : 1) : (c.codePointAt(0) > 0xffff ? 2 : 1); });
    var units = costs.reduce(function (a, b) { return a + b; }, 0), single = gsm ? 160 : 70, per = gsm ? 153 : 67;
    var parts = 1, used = 0;
    if (units > single) { costs.forEach(function (c) { if (used + c > per) { parts++; used = 0; } used += c; }); parts = Math.max(parts, Math.ceil(units / per)); }
    return { enc: gsm ? "GSM-7" : "UCS-2", segs: parts, chars: units };
  }
  function areas() { return Array.prototype.slice.call(form.querySelectorAll("textarea[data-lang]")); }
  function segsOf(lang) { var t = form.querySelector("textarea[data-lang=" + lang + "]"); return t ? info(t.value).segs : 1; }
  function eta() {
    var total = 0;
    Object.keys(byLang).forEach(function (l) { total += byLang[l] * (form.querySelector("textarea[data-lang=" + l + "]") ? segsOf(l) : segsOf("en")); });
    document.getElementById("eta").textContent = (Math.round(total / rate * 10) / 10).toString();
  }
  function show(t) {
    var i = info(t.value), p = document.getElementById("seg-" + t.dataset.lang);
    var sep = msgs.sep || " · ";
    p.textContent = plural(msgs.chars, i.chars) + sep + i.enc + sep + plural(msgs.segments, i.segs);
    p.classList.toggle("err", i.segs > 2);
  }
  function reach() {
    var q = new URLSearchParams(new FormData(form)); q.delete("csrf");
    areas().forEach(function (t) { q.delete(t.name); });
    fetch(form.dataset.reach + "?" + q.toString(), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
      if (!d.recipients) return;
      document.getElementById("n-sms").textContent = d.recipients.sms || 0;
      document.getElementById("n-email").textContent = d.recipients.email || 0;
      byLang = d.sms_by_language || {}; eta();
      if (!d.recipients.sms && d.seconds) document.getElementById("eta").textContent = d.seconds;
    }).catch(function () {});
  }
  areas().forEach(function (t) { t.dataset.edited = ""; t.addEventListener("input", function () { t.dataset.edited = "1"; show(t); eta(); }); show(t); });
  document.getElementById("kind").addEventListener("change", function (e) {
    areas().forEach(function (t) { if (!t.dataset.edited) { t.value = prefills[e.target.value][t.dataset.lang]; show(t); } });
    eta();
  });
  form.addEventListener("change", function (e) { if (e.target.tagName !== "TEXTAREA") { clearTimeout(timer); timer = setTimeout(reach, 150); } });
  form.addEventListener("input", function (e) { if (e.target.tagName === "INPUT" && e.target.type === "text" || e.target.id === "countries" || e.target.id === "wg") { clearTimeout(timer); timer = setTimeout(reach, 300); } });
  reach();
})();
