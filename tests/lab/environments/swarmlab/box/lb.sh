#!/bin/sh
# The lb: LB_HEALTH=fast checks every 250 ms, out after 2 failures; slow (DEFECT) every 2 s, out after 10
# (a dead replica keeps getting requests for ~20 s).
set -eu
case "${LB_HEALTH:-fast}" in
    fast) LB_INTER=250ms LB_FALL=2 ;;
    slow) LB_INTER=2s LB_FALL=10 ;;
    *) echo "lb: LB_HEALTH must be fast or slow, not ${LB_HEALTH}" >&2; exit 64 ;;
esac
export LB_INTER LB_FALL
exec haproxy -W -db -f /etc/haproxy/haproxy.cfg
