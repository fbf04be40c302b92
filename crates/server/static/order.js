// The waiting pages' one script, shared by the identity provider's login page and My Pages'
// fetch page: it follows the order the page started. Served from this origin (the CSP
// forbids inline script). Without it the page still works: its launch link opens the eID
// app, and the app returns the browser itself when the order is done.
//
// It long-polls POST /orders/collect with the browser session's CSRF token from the status
// element: after the first answer each call carries the status and hint the page shows, and
// the server answers when the order differs from them (or after about 25 s); a failed call
// is tried again after 4 s. It says the order's state in the status element, and shows
// the cancel button (hidden without script), which calls POST /orders/cancel. The words are
// the page's: its own small script (login.js, mypages.js) calls
// eidOrder.follow({ sv: {…}, en: {…} }) with a text per hint code and the fallbacks
// `pending`, `complete`, `failed`, `cancelled` and `error`; a hint code without a text of
// its own (clients must expect new ones) gets the fallback of its status.
"use strict";
var eidOrder = (function () {
  function follow(texts) {
    var status = document.getElementById("status");
    if (!status) { return; }
    var orderRef = status.getAttribute("data-order-ref");
    var csrf = status.getAttribute("data-csrf");
    var words = document.documentElement.lang === "en" ? texts.en : texts.sv;
    var done = false;
    function say(key, fallback) {
      var own = key && Object.prototype.hasOwnProperty.call(words, key);
      status.textContent = own ? words[key] : words[fallback];
    }
    // What the page shows: sent with each collect after the first.
    var known = null;
    function call(path, body) {
      return fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body)
      });
    }
    function poll() {
      if (done) { return; }
      var body = { orderRef: orderRef };
      if (known) { body.status = known.status; body.hintCode = known.hintCode; }
      call("/orders/collect", body).then(function (r) { return r.json(); }).then(function (c) {
        if (c.status === "pending") {
          known = { status: c.status, hintCode: c.hintCode };
          say(c.hintCode || "outstandingTransaction", "pending");
          setTimeout(poll, 100);
        } else if (c.status === "complete") {
          done = true; say("complete", "complete");
        } else {
          done = true; say(c.hintCode || "failed", "failed");
        }
      }).catch(function () { say("error", "error"); setTimeout(poll, 4000); });
    }
    var cancel = document.getElementById("cancel");
    if (cancel) {
      cancel.hidden = false;
      cancel.addEventListener("click", function () {
        call("/orders/cancel", { orderRef: orderRef }).then(function () { done = true; say("cancelled", "failed"); });
      });
    }
    setTimeout(poll, 1000);
  }
  return { follow: follow };
})();
