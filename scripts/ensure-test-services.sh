#!/usr/bin/env bash
# Install and check what the test suite needs on a Debian machine: the Mosquitto broker and
# clients, VictoriaMetrics and CUPS (tests start their own instances on free ports), the CJK
# font of the kiosk's report PDFs and a PostgreSQL server on 127.0.0.1:5432 (the machine's own,
# started here if it is installed but stopped).
set -euo pipefail

need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
[ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
# The console's browser test drives Debian's chromium through Playwright (no browser download).
[ -x /usr/bin/chromium ] || need+=(chromium)
# Kiosk printing: the tests run their own cupsd (tests/fixtures/cups.py), so no system CUPS is
# started. "cups" holds the socket:// backend and pulls in cupsd and the lp/lpadmin clients;
# report PDFs embed WenQuanYi Micro Hei.
[ -x /usr/lib/cups/backend/socket ] && command -v lp >/dev/null || need+=(cups)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
# The kiosk's UI tests run the real Kivy app under Xvfb with Mesa's software OpenGL; elder mode
# speaks through espeak-ng; Kivy's input provider wants libmtdev.
command -v Xvfb >/dev/null || need+=(xvfb)
[ -e /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so ] || [ -e /usr/lib/aarch64-linux-gnu/dri/swrast_dri.so ] || need+=(libgl1-mesa-dri)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
ldconfig -p | grep -q libmtdev.so.1 || need+=(libmtdev1)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # policy-rc.d may refuse to start services in containers; the tests start their own.
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "starting PostgreSQL"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432
