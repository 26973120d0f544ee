#!/bin/sh
# A web replica: busybox httpd serving its own name (so a probe sees which node answered).
set -eu
mkdir -p /srv/www
echo "${DRILLKIT_NODE:-web}" > /srv/www/index.html
exec busybox httpd -f -p 8000 -h /srv/www
