/*
 * The agent console's behaviour: live updates (polling two small JSON endpoints), the reply box
 * (Enter sends, live character / encoding / segment count, quick replies on "/"), the template
 * picker, and posting forms with fetch. Everything works without it as plain forms; every rule is
 * the server's, and its refusals are shown as it words them.
 *
 * Its own words come from Django's JavaScript catalog (/i18n/js/, loaded first), in the page's language;
 * numbers are formatted for the language of the page (<html lang>).
 */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var HIDDEN_POLL_MS = 10000;
  var MAX_BACKOFF_MS = 30000;

  document.documentElement.classList.add("js");

  /* The JavaScript catalog's functions; English as written when the catalog did not load. */
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (singular, plural, count) { return count === 1 ? singular : plural; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (whole, name) { return String(values[name]); });
  };
  function format(text, values) { return interpolate(text, values, true); }

  var LANGUAGE = document.documentElement.lang || "en";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  function formatNumber(n) {
    try { return Number(n).toLocaleString(LANGUAGE); } catch (e) { return Number(n).toLocaleString(); }
  }

  function announce(text) {
    var region = $("#announcer");
    if (!region || !text) return;
    var line = document.createElement("p");
    line.textContent = text;
    region.appendChild(line);
    while (region.childNodes.length > 5) region.removeChild(region.firstChild);
  }

  function showConnection(text) {
    var banner = $("#connection");
    if (!banner) return;
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  /* fetch that always resolves to {ok, status, data}; data.detail explains a failure. */
  function request(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({"Accept": "application/json"}, options.headers || {});
    return fetch(url, options).then(function (response) {
      return response.json().then(function (data) {
        return {ok: response.ok, status: response.status, data: data};
      }, function () {
        return {ok: false, status: response.status,
                data: {detail: format(gettext("The server answered unexpectedly (HTTP %(status)s). Reload the page."),
                                      {status: response.status})}};
      });
    }, function () {
      return {ok: false, status: 0,
              data: {detail: gettext("The server cannot be reached. Check the connection and try again.")}};
    });
  }

  function postForm(form) {
    return request(form.action, {method: "POST", body: new FormData(form)});
  }

  function toElement(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  /* Replace a region's HTML, keeping keyboard focus on the "same" control when it is still there. */
  function replaceKeepingFocus(container, html) {
    var active = document.activeElement;
    var key = active && container.contains(active) ? active.getAttribute("data-focus-key") : null;
    var open = $all("details[id][open]", container).map(function (el) { return el.id; });
    container.innerHTML = html;
    open.forEach(function (id) {
      var again = document.getElementById(id);
      if (again && container.contains(again)) again.open = true;
    });
    if (key) {
      var again = container.querySelector('[data-focus-key="' + CSS.escape(key) + '"]');
      if (again) again.focus();
    }
  }

  /* Runs fn every POLL_MS (slower while the tab is hidden, backing off on errors); now() polls at once. */
  function Poller(fn) {
    var timer = null, busy = false, again = false, failures = 0, stopped = false;

    function delay() {
      if (failures) return Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, failures));
      return document.hidden ? HIDDEN_POLL_MS : POLL_MS;
    }

    function schedule(ms) {
      clearTimeout(timer);
      if (!stopped) timer = setTimeout(run, ms);
    }

    function run() {
      if (stopped) return;
      if (busy) { again = true; return; }
      busy = true;
      fn().then(function (result) {
        if (result.ok) {
          failures = 0;
          showConnection("");
          return;
        }
        if (result.status === 401 || result.status === 403) {
          stopped = true;
          showConnection(result.data.detail || gettext("Your session has ended; reload the page to log in again."));
          return;
        }
        failures += 1;
        showConnection(format(gettext("Live updates paused: %(reason)s Retrying…"),
                              {reason: result.data.detail || gettext("the server did not answer.")}));
      }).then(function () {
        busy = false;
        if (again) { again = false; schedule(0); } else { schedule(delay()); }
      });
    }

    document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(0); });
    return {start: function () { schedule(POLL_MS); }, now: function () { schedule(0); }};
  }

  /* ---------------------------------------------------------------- dashboard */

  function initDashboard() {
    var lists = $("#dashboard-lists");
    if (!lists) return;
    var signature = lists.getAttribute("data-signature");
    var baseTitle = document.title.replace(/^\(\d+\) /, "");
    var known = {};
    $all("[data-conversation]", lists).forEach(function (row) { known[row.getAttribute("data-conversation")] = true; });

    var presenceForm = $(".js-presence");
    if (presenceForm) {
      var select = $("select", presenceForm);
      select.addEventListener("change", function () {
        var error = $("#presence-error", presenceForm);
        error.textContent = "";
        postForm(presenceForm).then(function (result) {
          var dot = $(".presence-dot", presenceForm);
          if (result.ok) {
            if (dot) dot.className = "presence-dot presence-" + result.data.presence;
            announce(result.data.detail);
            poller.now();
          } else {
            error.textContent = result.data.detail || gettext("Presence was not changed.");
          }
        });
      });
    }

    var poller = Poller(function () {
      var url = lists.getAttribute("data-updates-url") + "?signature=" + encodeURIComponent(signature || "");
      return request(url).then(function (result) {
        if (!result.ok) return result;
        var data = result.data;
        if (data.html !== null && data.html !== undefined) {
          replaceKeepingFocus(lists, data.html);
          signature = data.signature;
        }
        var now = {};
        data.items.forEach(function (item) {
          now[item.id] = true;
          if (!known[item.id]) {
            announce(format(item.list === "queued" ? gettext("New conversation waiting: %(customer)s")
                                                   : gettext("New conversation assigned to you: %(customer)s"),
                            {customer: item.label}));
          }
        });
        known = now;
        document.title = (data.unread_total ? "(" + data.unread_total + ") " : "") + baseTitle;
        return result;
      });
    });
    poller.start();
  }

  /* ---------------------------------------------------------------- inbox */

  function initInbox() {
    var lists = $("#inbox-list");
    if (!lists) return;
    var signature = lists.getAttribute("data-signature");
    var filters = $("#inbox-filters");
    if (filters) {
      $all("select", filters).forEach(function (select) {
        select.addEventListener("change", function () { filters.requestSubmit(); });
      });
    }
    var poller = Poller(function () {
      var params = new URLSearchParams(window.location.search);
      params.set("signature", signature || "");
      return request(lists.getAttribute("data-updates-url") + "?" + params.toString()).then(function (result) {
        if (!result.ok) return result;
        if (result.data.html !== null && result.data.html !== undefined) {
          replaceKeepingFocus(lists, result.data.html);
          signature = result.data.signature;
        }
        return result;
      });
    });
    poller.start();
  }

  /* ---------------------------------------------------------------- conversation */

  function initConversation() {
    var root = $("#conversation-root");
    if (!root) return;
    var after = parseInt(root.getAttribute("data-after"), 10) || 0;
    var notesAfter = parseInt(root.getAttribute("data-notes-after"), 10) || 0;
    var cursor = root.getAttribute("data-cursor") || "";
    var header = $("#conv-header");
    var thread = $("#thread");
    var list = $("#thread-list");
    var composer = $("#composer");
    var form = $("#reply-form");
    var textarea = $("#reply-body");
    var counter = $("#reply-count");
    var sendButton = $("#reply-send");
    var replyError = $("#reply-error");
    var freeTextDisabled = textarea ? textarea.disabled : true;
    var sending = false;

    function nearBottom() { return thread.scrollHeight - thread.scrollTop - thread.clientHeight < 120; }
    function toBottom() { thread.scrollTop = thread.scrollHeight; }
    toBottom();

    /* Live updates */

    function insertMessage(item) {
      var element = toElement(item.html);
      var children = list.children;
      for (var i = 0; i < children.length; i++) {
        if ((children[i].getAttribute("data-order") || "") > item.order) {
          list.insertBefore(element, children[i]);
          return;
        }
      }
      list.appendChild(element);
    }

    function applyUpdates(data) {
      var stick = nearBottom();
      var added = false;
      data.messages.forEach(function (item) {
        var existing = document.getElementById("msg-" + item.id);
        if (!existing) {
          insertMessage(item);
          added = true;
        } else if (existing.getAttribute("data-version") !== item.version) {
          existing.setAttribute("data-version", item.version);
          var status = $('[data-part="status"]', existing);
          if (status) replaceKeepingFocus(status, item.status_html);
          var files = $('[data-part="attachments"]', existing);
          if (files) files.innerHTML = item.attachments_html;
        }
      });
      if (added) {
        var empty = $("#thread-empty");
        if (empty) empty.remove();
        if (stick) toBottom();
      }
      (data.notes || []).forEach(function (item) {
        if (document.getElementById("note-" + item.id)) return;
        insertMessage(item);
        added = true;
      });
      if (added) {
        var none = $("#thread-empty");
        if (none) none.remove();
        if (stick) toBottom();
      }
      notesAfter = Math.max(notesAfter, data.last_note_id || 0);
      after = Math.max(after, data.last_id);
      cursor = data.cursor;

      var state = data.conversation;
      if (state.header_html) {
        replaceKeepingFocus(header, state.header_html);
        header.setAttribute("data-version", state.version);
        var label = $("#conv-state", header);
        if (label) announce(format(gettext("Conversation state: %(state)s"), {state: label.textContent.trim()}));
      }
      var notice = $("#window-notice");
      if (notice && notice.innerHTML.trim() !== state.window.html.trim()) notice.innerHTML = state.window.html;
      setFreeText(state.composer ? state.composer.disabled : (state.closed || (state.window.applies && !state.window.open)));
      var reason = $("#composer-reason");
      if (reason && state.composer) {
        var optedOut = state.composer.code === "opted_out";
        reason.hidden = !optedOut;
        reason.textContent = optedOut ? state.composer.reason : "";
      }
      composer.classList.toggle("window-closed", state.window.applies && !state.window.open);
      composer.classList.toggle("is-closed", state.closed);
      var templates = $("#template-form");
      if (templates && !templates.hasAttribute("data-follow-up")) {
        $all("select, button", templates).forEach(function (el) { el.disabled = state.closed; });
      }
    }

    function setFreeText(disabled) {
      if (disabled === freeTextDisabled) return;
      freeTextDisabled = disabled;
      if (textarea) textarea.disabled = disabled;
      var media = $("#reply-media");
      if (media) media.disabled = disabled;
      if (sendButton) sendButton.disabled = disabled || sending;
    }

    var poller = Poller(function () {
      var params = new URLSearchParams({
        after: String(after), notes_after: String(notesAfter), since: cursor, version: header.getAttribute("data-version") || "",
        seen: document.visibilityState === "visible" ? "1" : "0"
      });
      var pending = {};
      $all(".attachment-pending", list).forEach(function (el) {
        var message = el.closest(".msg");
        if (message) pending[message.getAttribute("data-id")] = true;
      });
      if (Object.keys(pending).length) params.set("pending", Object.keys(pending).join(","));
      return request(root.getAttribute("data-updates-url") + "?" + params.toString()).then(function (result) {
        if (result.ok) applyUpdates(result.data);
        return result;
      });
    });
    poller.start();

    /* Reply box: counter, Enter to send, quick replies */

    function updateCounter() {
      if (!textarea || !counter || !window.HubSegments) return;
      var info = window.HubSegments.count(textarea.value);
      var limit = parseInt(counter.getAttribute("data-limit"), 10);
      var parts = [
        format(gettext("%(count)s / %(limit)s characters"), {count: formatNumber(info.characters),
                                                            limit: formatNumber(limit)})
      ];
      // SMS only: WhatsApp sends one message whatever its length, with no encoding or segments to count.
      if (counter.getAttribute("data-segments") !== "no") {
        parts.push(info.encoding, format(ngettext("%(count)s segment", "%(count)s segments", info.segments),
                                         {count: formatNumber(info.segments)}));
      }
      var over = info.characters > limit;
      if (over) {
        parts.push(format(gettext("%(count)s over the limit"), {count: formatNumber(info.characters - limit)}));
      }
      var text = parts.join(" · ");
      counter.textContent = text;
      counter.classList.toggle("over", over);
      showPlaceholders();
    }

    /* Placeholders a quick reply could not fill ({AgentName} with no name): highlighted until replaced. */
    var PLACEHOLDERS = /\{(CustomerName|CustomerNumber|AgentName|QueueName|ConversationId)(\|[^{}]*)?\}/g;
    var placeholderWarning = $("#reply-placeholders");

    function unresolved() {
      var found = [];
      (textarea.value.match(PLACEHOLDERS) || []).forEach(function (p) { if (found.indexOf(p) === -1) found.push(p); });
      return found;
    }

    function showPlaceholders() {
      if (!placeholderWarning) return [];
      var found = unresolved();
      placeholderWarning.hidden = !found.length;
      placeholderWarning.textContent = found.length ? format(
        ngettext("Replace %(placeholders)s with the right text before sending.",
                 "Replace %(placeholders)s with the right text before sending.", found.length),
        {placeholders: found.join(", ")}) : "";
      textarea.classList.toggle("has-placeholders", found.length > 0);
      return found;
    }

    var replies = [];
    var repliesScript = $("#quick-replies");
    if (repliesScript) {
      try { replies = JSON.parse(repliesScript.textContent) || []; } catch (e) { replies = []; }
    }
    var quickList = $("#quick-list");
    var quick = {open: false, matches: [], active: 0, start: 0};

    function closeQuick() {
      if (!quickList) return;
      quick.open = false;
      quickList.hidden = true;
      quickList.innerHTML = "";
      textarea.removeAttribute("aria-activedescendant");
    }

    function renderQuick() {
      quickList.innerHTML = "";
      quick.matches.forEach(function (reply, index) {
        var option = document.createElement("li");
        option.id = "quick-" + reply.id;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", index === quick.active ? "true" : "false");
        var title = document.createElement("strong");
        title.textContent = reply.title;
        option.appendChild(title);
        if (reply.language) {
          var lang = document.createElement("span");
          lang.className = "badge";
          lang.textContent = reply.language;
          option.appendChild(lang);
        }
        var body = document.createElement("span");
        body.className = "quick-text";
        body.textContent = reply.text;
        option.appendChild(body);
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          chooseQuick(index);
        });
        quickList.appendChild(option);
      });
      var active = quick.matches[quick.active];
      if (active) {
        textarea.setAttribute("aria-activedescendant", "quick-" + active.id);
        var element = document.getElementById("quick-" + active.id);
        if (element) element.scrollIntoView({block: "nearest"});
      }
    }

    function searchQuick() {
      if (!quickList || !replies.length) return;
      var caret = textarea.selectionStart;
      var before = textarea.value.slice(0, caret);
      var match = /(^|\s)\/([^\s\/]*)$/.exec(before);
      if (!match) { closeQuick(); return; }
      var query = match[2].toLowerCase();
      var matches = replies.filter(function (reply) {
        return (reply.title + " " + reply.text).toLowerCase().indexOf(query) !== -1;
      }).slice(0, 8);
      if (!matches.length) { closeQuick(); return; }
      var wasOpen = quick.open, previousCount = quick.matches.length;
      quick = {open: true, matches: matches, active: 0, start: caret - match[2].length - 1};
      quickList.hidden = false;
      renderQuick();
      if (!wasOpen || previousCount !== matches.length) {
        announce(format(ngettext(
          "%(count)s quick reply: arrow keys to choose, Enter to insert, Escape to close.",
          "%(count)s quick replies: arrow keys to choose, Enter to insert, Escape to close.",
          matches.length), {count: formatNumber(matches.length)}));
      }
    }

    function chooseQuick(index) {
      var reply = quick.matches[index];
      if (!reply) return;
      var caret = textarea.selectionStart;
      var value = textarea.value;
      textarea.value = value.slice(0, quick.start) + reply.text + value.slice(caret);
      var position = quick.start + reply.text.length;
      textarea.setSelectionRange(position, position);
      closeQuick();
      updateCounter();
      textarea.focus();
    }

    function submitReply(event) {
      event.preventDefault();
      if (sending) return;
      if (showPlaceholders().length) {
        textarea.focus();
        var first = textarea.value.search(PLACEHOLDERS);
        if (first >= 0) textarea.setSelectionRange(first, textarea.value.indexOf("}", first) + 1);
        return;
      }
      sending = true;
      sendButton.disabled = true;
      replyError.textContent = "";
      postForm(form).then(function (result) {
        if (result.ok) {
          textarea.value = "";
          var media = $("#reply-media");
          if (media) media.value = "";
          updateCounter();
          poller.now();
        } else {
          replyError.textContent = result.data.detail || gettext("The reply was not sent.");
        }
      }).then(function () {
        sending = false;
        sendButton.disabled = freeTextDisabled;
        if (!freeTextDisabled) textarea.focus();
      });
    }

    if (form && textarea) {
      // A refusal is about the text that was sent: once the text changes it no longer applies.
      textarea.addEventListener("input", function () { replyError.textContent = ""; updateCounter(); searchQuick(); });
      var mediaBox = $("#reply-media");
      if (mediaBox) mediaBox.addEventListener("input", function () { replyError.textContent = ""; });
      textarea.addEventListener("click", searchQuick);
      textarea.addEventListener("blur", function () { setTimeout(closeQuick, 150); });
      textarea.addEventListener("keydown", function (event) {
        if (quick.open) {
          if (event.key === "ArrowDown" || event.key === "ArrowUp") {
            event.preventDefault();
            var step = event.key === "ArrowDown" ? 1 : -1;
            quick.active = (quick.active + step + quick.matches.length) % quick.matches.length;
            renderQuick();
            return;
          }
          if (event.key === "Enter" || event.key === "Tab") {
            event.preventDefault();
            chooseQuick(quick.active);
            return;
          }
          if (event.key === "Escape") {
            event.preventDefault();
            closeQuick();
            return;
          }
        }
        if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey &&
            !event.isComposing) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
      form.addEventListener("submit", submitReply);
      updateCounter();
      if (!freeTextDisabled && !document.querySelector(".flash[role=alert]")) textarea.focus({preventScroll: true});
    }

    /* Internal notes: kept at once, shown in the thread by the next update; never sent to the customer. */
    var noteForm = $("#note-form");
    if (noteForm) {
      var noteBody = $("#note-body", noteForm);
      var noteError = $("#note-error", noteForm);
      noteBody.addEventListener("input", function () { noteError.textContent = ""; });
      noteForm.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = $("#note-add", noteForm);
        button.disabled = true;
        noteError.textContent = "";
        postForm(noteForm).then(function (result) {
          if (result.ok) {
            noteBody.value = "";
            announce(result.data.detail);
            poller.now();
          } else {
            noteError.textContent = result.data.detail || gettext("The note was not added.");
          }
          button.disabled = false;
        });
      });
    }

    /* Retry buttons (the thread's forms are replaced by live updates: delegate) */

    var threadError = $("#thread-error");
    list.addEventListener("submit", function (event) {
      var retry = event.target.closest("form.js-retry");
      if (!retry) return;
      event.preventDefault();
      var button = $("button", retry);
      if (button) button.disabled = true;
      postForm(retry).then(function (result) {
        if (threadError) threadError.textContent = result.ok ? "" : (result.data.detail || gettext("The retry failed."));
        if (result.ok) announce(result.data.detail);
        if (button) button.disabled = false;
        poller.now();
      });
    });

    /* Template picker */

    var templateForm = $("#template-form");
    if (templateForm) {
      var picker = $("#template-select", templateForm);
      var preview = $("#template-preview", templateForm);
      var templateError = $("#template-error", templateForm);

      var chosen = function () {
        return $('.template-vars[data-template="' + CSS.escape(picker.value) + '"]', templateForm);
      };
      var showChosen = function () {
        $all(".template-vars", templateForm).forEach(function (fieldset) {
          var on = fieldset === chosen();
          fieldset.hidden = !on;
          fieldset.disabled = !on;
        });
        renderPreview();
      };
      var renderPreview = function () {
        var fieldset = chosen();
        if (!fieldset) { preview.textContent = ""; return; }
        var values = Object.create(null);
        $all("input[data-var]", fieldset).forEach(function (input) {
          values[input.getAttribute("data-var")] = input.value;
        });
        // The send service's rule: {{1}} and {{ 1 }} are the same variable.
        preview.textContent = fieldset.getAttribute("data-text").replace(/\{\{\s*(\w+)\s*\}\}/g, function (whole, name) {
          return values[name] || whole;
        });
      };
      templateForm.classList.add("enhanced");
      picker.addEventListener("change", showChosen);
      templateForm.addEventListener("input", function () { templateError.textContent = ""; renderPreview(); });
      picker.addEventListener("change", function () { templateError.textContent = ""; });
      templateForm.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = $("#template-send", templateForm);
        button.disabled = true;
        templateError.textContent = "";
        postForm(templateForm).then(function (result) {
          if (result.ok && result.data.redirect && templateForm.hasAttribute("data-follow-up")) {
            window.location.assign(result.data.redirect);
            return;
          }
          if (result.ok) {
            $all("input[data-var]", templateForm).forEach(function (input) { input.value = ""; });
            renderPreview();
            announce(gettext("Template sent."));
            poller.now();
          } else {
            templateError.textContent = result.data.detail || gettext("The template was not sent.");
          }
          button.disabled = false;
        });
      });
      showChosen();
    }
  }

  /* Flash messages: a button to dismiss each; confirmations leave by themselves after a while. */
  function initFlash() {
    $all(".flash").forEach(function (flash) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "flash-dismiss";
      button.setAttribute("aria-label", gettext("Dismiss"));
      button.textContent = "×";
      button.addEventListener("click", function () { flash.remove(); });
      flash.appendChild(button);
      if (flash.classList.contains("flash-success")) setTimeout(function () { flash.remove(); }, 8000);
    });
  }

  /* Forms that cannot be undone (force-close) ask first; delegated, since live updates replace the header. */
  function initConfirm() {
    document.addEventListener("submit", function (event) {
      var form = event.target.closest("form[data-confirm]");
      if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    }, true);
  }

  function init() {
    initFlash();
    initConfirm();
    var page = document.body.getAttribute("data-page");
    if (page === "dashboard") initDashboard();
    if (page === "conversation") initConversation();
    if (page === "inbox") initInbox();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
