#!/usr/bin/env bash
# Target 5: HTTP load test of samples/BlogApp with wrk, for each store (Redis, then the embedded Memory store) and each
# way GET /post/{id} is cached (Blog:PostCaching = RcCached, None, OutputCache). Each combination gets a fresh app
# process, a fresh SQLite database seeded with Blog:SeedPosts posts and, for Redis, an emptied redis-server of its own
# on a free loopback port. GET /post/1 and GET / are each warmed up, then driven with
#   wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency
# and the table of requests/s and p99 latency is printed at the end (wrk's full outputs are kept in $RESULTS).
#
# Usage: benchmarks/http/run.sh            (environment: DURATION=10s WARMUP=3s THREADS=2 CONNECTIONS=64 POSTS=50
#                                            STORES="Redis Memory" MODES="RcCached None OutputCache")
# Needs dotnet, redis-server, redis-cli, wrk and curl. wrk, the app and Redis share this machine's cores: compare rows
# of one run with each other, not with figures from another machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
POSTS=${POSTS:-50}
STORES=${STORES:-Redis Memory}
MODES=${MODES:-RcCached None OutputCache}
RESULTS=${RESULTS:-artifacts/http-bench}

for tool in dotnet redis-server redis-cli wrk curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed (apt-get install -y redis-server redis-tools wrk curl)." >&2; exit 1; }
done

work=$(mktemp -d -t rc-http-bench-XXXXXX)
mkdir -p "$RESULTS"
app_pid=""
redis_pid=""

stop() {
  local pid=$1
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

cleanup() {
  stop "$app_pid"
  stop "$redis_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A loopback port nothing listens on.
free_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

echo "Building samples/BlogApp (Release)..."
dotnet build -c Release samples/BlogApp -nologo -v quiet >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
app_dir=samples/BlogApp
app_dll=$app_dir/bin/Release/net10.0/BlogApp.dll
[ -f "$app_dll" ] || { echo "run.sh: $app_dll was not built." >&2; exit 1; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null || { echo "run.sh: redis-server did not start." >&2; cat "$work/redis.log"; exit 1; }

# start_app STORE MODE: starts BlogApp on a free port with a fresh database; sets app_port.
start_app() {
  local store=$1 mode=$2
  app_port=$(free_port)
  rm -f "$work"/blog.db*
  redis-cli -p "$redis_port" flushall >/dev/null
  (
    cd "$app_dir"
    exec env \
      ASPNETCORE_ENVIRONMENT=Production \
      Logging__LogLevel__Default=Warning \
      ConnectionStrings__Blog="Data Source=$work/blog.db" \
      Rc__Store="$store" \
      Rc__Redis="127.0.0.1:$redis_port" \
      Blog__SeedPosts="$POSTS" \
      Blog__PostCaching="$mode" \
      dotnet "bin/Release/net10.0/BlogApp.dll" --urls "http://127.0.0.1:$app_port"
  ) >"$work/app.log" 2>&1 &
  app_pid=$!

  for _ in $(seq 600); do
    if ! kill -0 "$app_pid" 2>/dev/null; then
      echo "run.sh: BlogApp exited (Store=$store, PostCaching=$mode):" >&2
      tail -40 "$work/app.log" >&2
      exit 1
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$app_port/post/1")" = 200 ]; then
      return
    fi
    sleep 0.1
  done
  echo "run.sh: BlogApp did not answer GET /post/1 with 200 within 60 s (Store=$store, PostCaching=$mode):" >&2
  tail -40 "$work/app.log" >&2
  exit 1
}

rows=()
for store in $STORES; do
  for mode in $MODES; do
    start_app "$store" "$mode"
    for path in /post/1 /; do
      url="http://127.0.0.1:$app_port$path"
      name="${store}-${mode}-$( [ "$path" = / ] && echo index || echo post1 )"
      wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
      wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$RESULTS/$name.txt"
      rps=$(awk '/^Requests\/sec:/ { print $2 }' "$RESULTS/$name.txt")
      p99=$(awk '$1 == "99%" { print $2 }' "$RESULTS/$name.txt")
      errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { for (i = 4; i <= NF; i += 2) n += $i } END { print n + 0 }' "$RESULTS/$name.txt")
      cache=$(curl -s -o /dev/null -D - "$url" | awk -F': ' 'tolower($1) == "x-cache" { gsub("\r", "", $2); print $2 }')
      rows+=("| $store | $mode | GET $path | $rps | $p99 | $errors | ${cache:--} |")
      echo "Store=$store PostCaching=$mode GET $path: $rps requests/s, p99 $p99, errors $errors"
    done
    stop "$app_pid"
    app_pid=""
  done
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $POSTS posts, $(nproc) cores; full outputs in $RESULTS/"
echo
echo "| Store | PostCaching | Request | Requests/s | p99 | Errors | X-Cache |"
echo "| --- | --- | --- | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"
