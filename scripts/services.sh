# Sourced by scripts/test: start PostgreSQL, Redis and RabbitMQ if they are down, and fail naming any that stays down.
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_service() {
  case "$1" in
    PostgreSQL) pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start ;;
    Redis) redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no ;;
    RabbitMQ) rabbitmq-server -detached ;;
  esac
}
ensure_services() {
  local missing=()
  for pair in PostgreSQL:5432 Redis:6379 RabbitMQ:5672; do
    local name="${pair%%:*}" port="${pair##*:}"
    if ! up "$port"; then
      echo "$name is not running on port $port; starting it ..." >&2
      start_service "$name" >/dev/null 2>&1 || true
      for _ in $(seq 1 60); do up "$port" && break; sleep 1; done
      up "$port" || missing+=("$name (port $port)")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "error: the tests need the real services and these are down: ${missing[*]}" >&2
    exit 1
  fi
  # RabbitMQ accepts TCP before it is ready for clients.
  command -v rabbitmqctl >/dev/null && rabbitmqctl -q await_startup >/dev/null 2>&1 || true
}
