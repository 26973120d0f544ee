#!/bin/sh
# LB_ROLE=registry (default): the registry's entry point, haproxy.cfg; LB_ROLE=identity: identity-lb,
# the registry's way to the central login (identity.cfg, fixed fast checks).
# Maps the LB_HEALTH switch to HAProxy health-check timing, then runs HAProxy in the foreground.
# REPLICA_ALIASES=no (plain docker-compose, no lab): servers app-<n> resolve the service name instead.
#   fast (default): inter 250ms fall 2 rise 2  -> a dead node leaves the rotation in ~0.5 s
#   slow (DEFECT):  inter 2s   fall 10 rise 2  -> ~20 s of requests still sent to a dead node
# LB_FAILOVER (registry role):
#   passive (default): retries 2 + option redispatch (a request whose node does not answer the
#                      connect goes to another node), health checks as LB_HEALTH says, stickiness
#   off (DEFECT):      a plain round-robin balancer: no retries, no redispatch, no stickiness, no health
#                      checks -> every 4th request goes to the dead node and fails until it is back (on
#                      a kept-alive connection HAProxy closes it instead of a 503, so clients that retry
#                      then, as browsers do, see fewer of these failures - but still some). Not "slow
#                      checks": HAProxy starts a server one failed check from DOWN, so any check would
#                      take a dead node out at its first run.
set -eu
case "${LB_HEALTH:-fast}" in
    fast) LB_CHECK_INTER=250ms LB_CHECK_FALL=2  LB_CHECK_RISE=2 ;;
    slow) LB_CHECK_INTER=2s    LB_CHECK_FALL=10 LB_CHECK_RISE=2 ;;
    *) echo "lb-entrypoint: LB_HEALTH must be 'fast' or 'slow', not '${LB_HEALTH}'" >&2; exit 64 ;;
esac
case "${LB_FAILOVER:-passive}" in
    passive|off) ;;
    *) echo "lb-entrypoint: LB_FAILOVER must be 'passive' or 'off', not '${LB_FAILOVER}'" >&2; exit 64 ;;
esac
export LB_CHECK_INTER LB_CHECK_FALL LB_CHECK_RISE
echo "lb-entrypoint: LB_HEALTH=${LB_HEALTH:-fast}: inter ${LB_CHECK_INTER} fall ${LB_CHECK_FALL} rise ${LB_CHECK_RISE}"
case "${LB_ROLE:-registry}" in
    registry) cfg=/etc/haproxy/haproxy.cfg ;;
    identity) cfg=/etc/haproxy/identity.cfg ;;
    *) echo "lb-entrypoint: LB_ROLE must be 'registry' or 'identity', not '${LB_ROLE}'" >&2; exit 64 ;;
esac
if [ "${LB_FAILOVER:-passive}" = off ]; then
    # DEFECT: no passive failover - drop redispatch and retries, the stickiness cookie, the checks
    sed -e '/option redispatch/d' -e 's/^\( *\)retries .*/\1retries 0/' -e '/cookie SRV insert/d' \
        -e 's/ cookie app-[0-9]*$//' -e 's/^\( *default-server\) check /\1 /' "$cfg" > /tmp/haproxy-no-failover.cfg
    cfg=/tmp/haproxy-no-failover.cfg
fi
case "${NOTICE:-on}" in
    on) ;;
    # DEFECT: no disruption notice - users get HAProxy's bare "503 Service Unavailable" page
    off) sed '/errorfile 50[234]/d' "$cfg" > /tmp/haproxy-no-notice.cfg; cfg=/tmp/haproxy-no-notice.cfg ;;
    *) echo "lb-entrypoint: NOTICE must be 'on' or 'off', not '${NOTICE}'" >&2; exit 64 ;;
esac
case "${REPLICA_ALIASES:-yes}" in
    yes) ;;
    # Plain docker-compose has no per-replica names (app-1 ...): every server resolves the service
    # name instead; HAProxy's resolver gives servers sharing a name distinct addresses.
    no) sed -E 's/^([[:space:]]*server[[:space:]]+)([a-z][a-z0-9-]*)-([0-9]+)([[:space:]]+)\2-\3:/\1\2-\3\4\2:/' \
            "$cfg" > /tmp/haproxy-service-names.cfg; cfg=/tmp/haproxy-service-names.cfg ;;
    *) echo "lb-entrypoint: REPLICA_ALIASES must be 'yes' or 'no', not '${REPLICA_ALIASES}'" >&2; exit 64 ;;
esac
echo "lb-entrypoint: LB_ROLE=${LB_ROLE:-registry} NOTICE=${NOTICE:-on} REPLICA_ALIASES=${REPLICA_ALIASES:-yes} ($cfg)"
exec haproxy -W -db -f "$cfg" "$@"
