# shellcheck shell=bash
# nginx as the ceiling of the benchmarks: the best an HTTP server does on
# this machine for the same requests (source it after scripts/lib.sh).
#
# bench_nginx_start DIR  writes DIR/nginx.conf and starts nginx on a free
#                      127.0.0.1 port, answering every request 200 with
#                      the proxy's body for one string ({"result":"not
#                      code"}, application/json), as the invoking user with
#                      every path in DIR (no system service, no root-only
#                      path; as root its worker stays root too). One worker
#                      process (BENCH_NGINX_WORKERS) against batchproxy's
#                      one event loop. Sets BENCH_NGINX (port) and
#                      BENCH_NGINX_PID; bp_stop_all stops it too.
# The caller reads BENCH_NGINX and BENCH_NGINX_PID.
# shellcheck disable=SC2034

BENCH_NGINX_BIN=${BENCH_NGINX_BIN:-/usr/sbin/nginx}

bench_nginx_config() { # DIR PORT
  local user=""
  # Only a master running as root reads the user directive: keep the worker
  # as the invoking user (nginx would switch it to nobody).
  [ "$(id -u)" -eq 0 ] && user="user $(id -un) $(id -gn);"
  cat <<CONF
$user
worker_processes ${BENCH_NGINX_WORKERS:-1};
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1000; }
http {
  access_log off;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  # wrk's connections stay open for the whole run, as with batchproxy.
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$2;
    location / {
      default_type application/json;
      return 200 '{"result":"not code"}';
    }
  }
}
CONF
}

bench_nginx_start() {
  local dir=$1 port try
  if [ ! -x "$BENCH_NGINX_BIN" ]; then
    echo "$BENCH_NGINX_BIN is not installed (scripts/deps.sh bench installs it)" >&2
    return 1
  fi
  mkdir -p "$dir"
  # The free port may be taken before nginx binds it: then another one.
  for try in 1 2 3 4 5; do
    port=$(bp_free_port)
    bench_nginx_config "$dir" "$port" >"$dir/nginx.conf"
    rm -f "$dir/nginx.pid"
    "$BENCH_NGINX_BIN" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" 2>"$dir/stderr.log" &
    BENCH_NGINX_PID=$!
    for _ in $(seq 1 100); do
      # nginx writes its pid file once it has bound the port.
      if [ -s "$dir/nginx.pid" ] && curl -fs -o /dev/null -m 1 "http://127.0.0.1:$port/"; then
        BP_PIDS+=("$BENCH_NGINX_PID")
        BENCH_NGINX=$port
        return 0
      fi
      kill -0 "$BENCH_NGINX_PID" 2>/dev/null || break
      sleep 0.05
    done
    bp_stop "$BENCH_NGINX_PID"
    echo "nginx did not start on port $port (try $try); its messages:" >&2
    tail -5 "$dir/stderr.log" "$dir/error.log" >&2
  done
  return 1
}
