// Click anything with a time (data-t) to play the recording from there; the current
// transcript line and a playhead on every chart follow the audio.
(function () {
  "use strict";
  var audio = document.getElementById("player");
  var lines = Array.prototype.slice.call(document.querySelectorAll("#transcript li[data-t]"));
  var heads = document.querySelectorAll(".playhead");
  var duration = parseFloat(document.body.getAttribute("data-duration")) || 1;
  var width = parseFloat(document.body.getAttribute("data-width")) || 1000;
  var current = null;

  function seek(t) {
    if (!audio) { show(t); return; }
    audio.currentTime = t;
    show(t);
    var playing = audio.play();
    // A browser may refuse to play (no sound device, autoplay rules); seeking still worked.
    if (playing && playing.catch) { playing.catch(function () {}); }
  }

  function show(t) {
    var x = Math.max(0, Math.min(t, duration)) / duration * width;
    for (var i = 0; i < heads.length; i++) { heads[i].setAttribute("x1", x); heads[i].setAttribute("x2", x); }
    var line = null;
    for (var j = 0; j < lines.length; j++) {
      if (parseFloat(lines[j].getAttribute("data-t")) <= t + 0.05) { line = lines[j]; } else { break; }
    }
    if (line !== current) {
      if (current) { current.classList.remove("now"); }
      if (line) { line.classList.add("now"); }
      current = line;
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-t]") : null;
    if (!target) { return; }
    event.preventDefault();
    seek(parseFloat(target.getAttribute("data-t")));
  });
  document.addEventListener("keydown", function (event) {
    var target = event.target.closest ? event.target.closest("[data-t]") : null;
    if (target && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      seek(parseFloat(target.getAttribute("data-t")));
    }
  });
  if (audio) { audio.addEventListener("timeupdate", function () { show(audio.currentTime); }); }
})();
