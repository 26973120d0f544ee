#!/bin/sh
# Builds HAProxy errorfiles (complete HTTP responses) around the one disruption notice, at image
# build time, so Content-Length is always right.
set -eu
dir=$1
for status in "502 Bad Gateway" "503 Service Unavailable" "504 Gateway Timeout"; do
    code=${status%% *}
    {
        printf 'HTTP/1.1 %s\r\n' "$status"
        printf 'Content-Type: text/html; charset=utf-8\r\n'
        printf 'Content-Length: %s\r\n' "$(wc -c < "$dir/disruption.html")"
        printf 'Cache-Control: no-store\r\n'
        printf 'Retry-After: 30\r\n'
        printf 'X-Drillkit-Disruption: notice\r\n'
        printf 'Connection: close\r\n'
        printf '\r\n'
        cat "$dir/disruption.html"
    } > "$dir/$code.http"
done
