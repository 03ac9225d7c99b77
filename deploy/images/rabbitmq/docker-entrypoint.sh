#!/bin/sh
# Entrypoint of ledger-local/rabbitmq: writes the broker's configuration from the environment, then runs the broker as
# the rabbitmq user. Debian's rabbitmq-server script stays in front of the Erlang VM (as in the official image): it
# turns docker stop's SIGTERM into a graceful shutdown of the node.
set -eu

if [ "$(id -u)" = 0 ]; then
  mkdir -p /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq/conf.d
  chown rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq /etc/rabbitmq/conf.d
  # setpriv execs (runuser would stay as PID 1 and keep signals from the broker).
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$0" "$@"
fi

if [ "${1:-}" = rabbitmq-server ]; then
  # Rewritten at every start, as the official image does: the default user applies only to a node whose data
  # directory is empty, so a restarted node keeps the users it has.
  conf=/etc/rabbitmq/conf.d/10-docker.conf
  {
    echo "loopback_users = none"
    echo "listeners.tcp.default = 5672"
    # The log to stdout only (docker logs); Debian's default is a file under /var/log/rabbitmq.
    echo "log.console = true"
    echo "log.console.level = info"
    echo "log.file = false"
    [ -z "${RABBITMQ_DEFAULT_USER:-}" ] || echo "default_user = $RABBITMQ_DEFAULT_USER"
    [ -z "${RABBITMQ_DEFAULT_PASS:-}" ] || echo "default_pass = $RABBITMQ_DEFAULT_PASS"
    [ -z "${RABBITMQ_DEFAULT_VHOST:-}" ] || echo "default_vhost = $RABBITMQ_DEFAULT_VHOST"
  } > "$conf"
  # Erlang's schedulers spin while idle by default, which takes CPU from whatever shares the machine.
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-+sbwt none +sbwtdcpu none +sbwtdio none}"
  exec /usr/lib/rabbitmq/bin/rabbitmq-server
fi

exec "$@"
