// Error texts in the user's language. An API error carries `code` + `params` (the error
// catalogue, agent_console/web/error_catalogue.py); the page holds the catalogue's texts
// of the user's language (`<script id="problems">`, or the console's boot data). The
// server's `message` is the fallback. Plain JS, no build step.
"use strict";
window.problemText = (function () {
  function texts() {
    const own = document.getElementById("problems");
    if (own) return JSON.parse(own.textContent);
    const boot = document.getElementById("boot");
    return (boot && JSON.parse(boot.textContent).problems) || {};
  }
  const T = texts();
  // an error answer or a socket frame: {error_id, message, code?, params?}; without a
  // code (a socket frame, a route not on declared operations yet) the error_id's text
  return function problemText(data, fallback) {
    data = data || {};
    const idCode = data.error_id ? "error." + String(data.error_id).split("-").join("_") : "";
    const template = T[data.code] || T[idCode];
    if (!template) return data.message || fallback || data.error_id || "";
    let text = template;
    for (const [k, v] of Object.entries(data.params || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  };
})();
