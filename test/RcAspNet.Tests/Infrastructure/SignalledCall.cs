using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// Runs a blocking call on a thread of its own and sends that thread a signal (SIGCONT, with a handler registered, as
/// a child process exiting sends SIGCHLD to some thread) every 20 ms until the call returns or <c>bound</c> passes.
/// </summary>
[SupportedOSPlatform("linux")]
public static partial class SignalledCall
{
    private const long GetTid = 186;
    private const long TgKill = 234;
    private const long SigCont = 18;

    /// <summary>Whether <paramref name="call"/> returned within <paramref name="bound"/>, how long it was given, and how many signals reached its thread.</summary>
    public static (bool Returned, TimeSpan Elapsed, int Signals) Run(Action call, TimeSpan bound)
    {
        using var handled = PosixSignalRegistration.Create(PosixSignal.SIGCONT, static _ => { });
        var thread = 0;
        using var done = new ManualResetEventSlim();
        var caller = new Thread(() =>
        {
            Volatile.Write(ref thread, (int)Syscall(GetTid));
            call();
            done.Set();
        })
        { IsBackground = true };
        caller.Start();
        var signals = 0;
        var watch = Stopwatch.StartNew();
        while (!done.Wait(20) && watch.Elapsed < bound)
        {
            if (Volatile.Read(ref thread) is var tid and not 0 && Syscall(TgKill, Environment.ProcessId, tid, SigCont) == 0)
            {
                signals++;
            }
        }

        return (done.IsSet, watch.Elapsed, signals);
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long pid, long tid, long signal);
}
