#!/usr/bin/env python3
"""Top frames of a dotnet-trace speedscope file (dotnet-sampled-thread-time), waiting time left out.

usage: top_frames.py TRACE.speedscope.json [--top 25] [--match TEXT ...] [--callers TEXT]

Sampled thread time counts blocked threads too: only intervals whose stack ends in CPU_TIME (running managed code)
and holds no waiting frame (a wait handle, a semaphore, a socket poll, a sleep) count. Prints the
frames with the most self time, and with --match the inclusive share of frames whose name contains TEXT.
"""
import collections
import json
import sys

IDLE = ("WaitHandle", "LowLevelLifoSemaphore", "LowLevelMonitor", "Monitor.Wait", "Thread.Sleep", "WaitOneNative",
        "UNMANAGED_CODE_TIME", "SocketAsyncEngine.EventLoop", "Interop+Sys.WaitForSocketEvents", "ManualResetEventSlim.Wait",
        "SemaphoreSlim.Wait(", "Thread.Join", "PortableThreadPool+GateThread", "WaitForSignal", "Interop+Sys.Read(",
        "Interop+Sys.Poll", "Task.SpinThenBlockingWait", "TimerQueue.TimerThread")


def main():
    path = sys.argv[1]
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 25
    callers_of = sys.argv[sys.argv.index("--callers") + 1] if "--callers" in sys.argv else None
    match = [a for a in sys.argv[sys.argv.index("--match") + 1:] if not a.startswith("--")] if "--match" in sys.argv else []
    callers = collections.Counter()
    data = json.load(open(path))
    names = [f["name"] for f in data["shared"]["frames"]]
    idle = [any(marker in n for marker in IDLE) for n in names]
    self_time = collections.Counter()
    inclusive = collections.Counter()
    total = 0.0
    for profile in data["profiles"]:
        stack = []
        last = None
        for event in profile["events"]:
            at = event["at"]
            # The converter ends every sampled stack in CPU_TIME (running managed code) or UNMANAGED_CODE_TIME.
            if last is not None and len(stack) > 1 and names[stack[-1]] == "CPU_TIME" and not any(idle[f] for f in stack):
                span = at - last
                total += span
                self_time[stack[-2]] += span
                for f in set(stack):
                    inclusive[f] += span
                if callers_of and callers_of in names[stack[-2]]:
                    # The nearest frame of the project or the client above it, so the path is readable.
                    path = [names[f] for f in stack[-9:-2] if "RcAspNet" in names[f] or "StackExchange" in names[f] or "Pipelines" in names[f]]
                    callers[" <- ".join(p.split("!")[-1][:70] for p in reversed(path[-3:]))] += span
            last = at
            if event["type"] == "O":
                stack.append(event["frame"])
            else:
                # Close the frame (the innermost occurrence).
                for i in range(len(stack) - 1, -1, -1):
                    if stack[i] == event["frame"]:
                        del stack[i:]
                        break
    print(f"running time {total:.0f} ms over {len(data['profiles'])} threads")
    print("self %  frame")
    for f, t in self_time.most_common(top):
        print(f"{100 * t / total:6.2f}  {names[f][:160]}")
    if callers_of:
        print(f"\nwhere {callers_of!r} runs (nearest project or client frames)")
        for path, t in callers.most_common(top):
            print(f"{100 * t / total:6.2f}  {path}")
    for text in match:
        print(f"\ninclusive % of frames matching {text!r}")
        rows = [(t, f) for f, t in inclusive.items() if text in names[f]]
        for t, f in sorted(rows, reverse=True)[:top]:
            print(f"{100 * t / total:6.2f}  {names[f][:160]}")


main()
