#!/usr/bin/env bash
# Bytes allocated per request by samples/BlogApp on one URL under wrk, by type: the runtime's allocation ticks, traced
# with dotnet-trace for 6 s of a 5 s wrk run and summed by benchmarks/profile/AllocationTicks.
#   benchmarks/http/allocations.sh [PostCaching] [Store]     e.g. RcCached Redis, OutputCacheRedis Memory
# Needs dotnet, dotnet-trace (dotnet tool install -g dotnet-trace), redis-server, wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-RcCached}; store=${2:-Redis}
trace=${DOTNET_TRACE:-$HOME/.dotnet/tools/dotnet-trace}
work=$(mktemp -d -t rc-alloc-XXXXXX)
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
redis_port=$(free_port); app_port=$(free_port)
dotnet build -c Release samples/BlogApp -nologo -v quiet >/dev/null
dotnet build -c Release benchmarks/profile/AllocationTicks -nologo -v quiet >/dev/null
redis-server --port "$redis_port" --save "" --appendonly no > "$work/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $app_pid $redis_pid 2>/dev/null || true; rm -rf "$work"' EXIT
(cd samples/BlogApp && ASPNETCORE_ENVIRONMENT=Production Logging__LogLevel__Default=Warning \
  ConnectionStrings__Blog="Data Source=$work/blog.db" Rc__Store="$store" Rc__Redis="127.0.0.1:$redis_port" \
  Blog__SeedPosts=1 Blog__PostCaching="$mode" dotnet bin/Release/net10.0/BlogApp.dll --urls "http://127.0.0.1:$app_port" > "$work/app.log" 2>&1) &
app_pid=$!
for _ in $(seq 150); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$app_port/post/1" || true)" = 200 ] && break; sleep 0.2; done
app_pid=$(pgrep -f "BlogApp.dll --urls http://127.0.0.1:$app_port")
wrk -t2 -c32 -d3s "http://127.0.0.1:$app_port/post/1" > /dev/null
"$trace" collect -p "$app_pid" --providers Microsoft-Windows-DotNETRuntime:0x1:5 -o "$work/app.nettrace" --duration 00:00:00:06 > /dev/null 2>&1 &
trace_pid=$!
sleep 0.5
requests=$(wrk -t2 -c32 -d5s "http://127.0.0.1:$app_port/post/1" | awk '/requests in/ {print $1}')
wait $trace_pid || true
echo "$mode on $store: $requests requests"
dotnet benchmarks/profile/AllocationTicks/bin/Release/net10.0/AllocationTicks.dll "$work/app.nettrace" "$requests" 30
