using System.Runtime.InteropServices;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// Holds asynchronous signals off the calling thread while it is blocked in a connect bounded by <c>SO_SNDTIMEO</c>.
/// Linux never restarts such a connect after a signal handler ran (signal(7)); .NET retries it, learns that it is
/// already under way, and then waits for the kernel to give up (about two minutes), whatever the timeout. A process
/// that starts child processes gets <c>SIGCHLD</c> on any thread whenever one exits. Signals that arrive meanwhile stay
/// pending and are delivered once the mask is restored; those a fault raises (SIGSEGV, SIGBUS, ...) are never held.
/// </summary>
internal static partial class SignalMask
{
    private const int Block = 0;
    private const int SetMask = 2;
    private const int SetBytes = 128; // sizeof(sigset_t) in glibc
    private static readonly int[] Faults = [4, 5, 6, 7, 8, 11, 31]; // SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS

    /// <summary>Blocks every signal but the faults on this thread until the returned scope is disposed; does nothing off Linux.</summary>
    public static Scope HoldSignals()
    {
        if (!OperatingSystem.IsLinux())
        {
            return default;
        }

        var set = new byte[SetBytes];
        Array.Fill(set, (byte)0xFF);
        foreach (var signal in Faults)
        {
            set[(signal - 1) / 8] &= (byte)~(1 << ((signal - 1) % 8));
        }

        var old = new byte[SetBytes];
        return PthreadSigmask(Block, set, old) == 0 ? new Scope(old) : default;
    }

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    private static partial int PthreadSigmask(int how, byte[] set, byte[]? oldSet);

    /// <summary>Restores the signal mask the thread had.</summary>
    internal readonly struct Scope(byte[]? old) : IDisposable
    {
        public void Dispose()
        {
            if (old is not null)
            {
                _ = PthreadSigmask(SetMask, old, null);
            }
        }
    }
}
