#!/usr/bin/env bash
# Makes sure the Redis the tests use (127.0.0.1:6379) answers, starting one with the machine's command if not.
set -euo pipefail
ready() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && read -r -t 2 reply <&3 && [[ "$reply" == +PONG* ]]) 2>/dev/null; }
if ready; then exit 0; fi
echo "ensure-redis: 127.0.0.1:6379 is not answering; starting redis-server"
mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log
for _ in $(seq 1 50); do
  if ready; then exit 0; fi
  sleep 0.2
done
echo "ensure-redis: Redis at 127.0.0.1:6379 is not reachable; the Redis half of the rate-limit suites needs it" >&2
exit 1
