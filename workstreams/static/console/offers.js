/*
 * On every console page of an agent: the offers waiting for an answer (accept / decline, with a countdown),
 * the unread count in the tab title, and — when the agent switches it on — a desktop notification and a
 * short sound on a new offer or a new customer message. One small JSON poll (/console/offers/).
 *
 * Words come from Django's JavaScript catalog, in the page's language.
 */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var HIDDEN_POLL_MS = 10000;
  var MAX_BACKOFF_MS = 30000;
  var NOTIFY_KEY = "hub.console.notify";

  var gettext = window.gettext || function (text) { return text; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (whole, name) { return String(values[name]); });
  };
  function format(text, values) { return interpolate(text, values, true); }

  function $(selector, root) { return (root || document).querySelector(selector); }

  var root, list, errorLine, noticeLine, toggle, csrf, conversationUrl;
  var offers = {};          // id -> {data, deadline, element}
  var answered = {};        // ids this page answered (their disappearance is no news)
  var lastUnread = null;
  var audio = null;
  var baseTitle = document.title.replace(/^\(\d+\) /, "");
  var failures = 0, timer = null, stopped = false;

  function announce(text) {
    var region = $("#announcer");
    if (!region || !text) return;
    var line = document.createElement("p");
    line.textContent = text;
    region.appendChild(line);
    while (region.childNodes.length > 5) region.removeChild(region.firstChild);
  }

  function request(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({"Accept": "application/json"}, options.headers || {});
    return fetch(url, options).then(function (response) {
      return response.json().then(function (data) { return {ok: response.ok, status: response.status, data: data}; },
        function () { return {ok: false, status: response.status, data: {detail: gettext("The server answered unexpectedly. Reload the page.")}}; });
    }, function () {
      return {ok: false, status: 0, data: {detail: gettext("The server cannot be reached. Check the connection and try again.")}};
    });
  }

  /* ------------------------------------------------------------ notifications */

  function notifyOn() {
    try { return window.localStorage.getItem(NOTIFY_KEY) === "1"; } catch (e) { return false; }
  }

  function beep() {
    if (!audio) return;
    try {
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
      oscillator.connect(gain);
      gain.connect(audio.destination);
      oscillator.start();
      oscillator.stop(audio.currentTime + 0.35);
    } catch (e) { /* no sound on this device */ }
  }

  function notify(title, body, tag) {
    if (!notifyOn()) return;
    beep();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      var note = new Notification(title, {body: body, tag: tag});
      note.onclick = function () { window.focus(); note.close(); };
    } catch (e) { /* notifications refused by the browser */ }
  }

  function initToggle() {
    toggle = $("#notify-toggle");
    if (!toggle) return;
    toggle.checked = notifyOn();
    toggle.addEventListener("change", function () {
      try { window.localStorage.setItem(NOTIFY_KEY, toggle.checked ? "1" : "0"); } catch (e) { /* private mode */ }
      if (toggle.checked) {
        var Context = window.AudioContext || window.webkitAudioContext;
        if (Context && !audio) { try { audio = new Context(); } catch (e) { audio = null; } }
        if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
        announce(gettext("Desktop notifications and sound are on."));
      } else {
        announce(gettext("Desktop notifications and sound are off."));
      }
    });
    // A sound needs a gesture on the page first: the first click or key press prepares it.
    var prepare = function () {
      if (notifyOn() && !audio) {
        var Context = window.AudioContext || window.webkitAudioContext;
        if (Context) { try { audio = new Context(); } catch (e) { audio = null; } }
      }
      document.removeEventListener("click", prepare, true);
      document.removeEventListener("keydown", prepare, true);
    };
    document.addEventListener("click", prepare, true);
    document.addEventListener("keydown", prepare, true);
  }

  /* ------------------------------------------------------------ offers */

  function clock(seconds) {
    seconds = Math.max(0, Math.ceil(seconds));
    var minutes = Math.floor(seconds / 60), rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function button(label, className, onClick) {
    var element = document.createElement("button");
    element.type = "button";
    element.className = className;
    element.textContent = label;
    element.addEventListener("click", onClick);
    return element;
  }

  function answer(offer, url, accepting) {
    var buttons = offer.element.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    errorLine.textContent = "";
    var body = new FormData();
    body.append("csrfmiddlewaretoken", csrf);
    request(url, {method: "POST", body: body}).then(function (result) {
      if (result.ok) {
        answered[offer.data.id] = true;
        if (accepting) {
          window.location.href = result.data.redirect ||
            conversationUrl.replace(/\/0\/$/, "/" + offer.data.conversation + "/");
          return;
        }
        announce(result.data.detail);
        removeOffer(offer.data.id);
      } else {
        errorLine.textContent = result.data.detail || gettext("The offer could not be answered.");
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
        poll();
      }
    });
  }

  function render(data) {
    var item = document.createElement("li");
    item.className = "offer";
    item.id = "offer-" + data.id;
    item.setAttribute("data-offer", data.id);
    var head = document.createElement("p");
    head.className = "offer-head";
    var who = document.createElement("strong");
    who.textContent = data.customer;
    head.appendChild(document.createTextNode(gettext("New conversation offered:") + " "));
    head.appendChild(who);
    var where = document.createElement("span");
    where.className = "offer-where";
    where.textContent = " · " + data.channel + (data.queue ? " · " + data.queue : "");
    head.appendChild(where);
    item.appendChild(head);
    if (data.preview) {
      var preview = document.createElement("p");
      preview.className = "offer-preview";
      preview.textContent = data.preview;
      item.appendChild(preview);
    }
    var bar = document.createElement("progress");
    bar.className = "offer-bar";
    bar.max = data.timeout;
    bar.value = data.expires_in;
    bar.setAttribute("aria-hidden", "true");
    item.appendChild(bar);
    var count = document.createElement("span");
    count.className = "offer-countdown";
    item.appendChild(count);
    var entry = {data: data, deadline: Date.now() + data.expires_in * 1000, element: item, bar: bar, count: count};
    var accept = button(gettext("Accept"), "btn primary offer-accept", function () {
      answer(entry, data.accept_url, true);
    });
    accept.setAttribute("aria-label", format(gettext("Accept conversation with %(customer)s"), {customer: data.customer}));
    item.appendChild(accept);
    var decline = button(gettext("Decline"), "btn offer-decline", function () {
      answer(entry, data.decline_url, false);
    });
    decline.setAttribute("aria-label", format(gettext("Decline conversation with %(customer)s"), {customer: data.customer}));
    item.appendChild(decline);
    return entry;
  }

  function tick() {
    Object.keys(offers).forEach(function (id) {
      var entry = offers[id];
      var left = (entry.deadline - Date.now()) / 1000;
      entry.count.textContent = left > 0 ? format(gettext("Answer within %(time)s"), {time: clock(left)})
                                          : gettext("Time is up: the offer goes to the next agent.");
      entry.bar.value = Math.max(0, left);
      entry.element.classList.toggle("offer-urgent", left <= 10);
    });
  }

  function removeOffer(id) {
    var entry = offers[id];
    if (!entry) return;
    entry.element.remove();
    delete offers[id];
  }

  function apply(data) {
    var now = {};
    data.offers.forEach(function (item) {
      now[item.id] = true;
      var known = offers[item.id];
      if (known) {
        known.deadline = Date.now() + item.expires_in * 1000;
        return;
      }
      var entry = render(item);
      offers[item.id] = entry;
      list.appendChild(entry.element);
      announce(format(gettext("New conversation offered: %(customer)s. Accept or decline."), {customer: item.customer}));
      notify(gettext("New conversation offered"), item.customer + (item.preview ? ": " + item.preview : ""),
             "offer-" + item.id);
    });
    Object.keys(offers).forEach(function (id) {
      if (now[id]) return;
      var entry = offers[id];
      if (!answered[id]) {
        errorLine.textContent = format(gettext("The offer of %(customer)s is no longer yours: it timed out or someone else took it."),
                                       {customer: entry.data.customer});
      }
      removeOffer(id);
    });
    tick();
    noticeLine.textContent = data.notice || "";
    noticeLine.hidden = !data.notice;
    showPresence(data.presence);
    // A new message is news when the agent is not looking at the console; an offer always is.
    if (lastUnread !== null && data.unread_total > lastUnread && (document.hidden || !document.hasFocus())) {
      notify(gettext("New customer message"), format(gettext("%(count)s unread"), {count: data.unread_total}),
             "unread");
    }
    lastUnread = data.unread_total;
    document.title = (data.title_count ? "(" + data.title_count + ") " : "") + baseTitle;
  }

  /* The dashboard's presence switch follows a change the hub made (Away after missed offers). */
  function showPresence(presence) {
    var select = $("#presence-select");
    if (!select || !presence || select.value === presence || document.activeElement === select) return;
    select.value = presence;
    var dot = $(".presence-dot");
    if (dot) dot.className = "presence-dot presence-" + presence;
  }

  function schedule(ms) {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(poll, ms);
  }

  function poll() {
    return request(root.getAttribute("data-poll-url")).then(function (result) {
      if (result.ok) {
        failures = 0;
        apply(result.data);
      } else if (result.status === 401 || result.status === 403) {
        stopped = true;
        return;
      } else {
        failures += 1;
      }
      schedule(failures ? Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, failures))
                        : (document.hidden ? HIDDEN_POLL_MS : POLL_MS));
    });
  }

  function init() {
    root = $("#offers");
    if (!root) return;
    list = $("#offers-list", root);
    errorLine = $("#offers-error", root);
    noticeLine = $("#offers-notice", root);
    var token = $("input[name=csrfmiddlewaretoken]", root);
    csrf = token ? token.value : "";
    conversationUrl = root.getAttribute("data-conversation-url");
    initToggle();
    document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(0); });
    setInterval(tick, 1000);
    window.HubOffers = {poll: poll};
    poll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
