#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root) to run and test Evoflow: the Debian
# packages the tests talk to, then the npm dependencies, the runtime bundle and the editor build.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The MQTT connector's tests start a real broker.
[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
# The Redis Streams and PostgreSQL connectors' tests start a real redis-server and postgres 15.
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql)
# The AMQP connector's tests start a real RabbitMQ.
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || missing+=(dataset-fashion-mnist)
# Python nodes' workers (python/worker.py) need python3 and numpy; the sklearn model format and
# trainer need scikit-learn. The GPU agent also moves loading threads into Linux's idle
# scheduling class through python3's os module. dpkg -s answers in milliseconds when they are there.
for pkg in python3 python3-numpy python3-sklearn; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# onnxruntime-node downloads CUDA files at install unless told not to: .npmrc says so today,
# but npm warns it will stop reading unknown keys, so the variable is exported too.
export ONNXRUNTIME_NODE_INSTALL=skip
# `npm install`, not `npm ci`: npm 11 writes cbor-x's optional native packages into the lock in a
# form its own `npm ci` then rejects as out of sync; install still follows the lock.
npm install --no-audit --no-fund
npm run build:runtime
npm run build:editor
