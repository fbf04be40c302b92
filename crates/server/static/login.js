// The login page's words for the waiting pages' script (order.js): the state of an `auth`
// order as the card holder reads it, in Swedish and English.
"use strict";
eidOrder.follow({
  sv: {
    outstandingTransaction: "Starta eID-appen.",
    started: "eID-appen har öppnats. Sätt i ditt kort.",
    userSign: "Skriv in din säkerhetskod i eID-appen.",
    cardRemoved: "Kortet togs bort. Sätt i det igen.",
    noCardReader: "Ingen kortläsare hittades.",
    cardNotActivated: "Kortet är inte aktiverat.",
    wrongCard: "Fel kort.",
    pending: "Inloggningen pågår. Följ anvisningarna i eID-appen.",
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
    cardRemoved: "The card was removed. Insert it again.",
    noCardReader: "No card reader was found.",
    cardNotActivated: "The card is not activated.",
    wrongCard: "Wrong card.",
    pending: "The login is in progress. Follow the instructions in the eID app.",
    complete: "Done. The login continues in the window the eID app opened.",
    expiredTransaction: "The time ran out. Reload the page and try again.",
    userCancel: "The login was cancelled in the eID app.",
    cancelled: "The login was cancelled.",
    pinBlocked: "The security code is blocked. Follow the instructions in the eID app.",
    certificateErr: "The card cannot be used to log in.",
    startFailed: "The login could not be completed. Please try again.",
    failed: "The login failed. Please try again.",
    error: "Lost contact with the server. Retrying …"
  }
});
