# Helpers the scripts source.

# free_port: a TCP port nothing listens on at 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_http URL [SECONDS]: poll until URL answers at all (any status), or fail.
wait_for_http() {
  local deadline=$((SECONDS + ${2:-30}))
  until curl -s -o /dev/null "$1"; do
    if ((SECONDS >= deadline)); then echo "no answer from $1" >&2; return 1; fi
    sleep 0.2
  done
}
