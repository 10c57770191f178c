// Progressive enhancement for the respondent pages: everything works without it.
// Adds a "bigger text" toggle (remembered on this phone) and read-aloud in zh-CN
// through the browser's own speech synthesis (no network, no third party).
(function () {
  "use strict";
  var root = document.documentElement;
  try { if (localStorage.getItem("bigger") === "1") root.classList.add("bigger"); } catch (e) {}
  document.addEventListener("DOMContentLoaded", function () {
    var tools = document.querySelector(".tools");
    if (!tools) return;
    tools.hidden = false;
    var read = tools.querySelector('[data-action="read"]');
    if (!("speechSynthesis" in window)) read.hidden = true;
    var bigger = tools.querySelector('[data-action="bigger"]');
    bigger.setAttribute("aria-pressed", String(root.classList.contains("bigger")));
    bigger.addEventListener("click", function () {
      var on = root.classList.toggle("bigger");
      bigger.setAttribute("aria-pressed", String(on));  // a toggle: say whether it is on
      try { localStorage.setItem("bigger", on ? "1" : "0"); } catch (e) {}
    });
    read.addEventListener("click", function () {
      var synth = window.speechSynthesis;
      if (synth.speaking) { synth.cancel(); return; }
      var parts = Array.prototype.map.call(document.querySelectorAll("[data-read]"), function (el) {
        return el.textContent.trim();
      });
      var utter = new SpeechSynthesisUtterance(parts.join("。"));
      utter.lang = root.lang === "en" ? "en-US" : "zh-CN";
      utter.rate = 0.85;  // slower speech for older listeners
      synth.speak(utter);
    });
    // A way out such as 都没用过 and the services exclude each other: ticking one clears the other.
    Array.prototype.forEach.call(document.querySelectorAll(".choices.multi input"), function (box) {
      box.addEventListener("change", function () {
        if (!box.checked) return;
        Array.prototype.forEach.call(document.querySelectorAll(".choices.multi input"), function (other) {
          if (other !== box && (box.hasAttribute("data-exclusive") || other.hasAttribute("data-exclusive"))) {
            other.checked = false;
          }
        });
      });
    });
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
    // Block a second tap on a submit button while the first is on its way.
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      form.addEventListener("submit", function () {
        setTimeout(function () {
          Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) { b.disabled = true; });
        }, 0);
      });
    });
  });
})();
