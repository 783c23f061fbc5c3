#!/bin/sh
# First start of the compose nginx: without a certificate in /etc/nginx/tls, make a self-signed one
# (local use; in production mount real ones there with NGINX_TLS_DIR). Then run nginx (or the command
# given: the tests start their own nginx through this script, with TLS_DIR pointing elsewhere).
set -eu
dir=${TLS_DIR:-/etc/nginx/tls}
if [ ! -s "$dir/cert.pem" ] || [ ! -s "$dir/key.pem" ]; then
    command -v openssl >/dev/null || apk add --no-cache openssl >/dev/null
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=${TLS_COMMON_NAME:-localhost}" \
        -addext "subjectAltName=DNS:${TLS_COMMON_NAME:-localhost},DNS:localhost,IP:127.0.0.1,IP:::1" \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    chmod 600 "$dir/key.pem"
    echo "nginx: made a self-signed certificate for ${TLS_COMMON_NAME:-localhost} in $dir"
fi
if [ "$#" -gt 0 ]; then exec "$@"; fi
exec nginx -g "daemon off;"
