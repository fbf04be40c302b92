// The login page's script: polls the order's state and offers cancel. Served from this
// origin (the CSP forbids inline script). The eID app returns the browser itself.
"use strict";
(function () {
  var status = document.getElementById("status");
  if (!status) { return; }
  var orderRef = status.getAttribute("data-order-ref");
  var csrf = status.getAttribute("data-csrf");
  var lang = document.documentElement.lang === "en" ? "en" : "sv";
  var words = {
    sv: {
      outstandingTransaction: "Starta eID-appen.",
      started: "eID-appen har öppnats. Sätt i ditt kort.",
      userSign: "Skriv in din säkerhetskod i eID-appen.",
      cardRemoved: "Kortet togs bort. Sätt i det igen.",
      noCardReader: "Ingen kortläsare hittades.",
      cardNotActivated: "Kortet är inte aktiverat.",
      wrongCard: "Fel kort.",
      complete: "Klart. Inloggningen fortsätter i fönstret som eID-appen öppnade.",
      expiredTransaction: "Tiden gick ut. Ladda om sidan och försök igen.",
      userCancel: "Inloggningen avbröts i eID-appen.",
      cancelled: "Inloggningen avbröts.",
      pinBlocked: "Säkerhetskoden är spärrad. Följ anvisningen i eID-appen.",
      certificateErr: "Kortet kan inte användas för inloggning.",
      startFailed: "Inloggningen kunde inte slutföras. Försök igen.",
      failed: "Inloggningen misslyckades. Försök igen.",
      error: "Kontakten med servern bröts. Försöker igen …"
    },
    en: {
      outstandingTransaction: "Start the eID app.",
      started: "The eID app has opened. Insert your card.",
      userSign: "Enter your security code in the eID app.",
      complete: "Done. The login continues in the window the eID app opened.",
      failed: "The login failed. Please try again.",
      error: "Lost contact with the server. Retrying …"
    }
  }[lang];
  var done = false;
  function say(key) { status.textContent = words[key] || words.failed; }
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
        say(c.hintCode || "outstandingTransaction");
        setTimeout(poll, 2000);
      } else if (c.status === "complete") {
        done = true; say("complete");
      } else {
        done = true; say(c.hintCode || "failed");
      }
    }).catch(function () { say("error"); setTimeout(poll, 4000); });
  }
  var cancel = document.getElementById("cancel");
  if (cancel) {
    cancel.addEventListener("click", function () {
      call("/orders/cancel").then(function () { done = true; say("cancelled"); });
    });
  }
  setTimeout(poll, 1000);
})();
