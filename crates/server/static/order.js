// The waiting pages' one script, shared by the identity provider's login page and My Pages'
// fetch page: it follows the order the page started. Served from this origin (the CSP
// forbids inline script). Without it the page still works: its launch link opens the eID
// app, and the app returns the browser itself when the order is done.
//
// It polls POST /orders/collect about every 2 s (4 s after a failed call) with the browser
// session's CSRF token from the status element, says the order's state there, and shows
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
    function call(path) {
      return fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ orderRef: orderRef })
      });
    }
    function poll() {
      if (done) { return; }
      call("/orders/collect").then(function (r) { return r.json(); }).then(function (c) {
        if (c.status === "pending") {
          say(c.hintCode || "outstandingTransaction", "pending");
          setTimeout(poll, 2000);
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
        call("/orders/cancel").then(function () { done = true; say("cancelled", "failed"); });
      });
    }
    setTimeout(poll, 1000);
  }
  return { follow: follow };
})();
