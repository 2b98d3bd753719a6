// Flash-sale countdowns tick every second; without this file the page shows the time left when it was loaded.
(function () {
  "use strict";
  var started = Date.now();
  var clocks = document.querySelectorAll("[data-countdown]");
  if (!clocks.length) return;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var passed = Math.floor((Date.now() - started) / 1000);
    clocks.forEach(function (el) {
      var left = Math.max(0, parseInt(el.getAttribute("data-countdown"), 10) - passed);
      var text = pad(Math.floor(left / 3600)) + ":" + pad(Math.floor((left % 3600) / 60)) + ":" + pad(left % 60);
      el.textContent = (el.getAttribute("data-prefix") || "") + text;
    });
  }
  tick();
  window.setInterval(tick, 1000);
})();
