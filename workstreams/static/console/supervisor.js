/*
 * The supervisor view's live updates: polls the board's JSON endpoint every few seconds (slower while the
 * tab is hidden, backing off on errors) and replaces the board when what it shows changed. While the
 * supervisor is using one of the board's forms (a list open, a reason being typed), the new board waits
 * until they are done, so a refresh never takes a choice away. Without JavaScript the page is plain forms.
 */
(function () {
  "use strict";

  var POLL_MS = 3000;
  var HIDDEN_POLL_MS = 15000;
  var MAX_BACKOFF_MS = 30000;
  var gettext = window.gettext || function (text) { return text; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (whole, name) { return String(values[name]); });
  };

  function showConnection(text) {
    var banner = document.getElementById("connection");
    if (!banner) return;
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  function init() {
    var board = document.getElementById("supervisor-board");
    if (!board) return;
    var url = board.getAttribute("data-updates-url");
    var pending = null, timer = null, failures = 0, stopped = false, baseTitle = document.title.replace(/^\(\d+\) /, "");

    function busy() {
      var active = document.activeElement;
      if (active && board.contains(active) && /^(SELECT|INPUT|TEXTAREA)$/.test(active.tagName)) return true;
      if (board.querySelector("details[open]")) return true;
      return Array.prototype.some.call(board.querySelectorAll("select"), function (select) { return select.value !== ""; });
    }

    function apply() {
      if (pending === null || busy()) return;
      var active = document.activeElement;
      var key = active && board.contains(active) ? active.getAttribute("data-focus-key") : null;
      board.innerHTML = pending.html;
      board.setAttribute("data-signature", pending.signature);
      pending = null;
      if (key) {
        var again = board.querySelector('[data-focus-key="' + CSS.escape(key) + '"]');
        if (again) again.focus();
      }
    }

    function schedule(ms) {
      clearTimeout(timer);
      if (!stopped) timer = setTimeout(poll, ms);
    }

    function poll() {
      var query = "?signature=" + encodeURIComponent(board.getAttribute("data-signature") || "");
      fetch(url + query, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (response) {
        return response.json().then(function (data) { return {ok: response.ok, status: response.status, data: data}; },
          function () { return {ok: false, status: response.status, data: {}}; });
      }, function () { return {ok: false, status: 0, data: {}}; }).then(function (result) {
        if (result.ok) {
          failures = 0;
          showConnection("");
          document.title = (result.data.waiting_total ? "(" + result.data.waiting_total + ") " : "") + baseTitle;
          if (result.data.html) { pending = {html: result.data.html, signature: result.data.signature}; apply(); }
        } else if (result.status === 401 || result.status === 403) {
          stopped = true;
          showConnection(result.data.detail || gettext("Your session has ended; reload the page to log in again."));
        } else {
          failures += 1;
          showConnection(interpolate(gettext("Live updates paused: %(reason)s Retrying…"),
                                     {reason: result.data.detail || gettext("the server did not answer.")}, true));
        }
        var delay = failures ? Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, failures))
                             : (document.hidden ? HIDDEN_POLL_MS : POLL_MS);
        schedule(delay);
      });
    }

    board.addEventListener("focusout", function () { setTimeout(apply, 0); });
    board.addEventListener("toggle", function () { setTimeout(apply, 0); }, true);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(0); });
    schedule(POLL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
