/*
 * SMS encoding and segment count: the rules of channels_app/segments.py (3GPP TS 23.038), for display.
 *
 * A text that uses only the GSM 03.38 basic set and its extension table goes as GSM-7: 160 septets in
 * one segment, 153 per segment when concatenated; an extension character takes two septets (ESC + char)
 * and is never split across segments. Anything else makes the whole text UCS-2: 70 UTF-16 code units in
 * one segment, 67 when concatenated; a character outside the BMP takes two units and is never split.
 * Characters are counted as code points, like Python's len(). The server counts again and enforces.
 */
(function (root) {
  "use strict";

  var GSM7_BASIC = new Set(Array.from(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
  ));
  var GSM7_EXTENSION = new Set(Array.from("\f^{}\\[~]|€"));

  var GSM7_SINGLE = 160, GSM7_MULTI = 153;
  var UCS2_SINGLE = 70, UCS2_MULTI = 67;

  function isGsm7Char(c) {
    return GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c);
  }

  function pack(sizes, single, multi) {
    var total = 0, i;
    for (i = 0; i < sizes.length; i++) total += sizes[i];
    if (total === 0) return 0;
    if (total <= single) return 1;
    var segments = 1, used = 0;
    for (i = 0; i < sizes.length; i++) {
      // An indivisible unit that does not fit starts the next segment.
      if (used + sizes[i] > multi) {
        segments += 1;
        used = 0;
      }
      used += sizes[i];
    }
    return segments;
  }

  function sum(sizes) {
    var total = 0;
    for (var i = 0; i < sizes.length; i++) total += sizes[i];
    return total;
  }

  function count(text) {
    var chars = Array.from(text || "");  // code points, as Python iterates a str
    var sizes;
    if (chars.every(isGsm7Char)) {
      sizes = chars.map(function (c) { return GSM7_EXTENSION.has(c) ? 2 : 1; });
      return {encoding: "GSM-7", units: sum(sizes), segments: pack(sizes, GSM7_SINGLE, GSM7_MULTI),
              characters: chars.length};
    }
    sizes = chars.map(function (c) { return c.codePointAt(0) > 0xFFFF ? 2 : 1; });
    return {encoding: "UCS-2", units: sum(sizes), segments: pack(sizes, UCS2_SINGLE, UCS2_MULTI),
            characters: chars.length};
  }

  root.HubSegments = {
    count: count,
    isGsm7: function (text) { return Array.from(text || "").every(isGsm7Char); }
  };
})(window);
