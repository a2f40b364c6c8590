#!/usr/bin/env bash
# Make a throw-away certificate authority and certificates for testing MQTT over TLS.
#
#   scripts/make-test-ca.sh OUT_DIR [CLIENT_NAME ...]
#
# OUT_DIR/ca.crt, ca.key            the test CA (give ca.crt to clients: CAREDGE_MQTT_CA_FILE)
# OUT_DIR/broker.crt, broker.key    Mosquitto's certificate, SAN 127.0.0.1, ::1, localhost and
#                                   BROKER_HOSTS (space-separated extra DNS names, e.g. "mosquitto")
# OUT_DIR/<name>.crt, <name>.key    a client certificate per CLIENT_NAME (CN = the name)
#
# For tests and local stacks only: production certificates come from the hospital's PKI.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [CLIENT_NAME ...]" >&2
  exit 2
fi
out=$1
shift
days=${DAYS:-30}
mkdir -p "$out"
cd "$out"
umask 077

openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -keyout ca.key -out ca.crt -subj "/CN=caredge test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null

san="IP:127.0.0.1,IP:::1,DNS:localhost"
for host in ${BROKER_HOSTS:-}; do
  san="$san,DNS:$host"
done

sign() {  # sign NAME SUBJECT EXTENSIONS
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$1.key" -out "$1.csr" -subj "$2" \
    2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

sign broker "/CN=caredge mqtt broker" \
  "subjectAltName=$san
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"

for name in "$@"; do
  sign "$name" "/CN=$name" \
    "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
done

rm -f ca.srl
# The broker runs as its own user: it must read its key (mode 640; chgrp it to that user's group).
chmod 644 ca.crt broker.crt
chmod 640 broker.key
echo "test CA and certificates in $PWD"
