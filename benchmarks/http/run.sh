#!/usr/bin/env bash
# HTTP load test of samples/BlogApp with wrk: GET /post/{id} hits, the ids 1..$POSTS in turn, under each way the post
# page can be cached. Each run is a label, the sample's Blog:PostCaching and its Rc:Store:
#   RcCached-embedded   RcCached          on the embedded store (Rc:Store=Memory)
#   RcCached-Redis      RcCached          on Redis (Rc:Store=Redis)
#   RcCached-near       RcCached          on Redis with the near cache (Rc:Store=Redis, Rc:NearCache:Enabled=true;
#                                         the script's store name RedisNear)
#   OutputCache-memory  OutputCache       ASP.NET Core's output cache in memory
#   OutputCacheRedis    OutputCacheRedis  ASP.NET Core's output cache on Redis (AddStackExchangeRedisOutputCache, Rc:Redis)
#   None                None              no page cache: the handler runs (its post lookup goes through IRcCache)
# The output-cache and None runs keep Rc:Store=Memory: their hits never reach RcAspNet's store. The sample puts
# UseOutputCache where it puts UseRcCache, so a hit of either runs the same middleware before it.
# Each run gets a fresh app process, a fresh SQLite database seeded with Blog:SeedPosts=$POSTS posts, and an emptied
# redis-server of the script's own on a free loopback port. Every id is warmed up with wrk for $WARMUP, one response
# is checked for a hit (X-Cache: HIT for RcCached, an Age header for the output cache), then
#   wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s posts.lua
# is measured. At the end: a table of requests/s, latency p50/p99 and errors per run, and the ratios of requests/s
# RcCached-Redis / OutputCache-memory, RcCached-near / OutputCache-memory, RcCached-Redis / OutputCacheRedis and
# RcCached-embedded / OutputCache-memory, the Redis reads (GET, MGET, EVAL/EVALSHA) each run sent per request, and the
# app process's CPU time (user + system, from /proc) per request: wrk, the app and Redis share the machine's cores, so
# requests/s moves with how the scheduler shares them, and CPU per request is the steadier measure of what a request
# costs the app. It also counts the methods the JIT compiled during the measured run (from the runtime's perf map): the
# warm-up is long enough when that is a few hundred (what wrk's new connections tier up), not thousands. After 3 s of
# warm-up both caches' apps were still compiling 2,000-3,000 methods during the run, in the tiers that instrument
# them, and the app with more code on its request path paid more for it.
# wrk's full outputs are kept in $RESULTS.
#
# Usage: benchmarks/http/run.sh
#   environment: DURATION=10s WARMUP=20s THREADS=2 CONNECTIONS=64 POSTS=50 RESULTS=artifacts/http-bench
#                REDIS_CLIENT_VERSION=3.4.35 (builds the app on that StackExchange.Redis instead of the declared one)
#                ROUNDS=1 (runs the whole set that many times, interleaved; ratios are of each run's median requests/s,
#                and the median of each round's ratio)
#                RUNS="RcCached-embedded:RcCached:Memory RcCached-Redis:RcCached:Redis ..." (label:PostCaching:Store)
#                OTEL_SDK_DISABLED=true (the app's OpenTelemetry off in every run: the sample traces each request and, with
#                RcAspNet, each of its store calls, a span output caching does not record)
#   a smoke check: DURATION=2s WARMUP=1s benchmarks/http/run.sh
# Needs dotnet, redis-server, redis-cli, wrk and curl. wrk, the app and Redis share this machine's cores: compare rows
# of one run with each other, not with figures from another machine, and run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Decimal points, whatever the machine's locale: sort -g and printf read and write figures such as 0.93.
export LC_NUMERIC=C

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-20s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
POSTS=${POSTS:-50}
RESULTS=${RESULTS:-artifacts/http-bench}
ROUNDS=${ROUNDS:-1}
RUNS=${RUNS:-RcCached-embedded:RcCached:Memory RcCached-Redis:RcCached:Redis RcCached-near:RcCached:RedisNear OutputCache-memory:OutputCache:Memory OutputCacheRedis:OutputCacheRedis:Memory None:None:Memory}

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

# A loopback port nothing listens on, below the ephemeral range (a client socket's local port there refuses a
# connection yet cannot be bound).
free_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# wrk's request generator: GET /post/1, /post/2, ... /post/N, then again; N is the script's argument.
cat >"$work/posts.lua" <<'LUA'
local requests = {}
local count = 0
local position = 0

function init(args)
  count = tonumber(args[1])
  for id = 1, count do
    requests[id] = wrk.format("GET", "/post/" .. id)
  end
end

function request()
  position = position % count + 1
  return requests[position]
end
LUA

# "850.00us", "1.23ms", "1.02s" -> milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
    else printf "NA"
  }'
}

echo "Building samples/BlogApp (Release)..."
dotnet build -c Release samples/BlogApp -nologo -v quiet ${REDIS_CLIENT_VERSION:+-p:RedisClientVersion=$REDIS_CLIENT_VERSION} >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
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

# start_app MODE STORE: starts BlogApp on a free port with a fresh database and an emptied Redis; sets app_port.
start_app() {
  local mode=$1 store=$2 near=false
  if [ "$store" = RedisNear ]; then
    store=Redis
    near=true
  fi
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
      Rc__NearCache__Enabled="$near" \
      Rc__Redis="127.0.0.1:$redis_port" \
      Blog__SeedPosts="$POSTS" \
      Blog__PostCaching="$mode" \
      DOTNET_PerfMapEnabled=3 \
      DOTNET_PerfMapJitDumpPath="$work" \
      dotnet "bin/Release/net10.0/BlogApp.dll" --urls "http://127.0.0.1:$app_port"
  ) >"$work/app.log" 2>&1 &
  app_pid=$!

  for _ in $(seq 600); do
    if ! kill -0 "$app_pid" 2>/dev/null; then
      echo "run.sh: BlogApp exited (PostCaching=$mode, Rc:Store=$store):" >&2
      tail -40 "$work/app.log" >&2
      exit 1
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$app_port/post/1")" = 200 ]; then
      return
    fi
    sleep 0.1
  done
  echo "run.sh: BlogApp did not answer GET /post/1 with 200 within 60 s (PostCaching=$mode, Rc:Store=$store):" >&2
  tail -40 "$work/app.log" >&2
  exit 1
}

# hit_check MODE URL: what one response says about being served from the cache.
hit_check() {
  local mode=$1 url=$2 headers
  headers=$(curl -s -o /dev/null -D - "$url" | tr -d '\r')
  case $mode in
    RcCached) awk -F': ' 'tolower($1) == "x-cache" { print "X-Cache: " $2; found = 1 } END { if (!found) print "no X-Cache" }' <<<"$headers" ;;
    OutputCache*) awk -F': ' 'tolower($1) == "age" { print "Age: " $2; found = 1 } END { if (!found) print "no Age (miss)" }' <<<"$headers" ;;
    *) echo "-" ;;
  esac
}

# How many methods the app's JIT has compiled so far: the lines of its perf map.
jitted_methods() {
  wc -l <"$work/perf-$app_pid.map" 2>/dev/null || echo 0
}

# The app's CPU time so far (user + system), in clock ticks: fields 14 and 15 of /proc/PID/stat.
app_cpu_ticks() {
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$app_pid/stat" 2>/dev/null || echo 0
}

declare -A rps_of rps_all rps_rounds cpu_of cpu_all
rows=()
for round in $(seq "$ROUNDS"); do
for run in $RUNS; do
  IFS=: read -r label mode store <<<"$run"
  out="$RESULTS/$label.txt"
  [ "$ROUNDS" = 1 ] || out="$RESULTS/$label-$round.txt"
  start_app "$mode" "$store"
  base="http://127.0.0.1:$app_port"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$work/posts.lua" "$base" -- "$POSTS" >/dev/null
  check=$(hit_check "$mode" "$base/post/$POSTS")
  redis-cli -p "$redis_port" config resetstat >/dev/null
  cpu_before=$(app_cpu_ticks)
  jit_before=$(jitted_methods)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/posts.lua" "$base" -- "$POSTS" >"$out"
  cpu_after=$(app_cpu_ticks)
  jitted=$(( $(jitted_methods) - jit_before ))
  keys=$(redis-cli -p "$redis_port" dbsize)
  # Redis reads during the measured run (GET, MGET, and EVALSHA for the output cache's store), per request.
  reads=$(redis-cli -p "$redis_port" info commandstats | tr -d '\r' | awk -F'[:=,]' '$1 ~ /^cmdstat_(get|mget|evalsha|eval)$/ { n += $3 } END { print n + 0 }')
  requests=$(awk '/ requests in / { print $1 }' "$out")
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { for (i = 4; i <= NF; i += 2) n += $i } END { print n + 0 }' "$out")
  rps_all[$label]+="$rps "
  rps_rounds[$label]+="${rps:-NA} "
  per_request=$(awk -v r="$reads" -v n="$requests" 'BEGIN { printf "%.3f", (n > 0) ? r / n : 0 }')
  # The app's CPU time (user + system, in clock ticks) over the measured run, per request, in µs.
  cpu_us=$(awk -v t=$((cpu_after - cpu_before)) -v hz="$(getconf CLK_TCK)" -v n="${requests:-0}" 'BEGIN { printf "%.1f", (n > 0 && t > 0) ? t * 1e6 / hz / n : 0 }')
  cpu_all[$label]+="$cpu_us "
  rows+=("| $label | $round | $mode | $store | $rps | $p50 | $p99 | $errors | $check | $keys | $reads | $per_request | $cpu_us | $jitted |")
  echo "$label, round $round (PostCaching=$mode, Rc:Store=$store): $rps requests/s, p50 $p50 ms, p99 $p99 ms, errors $errors, $check, $keys Redis keys"
  stop "$app_pid"
  app_pid=""
done
done

# The median requests/s of each run over the rounds, and its range.
declare -A range_of
# median FORMAT: the median of the numbers on stdin, one per line.
median() {
  grep . | sort -g | awk -v f="$1" '{ a[NR] = $1 } END { printf f, NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# quotient X Y: X / Y to two places; n/a when either is missing or Y is not positive.
quotient() {
  if [ -n "$1" ] && [ -n "$2" ]; then
    awk -v x="$1" -v y="$2" 'BEGIN { if (y > 0) printf "%.2f", x / y; else printf "n/a" }'
  else
    echo "n/a"
  fi
}

# same_round X_ROUNDS Y_ROUNDS: the median over the rounds of X's requests/s over Y's in the same round (the rounds of
# one run move together with the machine, so this moves less than a ratio of two medians), with the lowest and highest
# round's ratio: a target inside that range is within the run's noise. Each list has one word per round, NA for a round
# without a figure; n/a when no round has both.
same_round() {
  local ratios
  ratios=$(paste -d' ' <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) | awk '$1 + 0 > 0 && $2 + 0 > 0 { print $1 / $2 }' | sort -g)
  if [ -n "$ratios" ]; then
    printf '%s (%.2f–%.2f)\n' "$(median "%.2f" <<<"$ratios")" "$(head -1 <<<"$ratios")" "$(tail -1 <<<"$ratios")"
  else
    echo "n/a"
  fi
}

for label in "${!rps_all[@]}"; do
  sorted=$(tr ' ' '\n' <<<"${rps_all[$label]}" | grep . | sort -g)
  rps_of[$label]=$(median "%.2f" <<<"$sorted")
  range_of[$label]="$(head -1 <<<"$sorted")–$(tail -1 <<<"$sorted")"
  cpu_of[$label]=$(tr ' ' '\n' <<<"${cpu_all[$label]}" | median "%.1f")
done

echo
echo "StackExchange.Redis: $(ls "$app_dir"/bin/Release/net10.0/StackExchange.Redis.dll >/dev/null && grep -o '"StackExchange.Redis/[0-9.]*"' "$app_dir"/bin/Release/net10.0/BlogApp.deps.json | head -1 | tr -d '"')"
echo "OpenTelemetry in the app: $([ "${OTEL_SDK_DISABLED:-}" = true ] && echo "off (OTEL_SDK_DISABLED=true)" || echo "on (request spans, RcAspNet's store-call spans, metrics)")"
echo "GET /post/{1..$POSTS}, wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency after a $WARMUP warm-up, $(nproc) cores; full outputs in $RESULTS/"
echo
echo "| Run | Round | Blog:PostCaching | Rc:Store | Requests/s | p50 (ms) | p99 (ms) | Errors | Hit check | Redis keys | Redis reads | Reads per request | App CPU µs/request | Methods compiled during the run |"
echo "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
echo
echo "| Run | Median requests/s over $ROUNDS round(s) | Range | Median app CPU µs/request |"
echo "| --- | ---: | --- | ---: |"
for run in $RUNS; do
  label=${run%%:*}
  echo "| $label | ${rps_of[$label]} | ${range_of[$label]} | ${cpu_of[$label]} |"
done
echo
echo "| Ratio | of median requests/s | of median app CPU per request, inverted (above 1: the first costs less) | median of same-round ratios of requests/s (lowest–highest) |"
echo "| --- | ---: | ---: | ---: |"
for pair in RcCached-Redis:OutputCache-memory RcCached-near:OutputCache-memory RcCached-Redis:OutputCacheRedis RcCached-embedded:OutputCache-memory; do
  a=${pair%%:*} b=${pair##*:}
  echo "| $a / $b | $(quotient "${rps_of[$a]:-}" "${rps_of[$b]:-}") | $(quotient "${cpu_of[$b]:-}" "${cpu_of[$a]:-}") | $(same_round "${rps_rounds[$a]:-}" "${rps_rounds[$b]:-}") |"
done
