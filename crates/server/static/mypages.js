// My Pages' fetch page's words for the waiting pages' script (order.js): the state of an
// `enrollSign` order as the card holder reads it, in Swedish and English. The eID app
// returns the browser itself (to /mypages/fetch/return) when the certificate is on the card.
"use strict";
eidOrder.follow({
  sv: {
    outstandingTransaction: "Starta eID-appen.",
    started: "Hämtningen startar. Följ anvisningarna i eID-appen.",
    userSign: "Hämtningen startar. Ta inte ut kortet ur kortläsaren.",
    pending: "Hämtningen pågår. Ta inte ut kortet ur kortläsaren.",
    complete: "Hämtningen är klar. Du kommer tillbaka till Mina sidor i fönstret som eID-appen öppnade.",
    expiredTransaction: "Tiden gick ut. Gå tillbaka till Mina sidor och försök igen.",
    userCancel: "Hämtningen avbröts i eID-appen.",
    cancelled: "Hämtningen avbröts.",
    cardRemoved: "Kortet togs ut. Sätt i det och försök igen: inget har gått förlorat.",
    pinBlocked: "Koden är spärrad. Följ anvisningen i eID-appen.",
    certificateErr: "Kortet kan inte användas för hämtningen.",
    alreadyInProgress: "En annan hämtning till kortet pågår redan.",
    startFailed: "Hämtningen kunde inte slutföras. Försök igen.",
    failed: "Hämtningen misslyckades. Gå tillbaka till Mina sidor och försök igen.",
    error: "Kontakten med servern bröts. Försöker igen …"
  },
  en: {
    outstandingTransaction: "Start the eID app.",
    started: "The fetch is starting. Follow the instructions in the eID app.",
    userSign: "The fetch is starting. Do not remove the card from the reader.",
    pending: "The fetch is in progress. Do not remove the card from the reader.",
    complete: "The fetch is done. You return to My Pages in the window the eID app opened.",
    expiredTransaction: "The time ran out. Go back to My Pages and try again.",
    userCancel: "The fetch was cancelled in the eID app.",
    cancelled: "The fetch was cancelled.",
    cardRemoved: "The card was removed. Insert it and try again: nothing is lost.",
    pinBlocked: "The code is blocked. Follow the instructions in the eID app.",
    certificateErr: "The card cannot be used for the fetch.",
    alreadyInProgress: "Another fetch onto this card is already in progress.",
    startFailed: "The fetch could not be completed. Please try again.",
    failed: "The fetch failed. Go back to My Pages and try again.",
    error: "Lost contact with the server. Retrying …"
  }
});
