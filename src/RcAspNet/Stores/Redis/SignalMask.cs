using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// Holds asynchronous signals off the calling thread while it is blocked in the synchronous client's system calls. Linux
/// never restarts a connect bounded by <c>SO_SNDTIMEO</c> after a signal handler ran (signal(7)): .NET retries it, learns
/// that it is under way, and then waits for the kernel to give up (about two minutes). A poll or receive that .NET
/// restarts after a signal starts its whole timeout again, so signals in a row keep it waiting. A process that starts
/// child processes gets <c>SIGCHLD</c> on any thread whenever one exits. Signals that arrive meanwhile stay pending and
/// are delivered once the mask is restored; those a fault raises (SIGSEGV, SIGBUS, ...) are never held, nor are the
/// real-time ones (the runtime suspends threads for the garbage collector with SIGRTMIN, and never signals a thread
/// blocked in a system call for it).
/// </summary>
internal static partial class SignalMask
{
    private const int Block = 0;
    private const int SetMask = 2;

    /// <summary>The classic signals, 1 to 31, but SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV and SIGSYS.</summary>
    private static readonly byte[] Held = Classic();

    /// <summary>Blocks <see cref="Held"/> on this thread until the returned scope is disposed; does nothing off Linux.</summary>
    public static Scope HoldSignals()
    {
        var scope = default(Scope);
        if (OperatingSystem.IsLinux())
        {
            Span<ulong> previous = scope.Previous;
            scope.IsHeld = PthreadSigmask(Block, Held, MemoryMarshal.AsBytes(previous)) == 0;
        }

        return scope;
    }

    private static byte[] Classic()
    {
        var set = new byte[Unsafe.SizeOf<SignalSet>()];
        for (var signal = 1; signal <= 31; signal++)
        {
            if (signal is not (4 or 5 or 6 or 7 or 8 or 11 or 31))
            {
                set[(signal - 1) / 8] |= (byte)(1 << ((signal - 1) % 8));
            }
        }

        return set;
    }

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    private static partial int PthreadSigmask(int how, ReadOnlySpan<byte> set, Span<byte> previous);

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    private static partial int PthreadSigmask(int how, ReadOnlySpan<byte> set, nint previous);

    /// <summary>A glibc <c>sigset_t</c>: 1,024 bits.</summary>
    [InlineArray(16)]
    internal struct SignalSet
    {
        private ulong _bits;
    }

    /// <summary>Restores the signal mask the thread had.</summary>
    internal struct Scope : IDisposable
    {
        public SignalSet Previous;
        public bool IsHeld;

        public void Dispose()
        {
            if (IsHeld)
            {
                IsHeld = false;
                ReadOnlySpan<ulong> previous = Previous;
                _ = PthreadSigmask(SetMask, MemoryMarshal.AsBytes(previous), 0);
            }
        }
    }
}
