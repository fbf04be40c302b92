#!/usr/bin/env bash
# A tour of the ID administrator's session with
# the `eid` command line on a fresh data folder: create the CA, register an organisation
# that allows self-service signing certificates and one that has not decided, persons;
# personalise virtual cards of both kinds (keys generated on the card, PIN letter or
# transport code) and activate the one-PIN card as its holder would; register cards
# personalised elsewhere and issue certificates for their keys from requests (here keys
# made by OpenSSL); see refusals explained; check the chains with OpenSSL and the audit
# log's hash chain.
#
#   scripts/admin-tour.sh [DATA_FOLDER]   (default: ./eid-admin-tour; made anew each run)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v openssl >/dev/null || ! command -v cc >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl gcc g++ make
fi

cargo build --locked --quiet --bin eid
eid="$PWD/target/debug/eid"
data="${1:-$PWD/eid-admin-tour}"
rm -rf "$data"
keys="$data-keys"
rm -rf "$keys" && mkdir -p "$keys"

step() { printf '\n\033[1m%s\033[0m\n$ eid %s\n' "$1" "${*:2}"; "$eid" "${@:2}"; }
export EID_DATA="$data"

step "Create the data folder: configuration, root and issuing CA (P-256), database" \
  admin init --public-url https://eid.localhost:8443
step "An organisation that decided: self-service signing certificates" \
  admin org add --number 2321000016 --name "Region Exempel" --signing self-service
step "An organisation that has not decided (signing certificates disabled)" \
  admin org add --number 5560000001 --name "Vårdbolaget AB"
step "A nurse, entitled to a signing certificate" \
  admin person add --hsa-id SE2321000016-A1B2 --given-name Anna --surname Andersson \
  --org 2321000016 --entitled
step "A doctor in the undecided organisation" \
  admin person add --hsa-id SE5560000001-C3D4 --given-name Bo --surname Berg --org 5560000001
step "Personalise a virtual two-PIN card for Anna: keys made on the card, PIN letter printed once" \
  admin card issue --holder SE2321000016-A1B2 --kind two-pin --number 9752000101
step "What the card holds (anyone with the card can read this; never a code)" \
  card show "$data/cards/9752000101.card"
step "Personalise a virtual 7XX one-PIN card for Bo: a transport code instead of a PIN letter" \
  admin card issue --holder SE5560000001-C3D4 --kind one-pin --number 9752000102 --json \
  | tee "$keys/bo-card.json"
transport=$(sed -n 's/.*"transport_code": "\([0-9]*\)".*/\1/p' "$keys/bo-card.json")
printf '\n\033[1m%s\033[0m\n$ eid card activate %s\n' "Bo activates his card: he chooses PIN1 with the transport code" \
  "$data/cards/9752000102.card"
printf '%s\n%s\n' "$transport" 482915 | "$eid" card activate "$data/cards/9752000102.card"

step "Cards personalised elsewhere are registered: an old two-PIN card and a new 7XX card" \
  admin card register --number 9752000001 --product 610 --kind two-pin --holder SE2321000016-A1B2
"$eid" admin card register --number 9752000002 --product 710 --kind one-pin --holder SE5560000001-C3D4

for k in anna-auth anna-sign bo-auth bo-sign; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$keys/$k.key" \
    -subj "/CN=Whatever the request says/O=is ignored" -out "$keys/$k.csr" 2>/dev/null
done

step "Authentication certificate for Anna's card (the subject comes from the register)" \
  admin cert issue --card 9752000001 --profile authentication --csr "$keys/anna-auth.csr" \
  --out "$keys/anna-auth.pem"
step "Signing certificate for Anna's card (bounded by the authentication certificate)" \
  admin cert issue --card 9752000001 --profile signing --csr "$keys/anna-sign.csr" \
  --out "$keys/anna-sign.pem"
"$eid" admin cert issue --card 9752000002 --profile authentication --csr "$keys/bo-auth.csr" \
  >/dev/null
printf '\n\033[1m%s\033[0m\n' "Bo's organisation has not decided: his signing certificate is refused"
if "$eid" admin cert issue --card 9752000002 --profile signing --csr "$keys/bo-sign.csr"; then
  echo "unexpected: issued" >&2
  exit 1
fi
step "The same key twice is refused: a public key is certified once" \
  admin cert issue --card 9752000001 --profile signing --csr "$keys/anna-sign.csr" || true

step "Anna's certificates" admin cert list --person SE2321000016-A1B2
printf '\n\033[1m%s\033[0m\n' "OpenSSL checks the chains on its own (-x509_strict)"
for c in anna-auth anna-sign; do
  openssl verify -x509_strict -CAfile "$data/ca/root.pem" -untrusted "$data/ca/issuing.pem" \
    "$keys/$c.pem"
done
step "Every change is in the hash-chained audit log" admin audit verify

printf '\nData folder: %s   (keys made for the demo: %s)\n' "$data" "$keys"
